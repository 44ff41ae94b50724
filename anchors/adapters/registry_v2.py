"""The signing client of a format-2 registry (CheckpointRegistryV2): a run's stages in one
transaction, one slot per run on chain. Its reads are the read-only client's
(adapters.registry_v2_read); this adds the key."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from laas.anchors.adapters.registry import Registry
from laas.anchors.adapters.registry_v2_read import RegistryV2Read
from laas.anchors.adapters.runcalls import ZERO, run_dir, short_uri
from laas.anchors.core.canonical import from_hex
from laas.anchors.core.models import STAGE_ORDER, Checkpoint, StageManifest, checkpoint_id
from laas.anchors.ports import OnSent
from laas.errors import AnchorError, AnchorReverted


class RegistryV2(RegistryV2Read, Registry):
    """Format 2 with a key: reads as RegistryV2Read, signs as Registry."""

    # -- writes -----------------------------------------------------------------------------

    def commit(self, manifest: StageManifest, manifest_uri: str, *,
               sent: Iterable[tuple[str, bytes | None]] = (),
               on_sent: OnSent | None = None) -> Checkpoint:
        """A run of one stage (a training record); pipeline runs use commit_run."""
        return self.commit_run([(manifest, manifest_uri)], sent=sent, on_sent=on_sent)[-1]

    def commit_run(self, stages: Sequence[tuple[StageManifest, str]], *,
                   sent: Iterable[tuple[str, bytes | None]] = (),
                   on_sent: OnSent | None = None) -> list[Checkpoint]:
        """Commit a run's stages in one transaction, or return them if the run is on chain
        with exactly these manifests. A run commits once: if it is there with other manifests
        or other stages, AnchorError says to start a new run."""
        first = _one_run(stages)
        key = self.locate(first.dataset_id, first.run_id)
        manifests = [m for m, _ in stages]
        with self.reading():
            if (existing := self._existing_run(key, manifests)) is not None:
                return existing
            call, records = self.run_call(stages)
            what = f"commit {first.dataset}/{first.run}"
            receipt = self._send_once(call, what, sent, on_sent,
                                      lambda: self._existing_run(key, manifests), "RunExists")
            if isinstance(receipt, list):
                return receipt
            events = self.contract.events.RunCommitted().process_receipt(receipt)
            self._runs.pop(key, None)
            # One transaction for the run: each checkpoint shows its share of the gas.
            return self._decode(events[:1], receipt["gasUsed"] // len(stages), records)

    def run_call(self, stages: Sequence[tuple[StageManifest, str]]) -> tuple[Any, list[tuple]]:
        """The commitRun call for a run's stages and the records it carries; refuses a parent
        that is not on chain, as the contract would."""
        first = _one_run(stages)
        key = self.locate(first.dataset_id, first.run_id)
        base = run_dir(stages[0][1])
        records = [self._record(m, short_uri(base, m, uri, i == 0), key)
                   for i, (m, uri) in enumerate(stages)]
        return self.contract.functions.commitRun(
            from_hex(first.dataset_id), from_hex(first.run_id), records), records

    def _existing_run(self, key: str, manifests: list[StageManifest]) -> list[Checkpoint] | None:
        self._runs.pop(key, None)  # a commit looks at the chain as it is now
        on_chain = {c.checkpoint_id: c for c in self._run(key)}
        if not on_chain:
            return None
        m = manifests[0]
        for m in manifests:
            cp = on_chain.get(m.checkpoint_id)
            if cp is None or cp.manifest_hash != m.manifest_hash:
                why = "without this stage" if cp is None else \
                    f"with another manifest ({cp.manifest_hash[:18]}…)"
                raise AnchorError(f"checkpoint {m.dataset}/{m.run}/{m.stage} is already on "
                                  f"chain {why}: start a new run instead of resuming this one")
        return [on_chain[m.checkpoint_id] for m in manifests]

    def _record(self, m: StageManifest, uri: str, key: str) -> tuple:
        ours = {checkpoint_id(m.dataset_id, m.run_id, s) for s in STAGE_ORDER}
        runs = []
        for p in m.parents:
            where = None if p in ours else self._key_of(p)
            if p not in ours and (where is None or not self._run(where)):
                raise AnchorReverted(f"commit {m.dataset}/{m.stage} refused: "
                                     f"UnknownCheckpoint: parent {p[:18]}… is not on chain")
            runs.append(ZERO if where is None else from_hex(where))
        return (m.stage, from_hex(m.shards_root), m.accepted_count, from_hex(m.manifest_hash),
                uri, from_hex(m.result_hash), m.passed, [from_hex(p) for p in m.parents], runs)


def _one_run(stages: Sequence[tuple[StageManifest, str]]) -> StageManifest:
    first = stages[0][0]
    if any((m.dataset_id, m.run_id) != (first.dataset_id, first.run_id) for m, _ in stages):
        raise ValueError("commit_run: every stage must be of one run")
    return first
