"""An RPC endpoint that answers too slowly or too much: one trickling its headers or its answer
a byte at a time (each read within the socket timeout), or sending an answer without end. A
request is held to LAAS_RPC_BUDGET, all reads included, and to a size no laas call needs, so
the gate ends with exit 2 and the one line, instead of waiting for ever or filling memory.
The endpoints are small servers on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from laas.anchors.adapters import answers
from laas.errors import AnchorTimeout
from laas.settings import Settings
from laas.wiring import open_rpc


class Hostile(BaseHTTPRequestHandler):
    """Answers eth_chainId (anvil's) the way the server's `mode` says."""

    protocol_version = "HTTP/1.1"
    mode = "body"  # "headers", "body": trickled; "huge": 64 MB of blanks; "plain": at once;
    # "deep": 100,000 nested brackets

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": "0x7a69"}).encode()
        mode = self.server.mode  # type: ignore[attr-defined]
        try:
            if mode == "headers":
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                for _ in range(1000):  # a header line a byte at a time, never the end
                    self.wfile.write(b"X")
                    self.wfile.flush()
                    time.sleep(0.2)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if mode == "huge":
                blanks = b" " * (1 << 20)
                self.send_header("Content-Length", str(64 * len(blanks) + len(body)))
                self.end_headers()
                for _ in range(64):
                    self.wfile.write(blanks)
                self.wfile.write(body)
                return
            if mode == "deep":  # an answer nested deeper than the C stack holds
                body = b'{"jsonrpc": "2.0", "id": 1, "result": ' + b"[" * 100_000 + (
                    b"]" * 100_000) + b"}"
                mode = "plain"
            if mode == "plain":
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self.send_header("Content-Length", str(len(body) + 1000))
            self.end_headers()
            for _ in range(1000):  # blanks before the JSON, a byte at a time
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.2)
            self.wfile.write(body)
        except OSError:
            return  # the client gave up: what it should do

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def node() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_prompt_endpoint_answers_on_one_kept_alive_connection(node) -> None:
    """The bounded read hands the connection back as a whole read did."""
    from laas.anchors.adapters.endpoints import Endpoints

    node.mode = "plain"  # type: ignore[attr-defined]
    ends = Endpoints([f"http://127.0.0.1:{node.server_address[1]}"])
    body = json.dumps({"jsonrpc": "2.0", "method": "eth_chainId", "params": [], "id": 1})
    for _ in range(3):
        assert json.loads(ends.post(body.encode(), sends=False, what="x"))["result"] == "0x7a69"
    assert len(ends._idle[0]) == 1


@pytest.mark.parametrize("mode", ["headers", "body"])
def test_an_endpoint_trickling_its_answer_is_cut_off_at_the_budget(node, mode) -> None:
    node.mode = mode  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{node.server_address[1]}"
    started = time.monotonic()
    with pytest.raises(AnchorTimeout, match="unreachable"):
        open_rpc(Settings(rpc_url=url, rpc_budget=2, rpc_timeout=1)).chain_id()
    assert time.monotonic() - started < 6  # the budget, not 200 s of bytes


def test_an_endpoint_answering_without_end_is_cut_off(node, monkeypatch, caplog) -> None:
    import logging

    node.mode = "huge"  # type: ignore[attr-defined]
    monkeypatch.setattr(answers, "MAX_ANSWER", 1 << 20)  # 1 MB here; 256 MB in use
    caplog.set_level(logging.DEBUG, "laas.rpc")
    url = f"http://127.0.0.1:{node.server_address[1]}"
    with pytest.raises(AnchorTimeout, match="unreachable"):
        open_rpc(Settings(rpc_url=url, rpc_budget=10)).chain_id()
    assert "answered more than 1 MB" in caplog.text


def test_the_gate_behind_a_trickling_endpoint_ends_with_exit_2(node, tmp_path) -> None:
    import os
    import subprocess
    import sys

    node.mode = "body"  # type: ignore[attr-defined]
    env = {**os.environ, "LAAS_HOME": str(tmp_path / "home"), "LAAS_RPC_BUDGET": "2",
           "LAAS_RPC_URL": f"http://127.0.0.1:{node.server_address[1]}",
           "LAAS_REGISTRY_ADDRESS": "0x5FbDB2315678afecb367f032d93F642f64180aa3"}
    started = time.monotonic()
    r = subprocess.run([str(Path(sys.executable).parent / "laas"), "gate", "any"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "unreachable" in r.stdout + r.stderr, r.stdout + r.stderr
    assert time.monotonic() - started < 15


def test_an_answer_nested_too_deep_is_no_answer_in_a_process_that_signs(node, tmp_path) -> None:
    """eth_account's py_ecc raises the recursion limit to 100,000 when imported: a process
    that signs (a run, an anchor) died on this answer with a segmentation fault. Now the
    endpoint's answer is refused as JSON, with the one line and exit 2."""
    import subprocess
    import sys

    node.mode = "deep"  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{node.server_address[1]}"
    code = ("import sys, laas, eth_account\n"
            "from laas.cli import main\n"
            "sys.argv = ['laas', 'gate', 'any']\n"
            "main()")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={"LAAS_RPC_URL": url, "LAAS_RPC_BUDGET": "5", "PATH": "/usr/bin",
                            "LAAS_HOME": str(tmp_path / "home"),
                            "LAAS_REGISTRY_ADDRESS": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
                            "HOME": "/tmp"})
    assert r.returncode == 2, (r.returncode, r.stderr[-800:])
    assert "not JSON" in r.stdout + r.stderr
