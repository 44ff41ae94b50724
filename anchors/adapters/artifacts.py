"""The artifact store: manifests (content-addressed JSON) and normalized shards, on any fsspec
URI (a local folder by default). Layout:
    ROOT/DATASET/RUN/STAGE/manifest-<keccak256>.json
    ROOT/DATASET/RUN/STAGE/attest-<keccak256>.json   the committer's signature over that hash
    ROOT/DATASET/RUN/STAGE/sent-<tx hash>.json   transactions sent for it (until confirmed)
    ROOT/DATASET/RUN/normalized/<shard key>.parquet
"""

from __future__ import annotations

import contextlib
import json
import time

from pydantic import ValidationError

from laas.anchors.adapters.attest import Attestation
from laas.anchors.adapters.files import join, names_in, open_uri, redact, url_to_fs
from laas.anchors.core.canonical import gc_paused, hash_chunks, keccak256, to_hex
from laas.anchors.core.models import STAGES, StageManifest, name_problem
from laas.anchors.core.parked_read import parked_manifest
from laas.errors import ConfigError, HashMismatch, LaasError, first_problem


def manifest_name(manifest_hash: str) -> str:
    """The file name a manifest is stored under: its own keccak256."""
    return f"manifest-{manifest_hash[2:]}.json"


def named_hash(uri: str) -> str:
    """The keccak256 a manifest's file name claims (what its bytes must hash to)."""
    return "0x" + uri.rsplit("manifest-", 1)[1].removesuffix(".json")


class ArtifactStore:
    def __init__(self, root: str):
        self.root = root.rstrip("/")

    def uri(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def stage_dir(self, dataset: str, run: str, stage: str) -> str:
        for kind, name in (("dataset", dataset), ("run", run)):
            if problem := name_problem(kind, name):  # never a path outside the store
                raise ConfigError(problem)
        return self.uri(dataset, run, stage)

    def _dir_of(self, manifest: StageManifest) -> str:
        return self.stage_dir(manifest.dataset, manifest.run, manifest.stage)

    def write_manifest(self, manifest: StageManifest) -> str:
        """Written in chunks while hashed (StageManifest.stream), never held whole, under a
        temporary name renamed to the hash once known (as write_replacing does)."""
        import secrets

        folder = self._dir_of(manifest)
        fs, path = url_to_fs(folder)
        fs.makedirs(path, exist_ok=True)
        tmp = f"{path}/manifest.{secrets.token_hex(8)}.tmp"
        try:
            with fs.open(tmp, "wb") as f:
                name = manifest_name(manifest.stream(f.write))
            fs.mv(tmp, f"{path}/{name}")
        except BaseException:
            # never written, or the store went away: the first error is the one to report
            with contextlib.suppress(OSError):
                fs.rm(tmp)
            raise
        return f"{folder}/{name}"

    def holds(self, manifest: StageManifest) -> str | None:
        """The URI of the manifest's stored copy if its bytes still hash to the manifest's
        hash (writing it again would write the same bytes), else None. Read and hashed: a
        few hundred ms for a big manifest that takes seconds to dump. A stage folder without
        any manifest holds none: its hash is not computed to learn that (a dump of its own)."""
        if not self.find_manifests(manifest.dataset, manifest.run, manifest.stage):
            return None
        uri = f"{self._dir_of(manifest)}/{manifest_name(manifest.manifest_hash)}"
        try:
            with open_uri(uri) as f:
                digest = hash_chunks(iter(lambda: f.read(1 << 22), b""))
        except (OSError, ValueError):  # gone, or not a regular file: not held
            return None
        return uri if digest == manifest.manifest_hash else None

    def check_links(self, dataset: str, run: str) -> None:
        """Refuse a run folder of a local store reached through a symbolic link: anyone with
        write access to the store could point it at files outside it (the committer key)."""
        import os

        fs, root = url_to_fs(self.root)
        if fs.protocol not in ("file", ("file", "local")):
            return  # object stores have no links
        for here in [f"{root}/{dataset}", f"{root}/{dataset}/{run}",
                     *(f"{root}/{dataset}/{run}/{stage}" for stage in STAGES)]:
            if os.path.islink(here):
                raise ConfigError(f"{here} in the artifact store is a symbolic link; laas does "
                                  "not follow links there: remove it and rerun")

    def find_manifests(self, dataset: str, run: str, stage: str) -> list[str]:
        """The manifests found for the stage (written by earlier attempts, or by anyone with
        write access to the store: the caller decides which, if any, to trust)."""
        return [self.uri(dataset, run, stage, name)
                for name in names_in(self.stage_dir(dataset, run, stage), "manifest-*.json")]

    def runs(self, dataset: str) -> list[str]:
        """Run folders of a dataset in the store (untrusted names: checked before use)."""
        return [n for n in names_in(self.uri(dataset), "*") if name_problem("run", n) is None]

    def write_attestation(self, manifest: StageManifest, att: Attestation) -> None:
        fs, path = url_to_fs(f"{self._dir_of(manifest)}/attest-{manifest.manifest_hash[2:]}.json")
        write_replacing(fs, path, att.model_dump_json().encode())

    def attestation(self, manifest: StageManifest, manifest_hash: str | None = None
                    ) -> Attestation | None:
        """The stored attestation of a manifest, if any (its signer is recovered, not read).
        `manifest_hash`: its hash when already proven (the keccak256 of the bytes read, held
        to the chain's), so a big manifest is not dumped again to learn it."""
        known = manifest_hash or manifest.manifest_hash
        uri = f"{self._dir_of(manifest)}/attest-{known[2:]}.json"
        try:
            with open_uri(uri) as f:
                return Attestation.model_validate_json(f.read())
        except (OSError, ValueError):  # absent or garbage: not attested
            return None

    def attested_by(self, manifest: StageManifest, manifest_hash: str | None = None
                    ) -> str | None:
        """Who signed the stored attestation of exactly this manifest (recovered), or None:
        none, garbage, or a signature over another manifest. `manifest_hash` as above."""
        known = manifest_hash or manifest.manifest_hash
        att = self.attestation(manifest, known)
        return att.signer_for(known) if att is not None else None

    def manifests(self, dataset: str | None = None, run: str | None = None) -> list[str]:
        """Every manifest in the store (or of one dataset, or one run), as URIs."""
        fs, root = url_to_fs(self.root)
        fs.invalidate_cache(root)
        pattern = f"{root}/{dataset or '*'}/{run or '*'}/*/manifest-*.json"
        return [self.uri(*p[len(root) + 1:].split("/")) for p in sorted(fs.glob(pattern))]

    def record_sent(self, manifest: StageManifest, tx_hash: str, raw: bytes | None) -> None:
        """Note a transaction sent for the manifest before its receipt is awaited. The signed
        raw transaction is public once broadcast; keeping it lets a resume rebroadcast it."""
        fs, path = url_to_fs(f"{self._dir_of(manifest)}/sent-{tx_hash}.json")
        write_replacing(fs, path, json.dumps(
            {"tx_hash": tx_hash, "raw": raw.hex() if raw else None,
             "manifest_hash": manifest.manifest_hash, "sent_at": time.time()}).encode())

    def sent(self, manifest: StageManifest) -> list[tuple[str, bytes | None]]:
        """Transactions an earlier attempt sent for this manifest, oldest first (a fee bump
        is a newer version of the one before it)."""
        fs, path = url_to_fs(self._dir_of(manifest))
        fs.invalidate_cache(path)
        recs = []
        for p in fs.glob(f"{path}/sent-*.json"):
            try:  # notes are in the untrusted store: a malformed one is no note at all
                with open_uri(join(fs, p), "r") as f:  # a regular file, never a pipe
                    rec = json.load(f)
                if rec["manifest_hash"] == manifest.manifest_hash:
                    recs.append((float(rec.get("sent_at", 0)), str(rec["tx_hash"]),
                                 bytes.fromhex(rec["raw"]) if rec["raw"] else None))
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue
        return [(tx, raw) for _, tx, raw in sorted(recs, key=lambda r: r[0])]

    def clear_sent(self, manifest: StageManifest) -> None:
        fs, path = url_to_fs(self._dir_of(manifest))
        for p in fs.glob(f"{path}/sent-*.json"):
            fs.rm(p)


def write_replacing(fs: object, path: str, data: bytes) -> None:
    """Write to a fresh, unpredictable temporary name, then rename over `path`: a reader never
    sees half a file, and a symbolic link someone planted at `path` is replaced, not followed
    (renaming over a link replaces the link)."""
    import secrets

    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)  # type: ignore[attr-defined]
    tmp = f"{path}.{secrets.token_hex(8)}.tmp"
    with fs.open(tmp, "wb") as f:  # type: ignore[attr-defined]
        f.write(data)
    fs.mv(tmp, path)  # type: ignore[attr-defined]


def read_manifest(uri: str, expected_hash: str | None = None, parked: bool = False
                  ) -> StageManifest:
    """Load a manifest; with expected_hash (from the chain) refuse one whose bytes changed.
    parked: its shards held as columns (StageManifest.park), read into them directly where
    the bytes allow (core.parked_read)."""
    try:
        with open_uri(uri) as f:
            data = f.read()
    except (OSError, ValueError) as e:
        raise LaasError(f"manifest {redact(uri)} is not readable: {e}") from None
    if expected_hash is not None and to_hex(keccak256(data)) != expected_hash:
        raise HashMismatch(
            f"manifest {redact(uri)} does not hash to the {expected_hash[:18]}… committed on "
            "chain: it was altered after the commit"
        )
    try:
        with gc_paused():  # millions of dicts for a big report, none in a cycle
            if parked and (m := parked_manifest(data)) is not None:
                return m
            m = StageManifest.model_validate_json(data)
            if parked:
                m.park()
            return m
    except ValidationError as e:
        _, msg = first_problem(e)
        raise LaasError(f"manifest {redact(uri)} is not a laas manifest: {msg}") from None
