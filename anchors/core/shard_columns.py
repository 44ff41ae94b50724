"""A stored manifest's shard entries held as columns instead of one pydantic object each.

A run holds every stage's manifest until it commits at its end, and an incremental run holds
its previous run's three as well: at 100,000 shards each manifest's entries were ~1 KB of
Python objects apiece (the object, its 20-key dict, its ints), most of the flow process's
peak. Once a manifest is stored (StageManifest.park), its entries live here: one value per
field and shard (8 bytes: the strings stay shared with the run's other entries of the shard),
nothing for a field no shard sets, the ints in machine arrays. Entries are made again as
they are read (~1 us each), equal to the ones parked; nothing changes in what a manifest
dumps or hashes."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import repeat
from operator import itemgetter
from typing import Any, overload

from laas.anchors.core.entries import ShardEntry, _leaf

FIELDS = tuple(ShardEntry.model_fields)
_row = itemgetter(*FIELDS)
_SET = len(FIELDS)  # the fields-set column comes after the fields'


class _Same:
    """A column whose every value is this one object (most fields of most manifests: None)."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


def _column(values: tuple) -> Any:
    # the checks run in C (set, map): as generators they were half of parking a manifest
    first = values[0]
    if values[-1] is first and len(set(map(id, values))) == 1:
        return _Same(first)
    if set(map(type, values)) == {int}:  # byte sizes and row counts: 8 bytes, no object
        try:
            return array("q", values)
        except OverflowError:  # not in 64 bits: kept as they are
            return values
    return values


def remade(cls: type[Any], values: dict[str, Any], fields_set: set[str]) -> Any:
    """A record made again from the values of one that was validated, as pydantic would hold
    it, without validating them again (~1 us, not ~10)."""
    e = object.__new__(cls)
    object.__setattr__(e, "__dict__", values)
    object.__setattr__(e, "__pydantic_fields_set__", fields_set)
    object.__setattr__(e, "__pydantic_extra__", None)
    object.__setattr__(e, "__pydantic_private__", None)
    return e


def _entry(row: tuple) -> ShardEntry:
    """The entry of a row of field values (and its fields set), as pydantic would hold it."""
    return remade(ShardEntry, dict(zip(FIELDS, row, strict=False)), row[_SET])


def _every(indices: Sequence[int], n: int) -> bool:
    """Whether `indices` are 0..n-1 in order (a second run takes nearly every shard)."""
    return len(indices) == n and (not n or indices[-1] == n - 1) and \
        list(indices) == list(range(n))


class Parked(Sequence[Any]):
    """An immutable sequence held compactly: equal to, and pickled as, the tuple of its items
    (made again as they are read)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Parked | tuple | list):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other,
                                                                           strict=True))
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __reduce__(self) -> tuple:
        return type(self), (tuple(self),)


class ShardColumns(Parked):
    """Shard entries, one column per field."""

    __slots__ = ("_n", "_cols")

    def __init__(self, entries: Iterable[ShardEntry]):
        rows = [(*_row(e.__dict__), e.__pydantic_fields_set__) for e in entries]
        self._n = len(rows)
        self._cols = [_column(c) for c in zip(*rows, strict=True)] if rows else []

    @classmethod
    def of_columns(cls, n: int, columns: list[Sequence[Any]]) -> ShardColumns:
        """n shards given as their columns (FIELDS, then each one's fields set), values as
        validated entries hold them."""
        out = object.__new__(cls)
        out._n = n
        out._cols = [_column(tuple(c)) for c in columns] if n else []
        return out

    def __len__(self) -> int:
        return self._n

    def _full(self) -> list[Any]:
        return [repeat(c.value, self._n) if type(c) is _Same else c for c in self._cols]

    def __iter__(self) -> Iterator[ShardEntry]:
        return map(_entry, zip(*self._full(), strict=True))

    @overload
    def __getitem__(self, i: int) -> ShardEntry: ...

    @overload
    def __getitem__(self, i: slice) -> list[ShardEntry]: ...

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            start, stop, step = i.indices(self._n)
            if step != 1:
                return list(self)[i]
            return [_entry(r) for r in zip(*(c[start:stop] if type(c) is not _Same else
                                              repeat(c.value, max(0, stop - start))
                                              for c in self._cols), strict=True)]
        if not -self._n <= i < self._n:
            raise IndexError("shard index out of range")
        i %= self._n
        return _entry(tuple(c.value if type(c) is _Same else c[i] for c in self._cols))

    def at(self, indices: Sequence[int]) -> list[ShardEntry]:
        """The entries at these positions, made column by column (an entry made alone reads
        its twenty-odd columns in a Python loop: ~4x slower)."""
        if _every(indices, self._n):  # all of them, in order: each column read straight
            return list(self)
        get = [repeat(c.value, len(indices)) if type(c) is _Same else map(c.__getitem__, indices)
               for c in self._cols]
        return list(map(_entry, zip(*get, strict=True)))

    def take(self, indices: Sequence[int]) -> ShardColumns:
        """The entries at these positions, as columns of their own: none made (a second
        run's plan picks 99% of the previous run's shards and keeps them parked)."""
        out = object.__new__(ShardColumns)
        out._n = len(indices)
        if _every(indices, self._n):  # all of them, in order: the same (immutable) columns
            out._cols = list(self._cols)
            return out
        out._cols = [c if type(c) is _Same else _column(tuple(map(c.__getitem__, indices)))
                     for c in self._cols] if indices else []
        return out

    def values(self) -> Iterator[tuple]:
        """Each entry's field values, in FIELDS order, as a tuple (entries compare equal when
        these do): without making the entries."""
        return zip(*self._full()[:_SET], strict=True)

    def column(self, field: str) -> Sequence[Any]:
        """Every shard's value of one field, in order, without making the entries."""
        c = self._cols[FIELDS.index(field)] if self._n else ()
        return tuple(repeat(c.value, self._n)) if type(c) is _Same else c

    def __repr__(self) -> str:
        return f"ShardColumns({self._n} shards)"


def column(shards: Sequence[ShardEntry], field: str) -> Sequence[Any]:
    """Every shard's value of `field`, in order: a parked manifest's column as it is, else
    read off the entries."""
    if isinstance(shards, ShardColumns):
        return shards.column(field)
    return [getattr(s, field) for s in shards]


def picked(shards: Sequence[ShardEntry], keep: Callable[[Any], bool],
           field: str = "key") -> list[ShardEntry]:
    """The shards whose `field` `keep` holds for. A parked manifest's are picked by that column
    and only those made (none, asked for the shards set aside of a stage that set none aside):
    making every entry again on each call was 40% of a second run's time."""
    if not isinstance(shards, ShardColumns):
        return [s for s in shards if keep(getattr(s, field))]
    at = [i for i, v in enumerate(shards.column(field)) if keep(v)]
    return list(shards) if len(at) == len(shards) else shards.at(at)


def derived(shards: Sequence[ShardEntry]) -> list[ShardEntry]:
    """The shards this stage made from a parent and changed (drop_rows left rows out): picked
    by their parent_hash column, so a parked manifest makes only those."""
    return picked(shards, lambda parent: parent is not None, "parent_hash")


def values(shards: Sequence[ShardEntry]) -> Iterator[tuple]:
    """Each shard's field values as a tuple (ShardColumns.values), parked or not."""
    if isinstance(shards, ShardColumns):
        return shards.values()
    return (_row(e.__dict__) for e in shards)


def leaves(shards: Sequence[ShardEntry]) -> list[str | None]:
    """Each shard's `leaf` (None: not accepted), from its columns: no entry made."""
    if not isinstance(shards, ShardColumns):
        return [s.leaf for s in shards]
    cols = [column(shards, f) for f in ("status", "key", "content_hash", "byte_size", "rows",
                                        "contributor")]
    return [_leaf(*row[1:]) if row[0] == "ok" and row[2] is not None else None
            for row in zip(*cols, strict=True)]
