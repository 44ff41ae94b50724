"""What a csv/tsv shard's header names, for the message when a schema column is not among
them. Arrow says only "Column 'x' in include_columns does not exist in CSV file", which does
not show a header written `seed, 0xdeadbeaf` (numpy's test tables): its second name starts
with a blank. Read again, unhashed, only after Arrow refused the shard."""

from __future__ import annotations

import pyarrow as pa

from laas.anchors.adapters.files import open_uri
from laas.tasks.csv_dialect import CsvDialect
from laas.tasks.dialect import open_batches
from laas.tasks.transcode import as_utf8

_SHOWN = 12  # header names listed in the message


def header_names(uri: str, fmt: str, d: CsvDialect) -> list[str]:
    with open_uri(uri, compression="infer") as raw:
        f, encoding = as_utf8(raw, d.encoding)
        d = d.model_copy(update={"encoding": encoding})
        # no schema: every column, typed by Arrow from the first block (only names are read)
        return open_batches(f, fmt, pa.schema([]), d, 1 << 16).schema.names


def missing_columns(wanted: list[str], header: list[str]) -> str:
    """"x, y: the header names a, ' x' (…)", and what to change when a wanted name is there
    but for blanks around it."""
    missing = [n for n in wanted if n not in header]
    shown = ", ".join(n if n and n == n.strip() else repr(n) for n in header[:_SHOWN])
    more = f" and {len(header) - _SHOWN} more" if len(header) > _SHOWN else ""
    text = f"{', '.join(missing)}: the header names {shown}{more}"
    blanked = [h for n in missing for h in header if h != n and h.strip() == n.strip()]
    if blanked:
        return (f"{text}; {blanked[0]!r} has blanks around it: name the column so in the "
                "schema, quoted")
    other = [c for c in ";\t|," if len(header) == 1 and c in header[0]]
    if other:
        return f"{text}; it looks delimited by {other[0]!r}: check the spec's csv.delimiter"
    return f"{text}; check the spec's csv.delimiter and csv.header, and the schema's names"
