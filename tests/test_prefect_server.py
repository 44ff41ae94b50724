"""The Prefect control plane for real: a Prefect server on a free loopback port, prefect.yaml
deployed, a process worker, and `laas run --deployment --wait` going through the API."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from laas.deployments.server import ControlPlane
from tests.conftest import Workspace, free_port


def api(plane: ControlPlane, path: str, body: dict | None = None) -> object:
    req = urllib.request.Request(
        f"{plane.api_url}{path}", data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"}, method="GET" if body is None else "POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


@pytest.fixture(scope="module")
def plane(workspace: Workspace) -> Iterator[ControlPlane]:
    cp = ControlPlane(workspace.root / "prefect-server", free_port(), env=workspace.env)
    try:
        cp.start_server()
        cp.deploy()
        cp.start_worker()
        workspace.env["PREFECT_API_URL"] = cp.api_url
        yield cp
    finally:
        cp.stop()


def test_run_through_a_deployment_completes_publishes_artifacts_and_commits(workspace,
                                                                              plane) -> None:
    r = workspace.laas("run", "instruct-sample", "--deployment", "--wait", "--json",
                       "--timeout", "600", timeout=700)
    assert r.returncode == 0, r.stdout + r.stderr + (plane.home / "worker.log").read_text()[-3000:]
    result = json.loads(r.stdout)
    assert result["state"] == "Completed"
    assert [c["stage"] for c in result["checkpoints"]] == ["raw", "normalized", "validated"]
    (flow_run,) = api(plane, "/flow_runs/filter",
                      {"flow_runs": {"name": {"any_": [result["flow_run"]]}}})
    assert flow_run["state_type"] == "COMPLETED"
    assert flow_run["name"] == f"instruct-sample-{result['run']}"
    artifacts = api(plane, "/artifacts/filter",
                    {"artifacts": {"flow_run_id": {"any_": [flow_run["id"]]}}})
    by_key = {a["key"]: a for a in artifacts}
    for stage in ("raw", "normalized", "validated"):
        md = by_key[f"instruct-sample-{stage}"]
        assert md["type"] == "markdown" and "Merkle root" in md["data"]
        tx = next(c["tx_hash"] for c in result["checkpoints"] if c["stage"] == stage)
        assert tx in md["data"]
    table = by_key["instruct-sample-failed-expectations"]
    assert table["type"] == "table" and "proprietary-scraped" in json.dumps(table["data"])
    plane.flow_run = flow_run
    runs = workspace.laas("runs", "instruct-sample")
    assert runs.returncode == 0 and result["run"] in runs.stdout and "passed=True" in runs.stdout


def test_schedules_from_prefect_yaml_are_on_the_deployments_and_active(plane) -> None:
    dep = api(plane, "/deployments/name/ingest/instruct-sample")
    (schedule,) = dep["schedules"]
    assert schedule["active"] is True
    assert schedule["schedule"]["cron"] == "0 2 * * *"
    assert schedule["schedule"]["timezone"] == "Europe/Berlin"
    assert dep["work_pool_name"] == "laas-local" and dep["parameters"] == {
        "dataset": "instruct-sample"}
    names = {d["name"] for d in api(plane, "/deployments/filter", {})}
    assert {"instruct-sample", "gate-instruct-sample", "reindex"} <= names


CHROMIUM = "/usr/bin/chromium"
# No background traffic: this machine reaches nothing but loopback and its package registries.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium (.ci/run "
                    "installs it; locally: apt-get install chromium)")
def test_ui_shows_the_deployment_schedule_and_the_run_summary(plane, tmp_path_factory) -> None:
    from playwright.sync_api import expect, sync_playwright

    out = os.environ.get("LAAS_TEST_OUTPUT")
    shots = (Path(out) if out else tmp_path_factory.getbasetemp()) / "ui-screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    ui = plane.api_url.removesuffix("/api")
    dep = api(plane, "/deployments/name/ingest/instruct-sample")
    artifact = api(plane, "/artifacts/filter", {"artifacts": {
        "key": {"any_": ["instruct-sample-validated"]},
        "flow_run_id": {"any_": [plane.flow_run["id"]]}}})[0]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(f"{ui}/deployments")
        expect(page.get_by_text("instruct-sample", exact=True).first).to_be_visible(timeout=60_000)
        page.screenshot(path=str(shots / "deployments.png"), full_page=True)
        page.goto(f"{ui}/deployments/deployment/{dep['id']}")
        expect(page.get_by_text("At 02:00 AM every day").first).to_be_visible(timeout=60_000)
        page.screenshot(path=str(shots / "deployment-schedule.png"), full_page=True)
        page.goto(f"{ui}/runs/flow-run/{plane.flow_run['id']}")
        expect(page.get_by_text(plane.flow_run["name"]).first).to_be_visible(timeout=60_000)
        page.screenshot(path=str(shots / "flow-run.png"), full_page=True)
        page.goto(f"{ui}/artifacts/artifact/{artifact['id']}")
        expect(page.get_by_text("Merkle root").first).to_be_visible(timeout=60_000)
        page.screenshot(path=str(shots / "validated-summary.png"), full_page=True)
        browser.close()
    assert all((shots / f).stat().st_size > 10_000 for f in (
        "deployments.png", "deployment-schedule.png", "flow-run.png", "validated-summary.png"))


def test_unknown_deployment_is_a_clear_error(workspace, plane) -> None:
    r = workspace.laas("run", "no-such-dataset", "--deployment", "--wait")
    assert r.returncode == 2 and "no deployment ingest/no-such-dataset" in r.stderr


def test_stopping_leaves_no_process_behind(workspace) -> None:
    cp = ControlPlane(workspace.root / "prefect-stop", free_port(), env=workspace.env)
    cp.start_server()
    cp.start_worker()
    groups = [p.pid for p in cp.procs]
    cp.stop()
    for pgid in groups:
        with pytest.raises(ProcessLookupError):
            os.killpg(pgid, 0)
