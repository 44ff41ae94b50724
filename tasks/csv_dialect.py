"""How the bytes of a csv/tsv shard become rows: the spec's `csv:` section. Pure: no Arrow."""

from __future__ import annotations

import codecs
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from laas.validators.spec import Spec

WHITESPACE = "whitespace"  # the delimiter that is any run of spaces and tabs


def known_codec(encoding: str) -> str:
    """The text codec's canonical name. One that is not ASCII-compatible (UTF-16, UTF-32...)
    is read through a transcoder to UTF-8 (tasks.transcode): delimiters, quotes, comments and
    line breaks are found in the bytes before Arrow decodes them."""
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}") from None
    if not getattr(info, "_is_text_encoding", True):
        raise ValueError(f"{encoding!r} is not a text encoding")
    return info.name


def ascii_compatible(codec: str) -> bool:
    return "\t\n\r \"#,;|\\".encode(codec) == b"\t\n\r \"#,;|\\"


def _one_char(v: str | None, what: str) -> str | None:
    if v is not None and (len(v) != 1 or v in "\r\n"):
        raise ValueError(f"{what} must be one character other than a line break, not {v!r}")
    return v


class CsvDialect(Spec):
    """How the bytes of a csv/tsv shard become rows. The defaults are the reader's as it always
    was (comma, or tab for tsv; a header line; double quotes), so a spec without `csv:` reads
    as before."""

    delimiter: str | None = Field(
        None, description='one character, or "whitespace" (runs of spaces and tabs); '
                          "default: comma, tab for tsv")
    header: bool = Field(True, description="false: no header line, columns in schema order")
    skip_rows: int = Field(0, ge=0, description="lines dropped from the top, before the header")
    quote: str | None = Field('"', description="null: no quoting")
    escape: str | None = Field(None, description="e.g. a backslash; null: quotes are doubled")
    null_values: tuple[str, ...] | None = Field(
        None, description="cells read as null, in string columns too; default: Arrow's")
    comment: str | None = Field(None, description="lines starting with it are skipped")
    inline_comments: bool = Field(
        False, description="the comment character also ends a line's data where it follows "
                           "it outside quotes (as pandas and DuckDB read it)")
    encoding: str = "utf-8"
    short_rows: Literal["pad", "error"] = Field(
        "pad", description="a row with fewer fields than the header: pad (its missing "
                           "trailing fields read as empty cells) or error (the shard is set "
                           "aside)")

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, v: str | None) -> str | None:
        return v if v == WHITESPACE else _one_char(v, 'delimiter (or "whitespace")')

    @field_validator("quote", "escape", "comment")
    @classmethod
    def _char(cls, v: str | None, info: Any) -> str | None:
        return _one_char(v, info.field_name)

    @field_validator("encoding")
    @classmethod
    def _codec(cls, v: str) -> str:
        return known_codec(v)

    @model_validator(mode="after")
    def _distinct(self) -> CsvDialect:
        if self.inline_comments and self.comment is None:
            raise ValueError("inline_comments needs csv.comment, the character that starts "
                             "one")
        chars = {"delimiter": self.delimiter, "quote": self.quote, "escape": self.escape,
                 "comment": self.comment}
        # "whitespace" claims both blanks: a quote or comment cannot be one of them
        given = [(k, b) for k, c in chars.items() if c is not None
                 for b in ((" ", "\t") if c == WHITESPACE else (c,))]
        for i, (k, c) in enumerate(given):
            for k2, c2 in given[i + 1:]:
                if c == c2:
                    raise ValueError(f"{k} and {k2} are both {c!r}")
        return self

    def delimiter_for(self, fmt: str) -> str:
        return self.delimiter or ("\t" if fmt == "tsv" else ",")

    @property
    def committed(self) -> dict[str, Any] | None:
        """What differs from the defaults (None if nothing): part of the validated report, so
        the checkpoint names how the rows were read from the raw bytes."""
        return self.model_dump(mode="json", exclude_defaults=True) or None
