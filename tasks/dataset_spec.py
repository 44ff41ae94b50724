"""Dataset specs: a YAML file per dataset (source or parents, schema, CSV dialect, suite,
failure policy), validated by pydantic. The pipeline's configuration; the suite part is
laas.validators.spec. Pure: no GX, no Arrow."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from laas.errors import ConfigError, dotted, first_problem
from laas.tasks.attribution import Attribution, attribution_problem
from laas.tasks.csv_dialect import CsvDialect
from laas.tasks.text_layout import TextLayout
from laas.validators.spec import Spec, SuiteSpec

ColumnType = Literal["string", "int64", "float64", "bool", "timestamp"]
Format = Literal["jsonl", "json", "csv", "tsv", "parquet", "text"]  # tsv: csv delimited by tabs
TABLE_FORMATS = ("csv", "tsv")  # the formats a `csv:` dialect applies to
_FORMAT_BY_SUFFIX = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv",
                     ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet", ".pq": "parquet",
                     ".txt": "text", ".text": "text", ".md": "text", ".rst": "text"}
_COMPRESSION_SUFFIXES = (".gz", ".zst", ".bz2", ".xz")


class ColumnSpec(Spec):
    name: str = Field(min_length=1)
    type: ColumnType
    nullable: bool = True


class DatasetSpec(Spec):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,99}$")
    description: str = ""
    source: str = Field("", description="fsspec URI or glob; relative to the spec file")
    parents: tuple[str, ...] = Field(
        (), description="a derived dataset: the gated, validated shards of these datasets")
    license: str | None = Field(
        None, pattern=r"^[A-Za-z0-9][A-Za-z0-9.+-]{0,63}$",
        description="the source's license (an SPDX id such as cc-by-4.0): every shard's, "
                    "beside the values of a `license` column")
    format: Format | None = None
    csv: CsvDialect = Field(CsvDialect(), description="the dialect of csv/tsv shards")
    text: TextLayout = Field(TextLayout(), description="how text shards become rows")
    columns: tuple[ColumnSpec, ...] = Field(alias="schema", min_length=1)
    suite: SuiteSpec
    on_failure: Literal["fail_stage", "quarantine", "drop_rows"] = "fail_stage"
    max_dropped_rows: float = Field(
        0.1, ge=0, le=1, description="drop_rows: most rows dropped, as a fraction, per shard "
                                     "(more sets the shard aside) and over the dataset (more "
                                     "fails the stage)")
    versioning: Literal["mutable", "append_only"] = Field(
        "mutable", description="append_only: a run that drops or replaces a shard of the "
                               "previous passed version fails, and nothing is committed")
    reuse: bool = Field(
        True, description="false: every run processes every shard (no incremental runs)")
    contributors: Attribution | None = Field(None, description="who contributed each shard")
    spec_dir: Path | None = Field(None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _suite_named(cls, data: Any) -> Any:
        """A listed suite without a `name` is named after the dataset (a builtin names itself);
        a bare list of expectations is such a suite, as the README shows a suite."""
        suite = data.get("suite") if isinstance(data, dict) else None
        if isinstance(suite, list):
            suite = {"expectations": suite}
            data = {**data, "suite": suite}
        if isinstance(suite, dict) and "builtin" not in suite and "name" not in suite \
                and isinstance(data.get("name"), str):
            data = {**data, "suite": {**suite, "name": data["name"]}}
        return data

    @field_validator("suite", mode="before")
    @classmethod
    def _builtin_suite(cls, v: Any) -> Any:
        """`suite: {builtin: instruction_corpus, params: {...}}` -> the suite it builds."""
        if isinstance(v, dict) and "builtin" in v:
            from laas.validators.suites import BUILTIN

            extra = set(v) - {"builtin", "params"}
            if extra:
                raise ValueError(f"unknown key(s) {', '.join(sorted(extra))} next to builtin")
            build = BUILTIN.get(v["builtin"])
            if build is None:
                raise ValueError(f"no builtin suite {v['builtin']!r}; one of {', '.join(BUILTIN)}")
            try:
                return build(**(v.get("params") or {}))
            except TypeError as e:
                raise ValueError(f"builtin {v['builtin']}: {e}") from None
        return v

    @model_validator(mode="after")
    def _one_origin(self) -> DatasetSpec:
        from laas.anchors.adapters.files import redact

        if redact(self.source) != self.source:  # a spec is committed, shown, put in manifests
            raise ValueError(f"`source` carries credentials ({redact(self.source)}): set "
                             "LAAS_S3_KEY and LAAS_S3_SECRET, or an AWS profile, instead")
        if bool(self.source) == bool(self.parents):
            raise ValueError("give either `source` (a URI or glob) or `parents` (dataset names)")
        if self.parents and self.format not in (None, "parquet"):
            raise ValueError("a derived dataset reads its parents' Parquet shards: "
                             "leave `format` out")
        if self.csv != CsvDialect() and (self.parents or self.format not in (None,
                                                                              *TABLE_FORMATS)):
            raise ValueError("`csv:` applies to csv and tsv shards only")
        if self.text != TextLayout() and self.format not in (None, "text"):
            raise ValueError("`text:` applies to text shards only")
        if self.format == "text" and [c.type for c in self.columns] != ["string"]:
            raise ValueError("a text dataset's schema is one string column (its rows' text)")
        if problem := self.suite.column_problem([c.name for c in self.columns]):
            raise ValueError(problem)
        if self.name in self.parents:
            raise ValueError("a dataset cannot be its own parent")
        if problem := attribution_problem(self.contributors, self.kinds, bool(self.parents)):
            raise ValueError(problem)
        return self

    @property
    def kinds(self) -> dict[str, str]:
        """Each column's declared type, by name."""
        return {c.name: c.type for c in self.columns}

    @property
    def source_uri(self) -> str:
        if "://" in self.source or Path(self.source).is_absolute() or self.spec_dir is None:
            return self.source
        return str((self.spec_dir / self.source).resolve())

    def format_of(self, uri: str) -> Format:
        if self.parents:
            return "parquet"
        if self.format:
            return self.format
        name = uri.lower()
        for suffix in _COMPRESSION_SUFFIXES:
            name = name.removesuffix(suffix)
        for suffix, fmt in _FORMAT_BY_SUFFIX.items():
            if name.endswith(suffix):
                return fmt  # type: ignore[return-value]
        raise ConfigError(f"{uri}: cannot tell the format from the name; set `format:` in the spec")


def shipped_datasets_dir() -> Path:
    import laas.datasets

    return Path(laas.datasets.__file__).parent


def find_spec_file(ref: str, extra_dirs: list[Path] | None = None) -> Path:
    """A spec by path, or by dataset name in LAAS_DATASETS_DIR, ./datasets or the shipped ones."""
    path = Path(ref)
    if path.is_file():
        return path
    if path.suffix in (".yaml", ".yml"):
        raise ConfigError(f"dataset spec {ref} does not exist")
    # not a file: a name (even if a folder in the working directory is called the same)
    dirs = [*(extra_dirs or []), Path("datasets"), shipped_datasets_dir()]
    for d in dirs:
        for cand in (d / f"{ref}.yaml", d / ref / "spec.yaml"):
            if cand.is_file():
                return cand
    raise ConfigError(
        f"no dataset spec named {ref!r} (looked in {', '.join(str(d) for d in dirs)}): "
        "pass a path to a spec YAML or set LAAS_DATASETS_DIR"
    )


class _SpecLoader(yaml.SafeLoader):
    """YAML 1.2's booleans (true and false only) instead of YAML 1.1's: `langs: [en, no]`
    read Norwegian's code as False, so every Norwegian row failed the language check (and was
    dropped, with drop_rows); likewise on/off/yes/y/n in a value set. A boolean setting still
    takes them: pydantic reads "no" as false."""


_SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_SpecLoader.add_implicit_resolver("tag:yaml.org,2002:bool",
                                  re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                  list("tTfF"))


def load_spec(ref: str, extra_dirs: list[Path] | None = None) -> DatasetSpec:
    path = find_spec_file(ref, extra_dirs)
    try:
        raw = yaml.load(path.read_text(), Loader=_SpecLoader)  # noqa: S506 - a SafeLoader
    except OSError as e:
        raise ConfigError(f"dataset spec {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or type(e).__name__
        raise ConfigError(f"dataset spec {path}: not valid YAML{where}: {problem}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"dataset spec {path}: expected a mapping at the top level")
    try:
        return DatasetSpec.model_validate({**raw, "spec_dir": path.parent.resolve()})
    except ValidationError as e:
        loc, msg = first_problem(e)
        first = e.errors()[0]
        if first["type"] == "string_type" and not isinstance(first["input"], dict | list):
            # `name: 0xdeadbeaf`, `name: 2019`, `null_values: [null]`: YAML typed it
            msg += f" (YAML read it as {first['input']!r}: put it in quotes)"
        elif first["type"] == "extra_forbidden" and "expectations" in map(str, loc[:-2]):
            # GX's Python API takes them flat; here they go under kwargs
            msg += (f" (an expectation's arguments go under kwargs: {{type: …, kwargs: "
                    f"{{{loc[-1]}: …}}}})")
        where = f"{dotted(loc)}: " if loc else ""  # a rule over the whole spec has no place
        raise ConfigError(
            f"dataset spec {path}: {where}{msg} ({e.error_count()} problem(s))") from None


def spec_name(ref: str, extra_dirs: list[Path] | None = None) -> str:
    """A dataset name as given, or the name inside a spec given by its file."""
    if ref.endswith((".yaml", ".yml")) or "/" in ref:
        return load_spec(ref, extra_dirs).name
    return ref
