"""Expectation suites as a spec states them (the `suite:` of a dataset spec), and the duplicate
key scheme they commit to. Pure: no GX, no Arrow."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from laas.anchors.core.canonical import hash_record

# How a row's normalized text becomes its duplicate key; defined in laas.validators.text.
TextKeyScheme = Literal["laas-textkey-v1", "laas-textkey-v2"]
TEXT_KEY_V1: TextKeyScheme = "laas-textkey-v1"
TEXT_KEY_SCHEME: TextKeyScheme = "laas-textkey-v2"
TEXT_HASH_COLUMN = "_laas_text_hash"  # the derived column of duplicate keys


class Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class ExpectationSpec(Spec):
    """One Great Expectations expectation by its snake_case type, e.g.
    expect_column_values_to_be_in_set, with its kwargs. `error` fails the shard; `warn` is
    recorded only."""

    type: str = Field(pattern=r"^expect_[a-z0-9_]+$")
    kwargs: dict[str, Any] = {}
    severity: Literal["error", "warn"] = "error"


# The kwargs of GX's expectations that name a column, or a list of them.
_COLUMN_ARGS = ("column", "column_A", "column_B")
_COLUMN_LIST_ARGS = ("column_list", "column_set")

# Expectations that run a regex without saying so in their type or kwargs.
_REGEX_TYPES = frozenset({"expect_column_values_to_be_free_of_pii",
                          "expect_column_values_to_be_clean_text"})


class SuiteSpec(Spec):
    name: str = Field(min_length=1)
    expectations: tuple[ExpectationSpec, ...] = Field(min_length=1)
    text_hash_of: tuple[str, ...] = Field(
        (), description="columns whose normalized text keys duplicate checks "
                        "(the derived column _laas_text_hash)")
    text_key_scheme: TextKeyScheme = Field(
        TEXT_KEY_SCHEME, description="how the normalized text of a row becomes its key in "
                                     "_laas_text_hash (laas.validators.text)")
    max_dataset_duplicate_rate: float | None = Field(
        None, ge=0, le=1, description="most duplicate rows across all accepted shards")
    regex_dialect: Literal["re2"] = Field(
        "re2", description="how every regex of the suite is read: RE2 (ASCII \\w \\d \\s unless "
                           "the pattern says otherwise), whatever text a batch holds")

    @property
    def uses_regex(self) -> bool:
        return any("regex" in e.type or {"regex", "regex_list"} & set(e.kwargs)
                   or e.type in _REGEX_TYPES for e in self.expectations)

    def column_problem(self, schema: Sequence[str]) -> str | None:
        """What in the suite names a column that no shard of this schema can hold, or leaves
        out one every shard holds from an exact column set: each such expectation would fail
        every shard, after all the reading, with only "0 unexpected" to say why."""
        have = [*schema, *([TEXT_HASH_COLUMN] if self.text_hash_of else [])]
        unknown = [c for c in self.text_hash_of if c not in schema]
        if unknown:
            return (f"suite text_hash_of names {', '.join(unknown)}, not a column of the schema "
                    f"({', '.join(schema)})")
        for e in self.expectations:
            named = [e.kwargs[k] for k in _COLUMN_ARGS if isinstance(e.kwargs.get(k), str)]
            named += [c for k in _COLUMN_LIST_ARGS if isinstance(e.kwargs.get(k), list | tuple)
                      for c in e.kwargs[k]]
            if unknown := [c for c in named if c not in have]:
                return (f"suite: {e.type} names {', '.join(map(str, unknown))}, not a column of "
                        f"the schema ({', '.join(schema)}); fix the name or add the column")
            if e.type == "expect_table_columns_to_match_set" and \
                    e.kwargs.get("exact_match", True) is not False and \
                    (left := [c for c in schema if c not in named]):
                return (f"suite: {e.type} leaves out {', '.join(left)}, which every shard holds "
                        "(the schema's columns): add them to its column set (for "
                        "tabular_features, params.columns) or set exact_match: false")
        return None

    @model_serializer(mode="wrap")
    def _dialect_where_it_matters(self, handler: SerializerFunctionWrapHandler) -> Any:
        """The dialect is committed (it is in the canonical JSON, so in suite_hash) for a suite
        that runs a regex; a suite without one serializes, and hashes, as before the field."""
        data = handler(self)
        if isinstance(data, dict) and not self.uses_regex:
            data.pop("regex_dialect", None)
        if isinstance(data, dict) and not self.text_hash_of:  # likewise the key scheme
            data.pop("text_key_scheme", None)
        return data

    @property
    def suite_hash(self) -> str:
        """keccak256 of the suite's canonical JSON: names exactly what was checked."""
        return hash_record(self)
