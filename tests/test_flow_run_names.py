"""`laas run path/to/spec.yaml` named its Prefect flow run after the file ("odd.yaml-RUN")
and `laas runs odd-s3` found none of its runs: the run is named, and found, by the spec's
name."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

SAMPLE = Path(__file__).parents[1] / "laas" / "datasets" / "instruct-sample.yaml"


def test_a_flow_run_given_a_spec_file_is_named_by_the_spec(tmp_path, monkeypatch) -> None:
    from laas.flows import ingest

    spec = tmp_path / "odd.yaml"
    spec.write_text(SAMPLE.read_text().replace("name: instruct-sample", "name: odd-s3"))
    monkeypatch.setenv("LAAS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(ingest, "flow_run", SimpleNamespace(
        parameters={"dataset": str(spec), "run": "r1"}))
    assert ingest._run_name() == "odd-s3-r1"
    (tmp_path / "bad.yaml").write_text("name: [")  # the flow says why; the name is what was given
    monkeypatch.setattr(ingest, "flow_run", SimpleNamespace(
        parameters={"dataset": str(tmp_path / "bad.yaml"), "run": "r2"}))
    assert ingest._run_name() == f"{tmp_path / 'bad.yaml'}-r2"


def test_laas_runs_finds_a_dataset_by_name_whichever_way_it_was_started(monkeypatch) -> None:
    from laas.deployments import trigger

    def fr(name: str, dataset: str, run: str) -> SimpleNamespace:
        return SimpleNamespace(name=name, id=name, state_name="Completed", start_time=None,
                               infrastructure_pid=None,
                               expected_start_time=None,
                               parameters={"dataset": dataset, "run": run})

    runs = [fr("odd-s3-r3", "/specs/odd.yaml", "r3"), fr("other-r2", "other", "r2"),
            fr("odd-s3-r1", "odd-s3", "r1")]

    @contextmanager
    def client(sync_client: bool):
        yield SimpleNamespace(read_flow_runs=lambda **kw: runs)

    monkeypatch.setattr("prefect.client.orchestration.get_client", client)
    found = trigger.recent_runs("odd-s3", 10)
    assert [(r["flow_run"], r["dataset"], r["run"]) for r in found] == [
        ("odd-s3-r3", "odd-s3", "r3"), ("odd-s3-r1", "odd-s3", "r1")]
