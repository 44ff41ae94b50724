"""Attribution in a dataset spec: who contributed each shard of a source (`contributors:`),
from one of a path pattern, a column or a sidecar file, and whether each shard must carry the
contributor's signature (laas.anchors.core.contribution). Pure: no Arrow, no storage; the raw
stage applies it (laas.tasks.attributed).

    contributors:
      path: '^(?P<address>0x[0-9a-fA-F]{40})/'   # a regex over the shard key
      # or column: contributor                    # every row names the same address
      # or sidecar: contributors.csv              # key,address[,signature] next to the source
      #    (or a path relative to the spec, or a URI: where only the operator writes)
      require_signatures: true                    # sidecar only: unsigned shards set aside
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from laas.validators.spec import Spec

ADDRESS_GROUP = "address"  # the named group a path pattern must have
SIDECAR_FORMATS = (".csv", ".json")


class Attribution(Spec):
    """Exactly one of `path`, `column`, `sidecar`."""

    path: str | None = Field(
        None, description="a regex over the shard key with a named group `address`")
    column: str | None = Field(
        None, description="a string column of the schema: every row of a shard names the same "
                          "address, or the shard is set aside")
    sidecar: str | None = Field(
        None, description="a .csv (header key,address[,signature]) or .json file: a bare "
                          "name is in the source's folder (and not a shard), a path is "
                          "relative to the spec, or a URI")
    require_signatures: bool = Field(
        False, description="a shard without a valid signature by its contributor (EIP-712, "
                           "laas-contribution-v1) is set aside; signatures come from the sidecar")

    @field_validator("path")
    @classmethod
    def _pattern(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            compiled = re.compile(v)
        except re.error as e:
            raise ValueError(f"not a valid regex ({e})") from None
        if ADDRESS_GROUP not in compiled.groupindex:
            raise ValueError(f"the pattern needs a named group `(?P<{ADDRESS_GROUP}>...)` for "
                             "the address")
        return v

    @field_validator("sidecar")
    @classmethod
    def _sidecar(cls, v: str | None) -> str | None:
        if v is not None and not v.endswith(SIDECAR_FORMATS):
            raise ValueError(f"{v!r}: name a .csv or .json file (in the source's folder, or a "
                             "path or URI of its own)")
        return v

    @property
    def sidecar_beside_source(self) -> bool:
        """A bare file name: the sidecar lives in the source's folder (whoever writes the
        shards writes it); a path or URI puts it where the spec says, e.g. a bucket only
        the operator writes to."""
        return self.sidecar is not None and "/" not in self.sidecar

    @model_validator(mode="after")
    def _one_origin(self) -> Attribution:
        given = [k for k in ("path", "column", "sidecar") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `path`, `column` or `sidecar` "
                             f"(given: {', '.join(given) or 'none'})")
        if self.require_signatures and self.sidecar is None:
            raise ValueError("require_signatures needs a `sidecar`: signatures are read from it")
        return self

    def pattern_address(self, key: str) -> str | None:
        """The address the path pattern finds in a shard key (None: it does not match)."""
        assert self.path is not None
        found = re.search(self.path, key)
        return found.group(ADDRESS_GROUP) if found else None


def attribution_problem(a: Attribution | None, columns: dict[str, str], derived: bool
                        ) -> str | None:
    """Why a spec's `contributors:` cannot apply to its source, if it cannot."""
    if a is None:
        return None
    if derived:
        return "`contributors:` applies to a `source`, not to a derived dataset's parents"
    if a.column is not None and columns.get(a.column) != "string":
        return (f"contributors.column {a.column!r} must be a string column of the `schema` "
                "(it is read with the rows)")
    return None
