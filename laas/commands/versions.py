"""`laas versions`, `laas diff` and `laas verify DATASET --against OLD`: a dataset's versions
(its runs' validated stages) as the chain proves them."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from laas.commands.common import (
    JsonOpt,
    _dataset_name,
    _name,
    _short,
    app,
    out,
    said,
)


@app.command()
def versions(
    dataset: Annotated[str, typer.Argument(help="dataset name or path to its spec YAML")],
    as_json: JsonOpt = False,
) -> None:
    """The dataset's passed versions on chain, oldest first."""
    from laas.api import dataset_versions

    found = dataset_versions(_dataset_name(dataset))
    if as_json:
        print(json.dumps([{"run": run, **cp.model_dump(mode="json")} for run, cp in found],
                         indent=2))
        return
    for run, cp in found:
        out.print(f"{run:<32} block {cp.block_number:<8} {cp.shard_count:>7} shards  root "
                  f"{cp.shards_root}  checkpoint {cp.checkpoint_id}")
    if not found:
        out.print(f"no passed version of {dataset} on chain")


@app.command()
def diff(
    dataset: Annotated[str, typer.Argument(help="dataset name or path to its spec YAML")],
    old: Annotated[str | None, typer.Argument(help="run (default: the passed one before NEW)")
                   ] = None,
    new: Annotated[str | None, typer.Argument(help="run (default: the latest passed)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Shards added, removed and changed between two versions, with their hashes and the
    rows validation kept and dropped, from validated manifests checked against the chain."""
    from laas.api import diff_versions

    d = diff_versions(_dataset_name(dataset), _name("OLD", old), _name("NEW", new))
    if as_json:
        print(json.dumps(d.model_dump(mode="json") | {"append_only": d.append_only}, indent=2))
        return
    out.print(f"{d.dataset}: run {d.old.run} -> run {d.new.run}")
    _header(d)
    for sign, changes in (("+", d.added), ("-", d.removed), ("~", d.changed)):
        for c in changes:
            out.print(f"  {sign} {c.key}  {_hashes(c)}  {_rows(c)}")
            if c.reason:
                out.print(f"      set aside: {c.reason}")
    out.print(f"{len(d.added)} added, {len(d.removed)} removed, {len(d.changed)} changed, "
              f"{d.unchanged} unchanged; append-only: "
              f"{'yes' if d.append_only else 'no (' + str(d.append_problem) + ')'}")


def prove_against(dataset: str, against: str, new: str | None, as_json: bool) -> None:
    """`laas verify DATASET --against OLD [--run NEW]`: exit 0 when NEW contains every shard
    of OLD with the same leaf, 1 (naming the shard) when it does not."""
    from laas.api import diff_versions

    d = diff_versions(_dataset_name(dataset), _name("--against", against), _name("--run", new))
    if as_json:
        print(json.dumps(d.model_dump(mode="json") | {"append_only": d.append_only}, indent=2))
    elif d.append_only:
        out.print(said("PROVEN", "green"), f"{d.dataset}: run {d.new.run} contains every "
                  f"shard of run {d.old.run} ({d.old.shards} shard(s), same leaves); "
                  f"{len(d.added)} added")
        _header(d)
    else:
        out.print(said("NOT APPEND-ONLY", "red"), f"{d.dataset}: {d.append_problem}")
    raise typer.Exit(0 if d.append_only else 1)


def _header(d: Any) -> None:
    for side, v in (("old", d.old), ("new", d.new)):
        claim = f"  appends to {_short(v.appends_to, 16)}" if v.appends_to else ""
        out.print(f"  {side} run {v.run}: {v.shards} shard(s), root {v.shards_root}, manifest "
                  f"{_short(v.manifest_hash, 16)}, checkpoint {_short(v.checkpoint_id, 16)}, "
                  f"block {v.block_number}{'' if v.passed else ', NOT passed'}{claim}")


def _hashes(c: Any) -> str:
    if c.old and c.new:
        return f"content {c.old.content_hash} -> {c.new.content_hash}"
    return f"content {(c.new or c.old).content_hash}"


def _rows(c: Any) -> str:
    """Rows kept (and dropped by validation, per expectation) on each side."""
    def one(v: Any) -> str:
        if v.rows_in is None:
            return f"{v.rows} rows"
        drops = ", ".join(f"{k} {n}" for k, n in (v.dropped or {}).items())
        return f"{v.rows} of {v.rows_in} rows kept (dropped: {drops or '-'})"

    return " -> ".join(one(v) for v in (c.old, c.new) if v is not None)
