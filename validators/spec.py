"""Expectation suites as a spec states them (the `suite:` of a dataset spec), and the duplicate
key scheme they commit to. Pure: no GX, no Arrow."""

from __future__ import annotations

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
