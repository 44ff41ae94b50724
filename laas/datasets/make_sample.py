"""Generates the shipped instruction-tuning sample (deterministic; rerun to reproduce the
committed files): `python -m laas.datasets.make_sample`. Tests reuse `rows()` and `write_jsonl`
to build corpora of their own."""

from __future__ import annotations

import gzip
import io
import json
import random
from pathlib import Path

LICENSES = ["cc-by-4.0", "cc0-1.0", "mit", "apache-2.0"]
LANGS = ["en", "de", "fr", "es"]
SOURCES = ["forum-qa", "docs-rewrite", "synthetic-v2", "textbook-ex"]
_TOPICS = ["binary search", "photosynthesis", "the French revolution", "compound interest",
           "TCP handshakes", "prime numbers", "sourdough bread", "plate tectonics",
           "gradient descent", "the water cycle", "public-key cryptography", "haiku"]
_ASKS = ["Explain {t} to a twelve-year-old.", "Write three quiz questions about {t}.",
         "Summarize the key ideas of {t} in two sentences.", "What is a common misconception "
         "about {t}?", "Give a step-by-step example of {t}."]


def rows(shard: int, n: int, seed: int = 7) -> list[dict]:
    rnd = random.Random(seed * 100_003 + shard)
    out = []
    for i in range(n):
        topic = rnd.choice(_TOPICS)
        prompt = rnd.choice(_ASKS).format(t=topic) + f" (#{shard}-{i})"
        words = rnd.randint(12, 60)
        response = " ".join(rnd.choice(topic.split() + ["the", "is", "because", "which",
                                                         "so", "a", "each", "step"])
                            for _ in range(words)).capitalize() + "."
        out.append({"prompt": prompt, "response": response, "source": rnd.choice(SOURCES),
                    "license": rnd.choice(LICENSES), "lang": rnd.choice(LANGS)})
    return out


def with_defects(rs: list[dict]) -> list[dict]:
    """Realistic defects: empty responses, exact duplicates, a disallowed license."""
    rs = [dict(r) for r in rs]
    for i in (3, 41, 77):
        rs[i]["response"] = ""
    rs.extend(dict(rs[i]) for i in (10, 11, 12, 13))
    for i in (20, 150):
        rs[i]["license"] = "proprietary-scraped"
    return rs


def write_jsonl(path: Path, rs: list[dict]) -> None:
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rs).encode()
    if path.suffix == ".gz":
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:  # mtime=0: reproducible
            gz.write(data)
        data = buf.getvalue()
    path.write_bytes(data)


def main() -> None:
    out = Path(__file__).parent / "instruct-sample"
    out.mkdir(exist_ok=True)
    for shard in range(8):
        rs = rows(shard, 250)
        if shard == 5:
            rs = with_defects(rs)
        name = f"part-{shard:05d}.jsonl" + (".gz" if shard % 2 else "")
        write_jsonl(out / name, rs)
    print(f"wrote 8 shards to {out}")


if __name__ == "__main__":
    main()
