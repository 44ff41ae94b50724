"""The pipeline against S3 (moto's server on loopback): shards read from s3://, manifests and
normalized shards written to s3://, and lineage and the gate reading them back from there."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import S3, SAMPLE, Workspace

ARTIFACTS = "s3://laas-artifacts/store"


@pytest.fixture(scope="module")
def ws(s3: S3, workspace: Workspace) -> Workspace:
    s3.bucket("corpus")
    s3.bucket("laas-artifacts")
    client = s3.client()
    for path in sorted((SAMPLE / "instruct-sample").iterdir()):
        client.put_object(Bucket="corpus", Key=f"instruct/{path.name}", Body=path.read_bytes())
    spec = yaml.safe_load((SAMPLE / "instruct-sample.yaml").read_text())
    spec.update(name="s3-sample", source="s3://corpus/instruct/*.jsonl*")
    (workspace.root / "datasets" / "s3-sample.yaml").write_text(yaml.safe_dump(spec))
    workspace.env.update(s3.env, LAAS_ARTIFACT_ROOT=ARTIFACTS)
    r = workspace.laas("run", "s3-sample", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    workspace.summary = json.loads(r.stdout)
    workspace.s3 = s3
    return workspace


def test_run_reads_from_and_writes_to_s3(ws) -> None:
    cps = ws.summary["checkpoints"]
    assert [c["shard_count"] for c in cps] == [8, 8, 8]  # part-00005 less its dropped rows
    assert all(c["manifest_uri"].startswith(f"{ARTIFACTS}/s3-sample/") for c in cps)
    keys = [o["Key"] for o in ws.s3.client().list_objects_v2(
        Bucket="laas-artifacts", Prefix="store/s3-sample/")["Contents"]]
    assert sum(k.endswith(".parquet") and "/normalized/" in k for k in keys) == 8
    assert any("/validated/text-hashes/batch-" in k for k in keys)  # for the duplicate check
    assert sum("/manifest-" in k for k in keys) == 3
    assert not (ws.root / ".laas" / "artifacts").exists()


def test_lineage_by_s3_uri(ws) -> None:
    r = ws.laas("lineage", "s3://corpus/instruct/part-00002.jsonl", "--json")
    assert r.returncode == 0, r.stderr
    lineage = json.loads(r.stdout)
    assert [s["stage"] for s in lineage["stages"]] == ["raw", "normalized", "validated"]
    assert lineage["stages"][0]["uri"] == "s3://corpus/instruct/part-00002.jsonl"
    assert lineage["stages"][2]["uri"].startswith(f"{ARTIFACTS}/s3-sample/")


def test_gate_reads_s3_and_catches_a_tampered_object(ws) -> None:
    ok = ws.laas("gate", "s3-sample", "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    uri = next(u for u in json.loads(ok.stdout)["shards"] if "part-00004" in u)
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    client = ws.s3.client()
    original = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(pa.BufferReader(original))
    edited = table.set_column(0, "prompt", pa.array(["changed"] + table["prompt"].to_pylist()[1:]))
    sink = pa.BufferOutputStream()
    pq.write_table(edited, sink)
    client.put_object(Bucket=bucket, Key=key, Body=sink.getvalue().to_pybytes())
    try:
        denied = ws.laas("gate", "s3-sample")
        assert denied.returncode == 1 and "part-00004.jsonl" in denied.stdout
    finally:
        client.put_object(Bucket=bucket, Key=key, Body=original)
    assert ws.laas("gate", "s3-sample").returncode == 0


def test_gate_denies_when_the_manifest_is_gone(ws) -> None:
    validated = ws.summary["checkpoints"][-1]["manifest_uri"]
    bucket, key = validated.removeprefix("s3://").split("/", 1)
    client = ws.s3.client()
    body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    client.delete_object(Bucket=bucket, Key=key)
    try:
        r = ws.laas("gate", "s3-sample")
        assert r.returncode == 1 and "not readable" in r.stdout
    finally:
        client.put_object(Bucket=bucket, Key=key, Body=body)


class FaultyS3:
    """A loopback proxy in front of moto that fails reads of chosen objects: `always` with
    500 on every GET, `flaky` with 503 on its first two GETs (a retry then gets through)."""

    def __init__(self, upstream: str, always: str, flaky: str) -> None:
        import http.client
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlsplit

        up = urlsplit(upstream)
        self.failed: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # answers botocore's `Expect: 100-continue` uploads

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.command == "GET" and (always in self.path or (
                        flaky in self.path and proxy.failed.count(self.path) < 2)):
                    proxy.failed.append(self.path)
                    code = 500 if always in self.path else 503
                    self.send_response(code)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "expect"}
                conn.request(self.command, self.path, body, headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                self.send_response(resp.status)
                for k, v in resp.getheaders():  # HEAD keeps the object's Content-Length
                    if k.lower() not in ("transfer-encoding", "connection") and not (
                            k.lower() == "content-length" and self.command != "HEAD"):
                        self.send_header(k, v)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_storage_errors_on_some_reads_are_recorded_and_the_rest_committed(ws) -> None:
    proxy = FaultyS3(ws.s3.endpoint, always="part-00002", flaky="part-00004")
    try:
        env = {**ws.env, "LAAS_S3_ENDPOINT_URL": proxy.url}
        r = ws.laas("run", "s3-sample", "--run", "faulty-store", "--json", env=env)
    finally:
        proxy.server.shutdown()
        proxy.server.server_close()  # its listening socket, not left to the garbage collector
    assert r.returncode == 0, r.stdout + r.stderr
    summary = json.loads(r.stdout)
    raw = summary["checkpoints"][0]
    assert raw["shard_count"] == 7  # the unreadable shard is not in the root
    aside = {s["key"]: s["reason"] for s in summary["set_aside"]}
    assert "part-00002.jsonl" in aside and "unreadable" in aside["part-00002.jsonl"]
    assert "part-00004.jsonl" not in aside  # a transient error is retried, not recorded
    assert any("part-00004" in p for p in proxy.failed)


def test_a_store_that_refuses_for_want_of_credentials_is_one_line_naming_the_setting(ws) -> None:
    """Without laas's S3 keys (and no AWS credential chain), neither this process nor the
    shared Dask workers may read or write: one line naming the settings and how to resume."""
    env = {k: v for k, v in ws.env.items()
           if k not in ("LAAS_S3_KEY", "LAAS_S3_SECRET") and not k.startswith("AWS_")}
    env |= {"AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_EC2_METADATA_DISABLED": "true"}
    r = ws.laas("run", "s3-sample", "--run", "no-keys", env=env)
    assert r.returncode == 2, r.stdout + r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: object store refused access"), last
    assert "LAAS_S3_KEY" in last and "laas run s3-sample --run no-keys" in last, last
