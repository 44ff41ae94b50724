"""The embedded L2: an anvil process on loopback whose state is kept in a file, so checkpoints
survive `laas chain down` / `up`. anvil comes from npm (@foundry-rs/anvil) in node_modules."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from laas.errors import AnchorTimeout, ConfigError

# The state file is rewritten every STATE_INTERVAL seconds: a kill -9 loses at most that much
# (a `laas chain down` none); each rewrite costs time proportional to the chain's length.
STATE_INTERVAL = 3
RECENT_STATES = 64  # block states kept in memory, for calls at a recent block (revert replay)
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent.parent


def find_anvil(explicit: str | None = None) -> str:
    """The anvil binary: LAAS_ANVIL_BIN, then node_modules (the platform package npm installed,
    run directly so signals reach anvil, not a node wrapper), then PATH."""
    if explicit:
        return explicit
    plat = f"{platform.system().lower()}-{_ARCH.get(platform.machine().lower(), 'amd64')}"
    for base in (Path.cwd(), repo_root()):
        cand = base / "node_modules" / "@foundry-rs" / f"anvil-{plat}" / "bin" / "anvil"
        if cand.exists():
            return str(cand)
    found = shutil.which("anvil")
    if found:
        return found
    raise ConfigError("anvil not found: run `make setup` (npm ci) or set LAAS_ANVIL_BIN")


def rpc_alive(url: str, timeout: float = 1.0) -> int | None:
    """The chain id if a JSON-RPC node answers at url, else None."""
    import requests  # handles user:password@ in the URL as basic auth, as web3 does

    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    try:
        resp = requests.post(url, json=body, timeout=timeout)
        return int(resp.json()["result"], 16)
    except (OSError, ValueError, KeyError, TypeError, requests.RequestException):
        return None


class LocalChain:
    """Start, stop and inspect the anvil node of one laas home folder."""

    def __init__(self, home: Path, port: int = 8545, anvil_bin: str | None = None):
        self.dir = home / "chain"
        self.port = port
        self.anvil_bin = anvil_bin
        self.url = f"http://127.0.0.1:{port}"

    @property
    def state_file(self) -> Path:
        return self.dir / "anvil-state.json"

    @property
    def pid_file(self) -> Path:
        return self.dir / "anvil.pid"

    @property
    def log_file(self) -> Path:
        return self.dir / "anvil.log"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def is_up(self) -> bool:
        return rpc_alive(self.url) is not None

    def up(self, timeout: float = 30.0) -> bool:
        """Start anvil unless it already answers; returns True if this call started it."""
        if self.is_up():
            return False
        self.dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            find_anvil(self.anvil_bin),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--state", str(self.state_file),
            "--state-interval", str(STATE_INTERVAL),
            # Keep the current state, every block, receipt and log, and the states of the last
            # few blocks only. Without this anvil keeps every block's state and, past its
            # in-memory limit, writes each one to ~/.foundry/anvil/tmp (gigabytes for a few
            # thousand blocks, never cleaned); --preserve-historical-states also put them all
            # in the state file (5.9 GB, 11 GB RSS at 300k blocks). Nothing in laas reads old
            # state: lineage and the gate read current state, receipts and logs.
            "--prune-history", str(RECENT_STATES),
        ]
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # outlives the CLI call that started it
            )
        self.pid_file.write_text(str(proc.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = self.log_file.read_text(errors="replace")[-400:].strip()
                raise AnchorTimeout(f"anvil exited at start (port {self.port} busy?): {tail}")
            if self.is_up():
                _STARTED[proc.pid] = proc
                return True
            time.sleep(0.1)
        proc.kill()
        proc.wait(timeout=5)
        raise AnchorTimeout(f"anvil did not answer on {self.url} within {timeout:.0f}s")

    def down(self, timeout: float = 15.0) -> bool:
        """Stop anvil (SIGTERM lets it write its state file); returns True if it was running."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                break
            _reap(pid)
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True


# The anvils this process started, by pid: anvil outlives the call that starts it, so its Popen
# is held here (not collected while anvil runs) until down() has collected its exit status.
_STARTED: dict[int, subprocess.Popen] = {}


def _reap(pid: int) -> None:
    """Collect our own child's exit status so it does not linger as a zombie."""
    if (proc := _STARTED.get(pid)) is not None:
        if proc.poll() is not None:
            del _STARTED[pid]
        return
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def home_key(chain_dir: Path) -> Any:
    """The committer key generated once for a laas home's local chain (CHAIN_DIR/committer.key,
    mode 0600): anvil's dev keys are public, so signing with them would prove nothing."""
    from eth_account import Account

    path = chain_dir / "committer.key"
    if not path.exists():
        chain_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"committer.key.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(Account.create().key.hex())
        try:
            os.link(tmp, path)  # atomic, and the first of two concurrent processes wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return Account.from_key(path.read_text().strip())
