"""A Croissant card's record set against the columns its validated files hold: without this,
a card's fields were checked only against themselves, and a reader takes the rows as they
say. Both the export and `laas verify --croissant` take the columns from a file's footer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from laas.anchors.core.croissant import DATA_TYPES, Column, _about

_SPEC_TYPES = {"string": "string", "large_string": "string", "int64": "int64",
               "double": "float64", "bool": "bool"}


def held_columns(held: Sequence[tuple[str, str]]) -> tuple[Column, ...]:
    """The columns a validated file holds (`held`: name, Arrow type), in the spec's types;
    a type the spec has no word for keeps Arrow's (the card calls it text)."""
    return tuple(Column(name=name, type="timestamp" if arrow.startswith("timestamp") else
                        _SPEC_TYPES.get(arrow, arrow)) for name, arrow in held)


def fields_problem(doc: dict[str, Any], held: Sequence[tuple[str, str]]) -> str | None:
    """Why a card's record set does not describe the columns its validated files hold, if
    it does not."""
    def typed(cols: Sequence[Column]) -> list[tuple[str, str]]:
        return [(c.name, DATA_TYPES.get(c.type, "sc:Text")) for c in cols]

    said, have = typed(_about(doc).columns), typed(held_columns(held))
    if said == have:
        return None

    def shown(cols: list[tuple[str, str]]) -> str:
        return ", ".join(f"{n} ({t})" for n, t in cols) or "none"

    return (f"its recordSet's fields are {shown(said)}; the validated files hold {shown(have)} "
            "(changed after export?); export it again with `laas export croissant`")
