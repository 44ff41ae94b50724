"""Dataset specs fail with one clear line; every module loads; the gate path stays slim."""

import importlib
import pkgutil
import subprocess
import sys

import pytest

import laas
from laas.errors import ConfigError
from laas.tasks.dataset_spec import load_spec


def test_shipped_spec_loads() -> None:
    spec = load_spec("instruct-sample")
    assert spec.name == "instruct-sample" and spec.suite.name == "instruct-basic"
    types = {e.type for e in spec.suite.expectations}
    assert {"expect_column_values_to_be_free_of_pii", "expect_column_values_to_be_unique",
            "expect_column_values_to_be_in_set"} <= types
    assert spec.suite.suite_hash.startswith("0x") and len(spec.suite.suite_hash) == 66


@pytest.mark.parametrize("body, words", [
    ("name: x\nsource: a/*\nschema: [{name: a, type: string}]\nsuite: {name: s, expectations: "
     "[{type: expect_column_values_to_not_be_null, kwargs: {column: a}}]}\ncolour: red\n",
     "colour"),
    ("name: x\nsource: a/*\nschema: [{name: a, type: text}]\nsuite: {name: s, expectations: "
     "[{type: expect_column_values_to_not_be_null, kwargs: {column: a}}]}\n", "schema.0.type"),
    ("name: Bad Name\nsource: a\nschema: [{name: a, type: string}]\n", "name"),
    ("- just\n- a list\n", "mapping"),
    ("name: [unclosed\n", "YAML"),
])
def test_bad_spec_is_one_line_naming_file_and_field(tmp_path, body: str, words: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError) as info:
        load_spec(str(path))
    msg = str(info.value)
    assert str(path) in msg and words in msg and "\n" not in msg


def test_a_listed_suite_without_a_name_takes_the_datasets(tmp_path) -> None:
    """Also a bare list of expectations, the README's first form of a suite (it was refused:
    `suite: Input should be a valid dictionary or instance of SuiteSpec`)."""
    head = "name: tables\nsource: a/*\nschema: [{name: a, type: string}]\nsuite:"
    listed = "[{type: expect_column_values_to_not_be_null, kwargs: {column: a}}]"
    suites = []
    for suite in (f"{{expectations: {listed}}}", listed, f"\n  - {listed[1:-1]}"):
        path = tmp_path / "tables.yaml"
        path.write_text(f"{head} {suite}\n")
        suites.append(load_spec(str(path)).suite)
    assert suites[0].name == "tables" and suites[0] == suites[1] == suites[2]


def test_yes_no_on_off_are_text_and_a_value_yaml_typed_is_named(tmp_path) -> None:
    """YAML 1.1 read `langs: [en, no]` as ['en', False]: every Norwegian row failed the
    language check. Specs read booleans as YAML 1.2 does (true/false only), and a boolean
    setting still takes no/yes. A header name YAML read as a number (numpy's `0xdeadbeaf`)
    says to quote it."""
    path = tmp_path / "nb.yaml"
    path.write_text("name: nb\nsource: a/*\nformat: csv\ncsv: {header: no}\n"
                    "schema: [{name: lang, type: string, nullable: no}, {name: prompt, "
                    "type: string}, {name: response, type: string}, {name: source, "
                    "type: string}, {name: license, type: string}]\n"
                    "suite: {builtin: instruction_corpus, params: {langs: [en, no]}}\n")
    spec = load_spec(str(path))
    in_set = next(e for e in spec.suite.expectations if e.type.endswith("in_set")
                  and e.kwargs["column"] == "lang")
    assert in_set.kwargs["value_set"] == ["en", "no"]
    assert spec.csv.header is False and spec.columns[0].nullable is False
    path.write_text("name: nb\nsource: a/*\nschema: [{name: 0xdeadbeaf, type: string}]\n"
                    "suite: [{type: expect_column_values_to_not_be_null}]\n")
    with pytest.raises(ConfigError, match=r"schema\.0\.name: Input should be a valid string "
                                          r"\(YAML read it as 3735928495: put it in quotes\)"):
        load_spec(str(path))


def test_an_expectation_argument_outside_kwargs_says_where_it_goes(tmp_path) -> None:
    """GX's Python API takes `column=` flat; a spec written that way was refused with only
    "Extra inputs are not permitted"."""
    path = tmp_path / "flat.yaml"
    path.write_text("name: flat\nsource: a/*\nschema: [{name: text, type: string}]\n"
                    "suite: [{type: expect_column_values_to_not_be_null, column: text}]\n")
    with pytest.raises(ConfigError, match=r"suite\.expectations\.0\.column: Extra inputs are "
                                          r"not permitted \(an expectation's arguments go "
                                          r"under kwargs: \{type: …, kwargs: \{column: …\}\}\)"):
        load_spec(str(path))


@pytest.mark.parametrize("suite, words", [
    ("[{type: expect_column_values_to_not_be_null, kwargs: {column: verison}}]",
     "expect_column_values_to_not_be_null names verison, not a column of the schema "
     "(version, codename, series); fix the name or add the column"),
    ("{builtin: tabular_features, params: {columns: [version, codename]}}",
     "expect_table_columns_to_match_set leaves out series, which every shard holds"),
    ("{builtin: tabular_features, params: {columns: [version, codename, series], "
     "key_columns: [version, name]}}", "expect_compound_columns_to_be_unique names name,"),
    ("{name: s, text_hash_of: [text], expectations: "
     "[{type: expect_column_values_to_be_unique, kwargs: {column: _laas_text_hash}}]}",
     "text_hash_of names text, not a column of the schema"),
])
def test_a_suite_naming_a_column_no_shard_holds_is_refused_before_any_work(
        tmp_path, suite: str, words: str) -> None:
    """Such a suite failed every shard after all the reading, each with only
    "expect_table_columns_to_match_set() 0 unexpected" for a reason."""
    path = tmp_path / "distros.yaml"
    head = ("name: distros\nsource: a/*\nformat: csv\nschema: [{name: version, type: string}, "
            "{name: codename, type: string}, {name: series, type: string}]\nsuite: ")
    path.write_text(head + suite + "\n")
    with pytest.raises(ConfigError) as info:
        load_spec(str(path))
    assert str(info.value).startswith(f"dataset spec {path}: suite") and words in str(info.value)
    path.write_text(head + "{builtin: tabular_features, params: {columns: [series, version, "
                    "codename], key_columns: [version, codename]}}\n")
    assert load_spec(str(path)).suite.column_problem(["version", "codename", "series"]) is None
    path.write_text(head + "[{type: expect_table_columns_to_match_set, kwargs: {column_set: "
                    "[version], exact_match: false}}]\n")
    load_spec(str(path))  # a subset, when the suite says so


def test_unknown_dataset_name_says_where_it_looked() -> None:
    with pytest.raises(ConfigError, match="no dataset spec named 'nope'"):
        load_spec("nope")


def test_every_module_imports() -> None:
    names = [m.name for m in pkgutil.walk_packages(laas.__path__, "laas.")]
    for sub in ("anchors", "validators", "tasks", "flows", "deployments"):
        pkg = importlib.import_module(f"laas.{sub}")
        names += [m.name for m in pkgutil.walk_packages(pkg.__path__, f"laas.{sub}.")]
    for name in names:
        importlib.import_module(name)
    assert "laas.flows.ingest" in names and "laas.anchors.services.gate" in names


def _loaded_by(modules: tuple[str, ...], heavy: tuple[str, ...]) -> list[str]:
    """Which of `heavy` a fresh interpreter has loaded after importing `modules`."""
    code = (f"import sys, {', '.join(modules)}; "
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return [m for m in r.stdout.strip().split(",") if m]


def test_gate_and_lineage_do_not_import_prefect_dask_or_gx() -> None:
    assert _loaded_by(("laas.cli", "laas.wiring", "laas.anchors.services.gate",
                       "laas.anchors.services.lineage", "laas.anchors.services.reader",
                       "laas.anchors.services.verify"),
                      ("prefect", "dask", "distributed", "great_expectations")) == []


def test_the_read_path_builds_its_clients_without_a_signing_library() -> None:
    """The read-only clients, their wiring and the consumers' services load neither web3 nor
    eth_account (nor pandas): importing those costs more than the gate may take to answer.
    tests/test_l2.py checks the commands themselves, end to end."""
    assert _loaded_by(("laas.cli", "laas.api", "laas.wiring", "laas.commands.consume",
                       "laas.anchors.adapters.registry_read",
                       "laas.anchors.adapters.registry_v2_read",
                       "laas.anchors.adapters.chainview", "laas.anchors.services.gate",
                       "laas.anchors.services.verify", "laas.anchors.services.lineage",
                       "laas.anchors.services.runs", "laas.anchors.services.batch"),
                      ("web3", "eth_account", "eth_abi", "requests", "pandas")) == []


def test_batches_are_bounded_by_count_and_bytes_and_feed_every_worker() -> None:
    from laas.tasks.compute import plan_batches

    def sizes(weights, **kw):
        return [s.stop - s.start for s in plan_batches(weights, **kw)]

    assert sizes([1] * 10, max_items=4, max_weight=100, min_batches=1) == [4, 4, 2]
    assert sizes([1] * 10, max_items=100, max_weight=100, min_batches=4) == [3, 3, 3, 1]
    assert sizes([60, 60, 10, 200, 5], max_items=100, max_weight=100, min_batches=1) == [1, 2, 1, 1]
    assert sizes([], max_items=4, max_weight=1, min_batches=2) == []


LAYERS = ["anchors", "validators", "tasks", "flows", "deployments"]  # each may use those before
ROOT = ("laas.wiring", "laas.signing", "laas.api", "laas.cli", "laas.settings")  # the root
ENGINES = ("prefect", "dask", "distributed", "great_expectations")
# What each folder must not import: the layers drawn in README's "Where things live".
FORBIDDEN = {
    "anchors/core": ("laas.anchors.adapters", "laas.anchors.services", "laas.tasks",
                     "laas.validators", "laas.flows", *ROOT, *ENGINES, "web3", "eth_account",
                     "fsspec", "s3fs", "sqlalchemy"),
    "anchors/adapters": ("laas.anchors.services", "laas.tasks", "laas.validators", "laas.flows",
                         *ROOT, *ENGINES),
    "anchors/services": ("laas.tasks", "laas.validators", "laas.flows", *ROOT, *ENGINES),
    "anchors/ports.py": ("laas.anchors.adapters", "laas.anchors.services", *ROOT, "web3"),
    "validators": ("laas.tasks", "laas.flows", *ROOT, "prefect", "dask", "distributed"),
    "tasks": ("laas.flows", *ROOT),
}
# The per-shard work Dask workers run is plain functions: the Prefect tasks are thin over it.
SHARD_WORK = ("raw_hashing", "readers", "normalizer", "shard_validation", "text_hashes",
              "stage_files")
FORBIDDEN |= {f"tasks/{m}.py": ("prefect",) for m in SHARD_WORK}


def _imports(path) -> list[str]:  # noqa: ANN001 - a Path
    import ast

    tree = ast.parse(path.read_text())
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and getattr(node.test, "id", None) == "TYPE_CHECKING"
                   for n in ast.walk(node)}  # annotations only: never imported at run time
    names = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.append(node.module or "")
    return names


def _files(where: str) -> list:
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    target = root / where
    return [target] if target.suffix == ".py" else sorted(target.rglob("*.py"))


def test_no_layer_imports_a_layer_above_it() -> None:
    wrong = []
    for rank, layer in enumerate(LAYERS):
        above = tuple(f"laas.{x}" for x in LAYERS[rank + 1 :])
        for path in _files(layer):
            wrong += [f"{path}: {n}" for n in _imports(path) if n.startswith(above)]
    assert not wrong


def test_core_adapters_services_keep_to_their_layer() -> None:
    wrong = [f"{path}: {n}" for where, banned in FORBIDDEN.items() for path in _files(where)
             for n in _imports(path) if any(n == b or n.startswith(b + ".") for b in banned)]
    assert not wrong


def test_nothing_below_the_composition_root_reads_settings_or_the_environment() -> None:
    import re

    reads = re.compile(r"get_settings\(|os\.environ|os\.getenv|\bSettings\(")
    wrong = [f"{path}:{i}: {line.strip()}" for where in ("anchors", "validators", "tasks")
             for path in _files(where)
             for i, line in enumerate(path.read_text().splitlines(), 1) if reads.search(line)]
    assert not wrong


# Every module is split now (issue 13): nothing may be over 250 lines.
PENDING_SPLIT: set[str] = set()


def test_no_product_module_is_over_250_lines() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    long = {f"{path.relative_to(root)}": n for where in (*LAYERS, "laas")
            for path in _files(where) if (n := len(path.read_text().splitlines())) > 250}
    assert set(long) <= PENDING_SPLIT, long


def test_cluster_factories_resolve_by_name_and_say_what_is_missing() -> None:
    from laas.deployments import clusters

    assert clusters.resolve("local") is clusters.local
    assert clusters.resolve("laas.deployments.clusters:existing") is clusters.existing
    with pytest.raises(ConfigError, match="LAAS_DASK_CLUSTER=nope: unknown"):
        clusters.resolve("nope")
    with pytest.raises(ConfigError, match="LAAS_DASK_CLUSTER=kube needs dask-kubernetes"), \
            clusters.kube():
        pass
    assert clusters.KUBE_SPEC.is_file()


def test_a_spec_has_a_source_or_parents_not_both() -> None:
    from laas.tasks.dataset_spec import DatasetSpec

    base = {"name": "mix", "schema": [{"name": "p", "type": "string"}],
            "suite": {"builtin": "tabular_features", "params": {"columns": ["p"]}}}
    derived = DatasetSpec.model_validate({**base, "parents": ["a", "b"]})
    assert derived.format_of("x/part-0.jsonl.parquet") == "parquet"
    for bad, words in (({}, "either `source`"), ({"source": "x/*", "parents": ["a"]}, "either"),
                       ({"parents": ["mix"]}, "its own parent"),
                       ({"parents": ["a"], "format": "csv"}, "leave `format` out")):
        with pytest.raises(ValueError, match=words):
            DatasetSpec.model_validate({**base, **bad})


def test_prefect_defaults_create_the_prefect_home_they_name(tmp_path, monkeypatch) -> None:
    """Prefect's ephemeral server spins for minutes and times out when PREFECT_HOME does not
    exist; laas creates it before Prefect is imported."""
    from laas.settings import prefect_defaults

    home = tmp_path / "fresh" / "prefect"
    monkeypatch.setenv("PREFECT_HOME", str(home))
    prefect_defaults()
    assert home.is_dir()


def test_settings_come_from_arguments_then_the_environment_then_a_dotenv_file(
        tmp_path, monkeypatch) -> None:
    """What pydantic-settings did, read by laas.settings itself: LAAS_<NAME> in any case, a
    .env in the working directory under it, and a bad value named as the variable to fix."""
    import os

    from laas.settings import Settings, get_settings

    for k in [k for k in os.environ if k.lower().startswith("laas_")]:
        monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("LAAS_HOME=/from/dotenv\nLAAS_ANVIL_PORT=9001\n"
                                   "LAAS_RPC_TIMEOUT=3\nLAAS_NOT_A_SETTING=1\nOTHER=x\n")
    monkeypatch.setenv("laas_anvil_port", "9002")
    s = Settings(rpc_timeout=4)
    assert (str(s.home), s.anvil_port, s.rpc_timeout, s.rpc_budget) == \
        ("/from/dotenv", 9002, 4.0, 60.0)
    monkeypatch.setenv("LAAS_RPC_BUDGET", "soon")
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match=r"^LAAS_RPC_BUDGET: .* \(got 'soon'\)$"):
            get_settings()
    finally:
        get_settings.cache_clear()
