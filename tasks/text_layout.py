"""How the bytes of a text shard (`format: text`: .txt, .md, .rst...) become rows: the
spec's `text:` section. Pure: no Arrow. The spec, and so this, is committed in the validated
report's pipeline hash."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from laas.tasks.csv_dialect import known_codec
from laas.validators.spec import Spec


class TextLayout(Spec):
    unit: Literal["document", "paragraph", "line"] = Field(
        "document", description="a row per file (read whole), per paragraph (lines between "
                                "blank lines) or per line; blank ones are no rows")
    encoding: str = "utf-8"

    @field_validator("encoding")
    @classmethod
    def _codec(cls, v: str) -> str:
        return known_codec(v)
