"""One DuckDB expression over Arrow columns, per row, on this thread's own connection: DuckDB
reads the arrays in place and computes in C++ without the GIL (the duplicate keys' MD5, the
row hashes that find repeated rows)."""

from __future__ import annotations

import threading

import pyarrow as pa

_local = threading.local()  # a DuckDB connection must not be shared between threads


def _connection() -> object:
    con = getattr(_local, "con", None)
    if con is None:
        import duckdb  # only where keys are made

        # one thread per connection: the callers spread slices of rows over their threads
        con = _local.con = duckdb.connect(config={"threads": 1})
    return con


def per_row(expression: str, **columns: pa.Array) -> pa.Array:
    """`expression` (SQL over the named columns) for each row, as one Arrow array."""
    con = _connection()
    con.register("_laas_rows", pa.table(columns))
    try:
        out = con.sql(f"SELECT {expression} AS h FROM _laas_rows").to_arrow_table()["h"]
    finally:
        con.unregister("_laas_rows")
    return out.combine_chunks()
