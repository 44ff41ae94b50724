"""Canonical bytes and the EVM hash. Everything committed on chain is keccak256 of bytes
produced here, so one function decides how a record becomes bytes."""

from __future__ import annotations

import _imp
import gc
import json
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel


def _load_keccak() -> Any:
    """pycryptodome's keccak through its ctypes binding, not its cffi one: cffi parses the C
    declarations with pycparser at every start (18 ms of a 0.4 s `laas gate`). Both bind the
    same C code and hash at the same speed; pycryptodome falls back to ctypes by itself when
    cffi cannot be imported, which is what this arranges for the moment of its import (a no-op
    once pycryptodome is loaded, as in a process that signs)."""
    # Under the global import lock: no other thread imports (coincurve needs cffi) while
    # cffi is hidden; the lock is reentrant, so this import's own imports go through.
    _imp.acquire_lock()
    try:
        cffi = sys.modules.get("cffi")
        sys.modules["cffi"] = None  # type: ignore[assignment]  # import cffi -> ImportError
        try:
            from Crypto.Hash import keccak
        finally:
            if cffi is None:
                del sys.modules["cffi"]
            else:
                sys.modules["cffi"] = cffi
    finally:
        _imp.release_lock()
    return keccak


_keccak = _load_keccak()


def keccak256(data: bytes) -> bytes:
    return _keccak.new(digest_bits=256, data=data).digest()


def keccak_hasher() -> Any:
    """An incremental keccak256 (update(bytes), digest())."""
    return _keccak.new(digest_bits=256)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cycle collector off for the block: parsing or dumping a manifest of 100,000
    shards makes millions of dicts and lists, none in a cycle, and each collection the
    allocations trigger walks them all again (a 56 MB manifest parsed in 4.8 s, 1.3 s
    without). Back on after, if it was on before (blocks nest). In a run
    (full_collections_deferred) what the block made is frozen too: left in the young
    generation, the next two young collections walked it all again (2 s of CPU in an
    incremental run of 20,000 shards)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        with _deferred_lock:
            if _deferred["depth"]:
                gc.freeze()
        if was:
            gc.enable()


_deferred = {"depth": 0, "threshold": (0, 0, 0)}
_deferred_lock = threading.Lock()


@contextmanager
def full_collections_deferred() -> Iterator[None]:
    """No automatic full (oldest-generation) collection in the block; the young generations
    are collected as always. A run holds its manifests and its previous run's (millions of
    objects at 100,000 shards), and each full collection walks them all again: ten of them
    took 5.6 s of a 28 s incremental run at 20,000 shards. Cycles that outlive two young
    collections wait for the block's end, as do those gc_paused froze. Nests and overlaps
    (threads): the thresholds come back, and what was frozen is unfrozen, when the last block
    ends."""
    with _deferred_lock:
        if _deferred["depth"] == 0:
            _deferred["threshold"] = t0, t1, _ = gc.get_threshold()
            gc.set_threshold(t0, t1, 1 << 30)  # gen-1 collections before a full one
        _deferred["depth"] += 1
    try:
        yield
    finally:
        with _deferred_lock:
            _deferred["depth"] -= 1
            if _deferred["depth"] == 0:
                gc.set_threshold(*_deferred["threshold"])
                gc.unfreeze()


def canonical_json(obj: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the same record always gives the same bytes."""
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def hash_record(obj: Any) -> str:
    return to_hex(keccak256(canonical_json(obj)))


def hash_plain(obj: Any, depth: int = 2) -> str:
    """hash_record of plain JSON data, its canonical JSON fed to keccak in pieces: the items
    of lists and the values of dicts down to `depth` are encoded one at a time, so the whole
    text (hundreds of MB for a report of 100,000 shards) is never held at once."""
    with gc_paused():
        return hash_chunks(canonical_chunks(obj, depth))


def hash_chunks(chunks: Iterable[bytes]) -> str:
    """keccak256 of the concatenated chunks, never joined."""
    h = keccak_hasher()
    for chunk in chunks:
        h.update(chunk)
    return to_hex(h.digest())


def canonical_chunks(obj: Any, depth: int = 2, size: int = 1 << 20) -> Iterator[bytes]:
    """canonical_json(obj) in chunks of about `size` bytes, for hashing or writing without
    holding the whole text: the items of lists and the values of dicts down to `depth` are
    encoded one at a time, and a model (pydantic) met on the way is dumped only then."""
    buf: list[str] = []
    held = 0
    for piece in _pieces(obj, depth):
        buf.append(piece)
        held += len(piece)
        if held >= size:
            yield "".join(buf).encode()
            buf, held = [], 0
    if buf:
        yield "".join(buf).encode()


def _pieces(obj: Any, depth: int) -> Any:
    if isinstance(obj, BaseModel):  # a leaf, whatever the depth: one dump each
        yield _encoded(obj.model_dump(mode="json"))
    elif depth and isinstance(obj, dict) and all(isinstance(k, str) for k in obj):
        yield "{"
        for n, k in enumerate(sorted(obj)):
            yield ("," if n else "") + json.dumps(k, ensure_ascii=False) + ":"
            yield from _pieces(obj[k], depth - 1)
        yield "}"
    elif depth and isinstance(obj, Sequence) and not isinstance(obj, str) and (
            depth == 1 or obj and isinstance(obj[0], BaseModel)):
        # items each encoded whole (a manifest's shard entries, a report's shard results): a
        # group at a time, as plain data, in one C-encoder call (one json.dumps per entry
        # cost ~45 us of a 60 us entry at 100,000 shards)
        yield "["
        for start in range(0, len(obj), _GROUP):
            yield ("," if start else "") + _models(obj[start:start + _GROUP])
        yield "]"
    elif depth and isinstance(obj, list | tuple):
        yield "["
        for n, x in enumerate(obj):
            if n:
                yield ","
            yield from _pieces(x, depth - 1)
        yield "]"
    else:
        yield _encoded(obj)


_GROUP = 512  # models encoded per json.dumps call


def _models(group: Any) -> str:
    """Models (a list's items) as their canonical JSON joined by commas: the text of the list
    without its brackets, the bytes each one's own dump would give. A model with a `plain()`
    (its model_dump(mode="json"), made faster) gives that; any other item its dump."""
    plain = [x.plain() if hasattr(x, "plain") else x.model_dump(mode="json")
             if isinstance(x, BaseModel) else x for x in group]
    if all(hasattr(x, "plain") and getattr(x, "validation", 0) is None for x in group):
        # shard entries without results: strings, ints, None, lists and dicts of those, which
        # orjson writes byte for byte as json.dumps does (every code point, keys in code
        # point order; tests/test_canonical_fast.py), ~5x faster. No float (whose text the
        # two write differently) is among them; an int beyond 64 bits is left to json.
        import orjson

        try:
            return orjson.dumps(plain, option=orjson.OPT_SORT_KEYS)[1:-1].decode()
        except TypeError:
            pass
    return _encoded(plain)[1:-1]


def _encoded(obj: Any) -> str:
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):  # not plain JSON (a datetime, say): as pydantic dumps it
        from pydantic_core import to_jsonable_python

        return json.dumps(to_jsonable_python(obj), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False)


def to_hex(b: bytes) -> str:
    return "0x" + b.hex()


def from_hex(s: str) -> bytes:
    return bytes.fromhex(s[2:] if s.startswith("0x") else s)


def name_id(name: str) -> str:
    """bytes32 id of a dataset or run name, as committed on chain."""
    return to_hex(keccak256(name.encode()))


def _fast_keccak() -> None:
    """keccak256 through keccak_fast (the same C code, 2.5x faster per call) where it loads
    and checks out; bound here, before any module imports the name."""
    global keccak256
    from laas.anchors.core import keccak_fast

    keccak256 = keccak_fast.load() or keccak256


_fast_keccak()
