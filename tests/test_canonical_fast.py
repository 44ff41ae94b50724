"""Shard entries are written by orjson where it writes them byte for byte as json.dumps
(canonical._models): a manifest's bytes, so its hash, are the same whichever wrote them."""

from __future__ import annotations

import json

import orjson

from laas.anchors.core.canonical import _models, canonical_json
from laas.anchors.core.models import ShardEntry, new_manifest
from tests.test_shard_columns import _entries

_ALL = [chr(i) for i in range(0x110000) if not 0xD800 <= i < 0xE000]


def _by_json(group: list[ShardEntry]) -> str:
    return ",".join(canonical_json(e).decode() for e in group)


def test_every_code_point_is_written_as_json_dumps_writes_it() -> None:
    assert orjson.dumps(_ALL) == json.dumps(_ALL, separators=(",", ":"),
                                            ensure_ascii=False).encode()
    keys = {c: 1 for c in _ALL[::997]}  # sorted by code point either way
    assert orjson.dumps(keys, option=orjson.OPT_SORT_KEYS) == canonical_json(keys)


def test_entries_are_the_same_bytes_whoever_writes_them(monkeypatch) -> None:  # noqa: ANN001
    odd = "".join(_ALL[::4099]) + "\x00\x1f\x7f\u2028\"\\/"
    group = [e.model_copy(update={"reason": odd, "dropped": {odd: 2, "a": 1}, "byte_size": i})
             for i, e in enumerate(_entries(60))]
    calls = []
    dumps = orjson.dumps
    monkeypatch.setattr(orjson, "dumps", lambda *a, **k: calls.append(1) or dumps(*a, **k))
    assert _models(group) == _by_json(group) and calls  # written by orjson
    calls.clear()
    huge = [*group, group[0].model_copy(update={"byte_size": 1 << 64})]  # beyond 64 bits
    assert _models(huge) == _by_json(huge)
    results = [*group, group[1].model_copy(update={"validation": {"r": 1e-05, "b": 1e16}})]
    assert _models(results) == _by_json(results) and len(calls) == 1  # a float: json's
    m = new_manifest("ds", "r1", "normalized", "laas-table-v1", huge, passed=True)
    assert m.to_bytes() == canonical_json(m)
