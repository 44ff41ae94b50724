"""Draw a lineage tree (from laas.anchors.services.lineage.shard_lineage) as a picture: one box per
shard stage, arrows from source to result, derived datasets' parents to the left. Needs
matplotlib (`pip install 'laas[graph]'`); imported only by `laas lineage --graph`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from laas.errors import ConfigError


def layout(node: dict[str, Any]) -> tuple[list[tuple[str, float, float]], list[tuple[int, int]]]:
    """(label, x, y) boxes and (from, to) arrows: a run's stages left to right, the shards it
    was derived from in the columns to the left, stacked."""
    boxes: list[tuple[str, float, float]] = []
    arrows: list[tuple[int, int]] = []
    next_row = [0.0]

    def place(n: dict[str, Any], right: float) -> int:
        """Place n's stages ending at column `right`; return the index of its first box."""
        stages = n["stages"]
        left = right - len(stages) + 1
        mine = []
        parents = [place(p, left - 1) for p in n["derived_from"]]
        y = next_row[0] if not parents else sum(boxes[p + len(pp["stages"]) - 1][2] for p, pp
                                                   in zip(parents, n["derived_from"], strict=True)
                                                   ) / len(parents)
        if not parents:
            next_row[0] += 1
            source = len(boxes)
            boxes.append((f"source\n{_short(n['source_uri'])}", left - 1, y))
            parents_last = [source]
        else:
            parents_last = [p + len(pp["stages"]) - 1
                            for p, pp in zip(parents, n["derived_from"], strict=True)]
        for i, s in enumerate(stages):
            mine.append(len(boxes))
            boxes.append((f"{n['dataset']} · {s['stage']}\n{n['key']}\n"
                          f"{(s['content_hash'] or '-')[:12]}… blk {s['block_number']}",
                          left + i, y))
        arrows.extend((p, mine[0]) for p in parents_last)
        arrows.extend(zip(mine, mine[1:], strict=False))
        return mine[0]

    place(node, 0)
    return boxes, arrows


def _short(uri: str) -> str:
    return uri if len(uri) <= 36 else "…" + uri[-35:]


def draw(node: dict[str, Any], path: Path) -> None:
    if path.suffix.lower() not in (".png", ".svg"):
        raise ConfigError(f"--graph {path}: give a .png or .svg file name")
    try:
        import matplotlib
    except ImportError:
        raise ConfigError("--graph needs matplotlib: pip install 'laas[graph]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    boxes, arrows = layout(node)
    xs = [x for _, x, _ in boxes]
    ys = [y for _, _, y in boxes]
    fig, ax = plt.subplots(figsize=(3.2 * (max(xs) - min(xs) + 1), 1.6 * (max(ys) + 1)))
    for a, b in arrows:
        ax.annotate("", xy=(boxes[b][1] - 0.38, boxes[b][2]),
                    xytext=(boxes[a][1] + 0.38, boxes[a][2]),
                    arrowprops={"arrowstyle": "->", "color": "#555"})
    for label, x, y in boxes:
        ax.text(x, y, label, ha="center", va="center", fontsize=7,
                bbox={"boxstyle": "round", "fc": "#eef6ee" if "·" in label else "#eee"})
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(max(ys) + 0.6, min(ys) - 0.6)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
