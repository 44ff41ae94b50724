"""laas's local cluster workers allocate as a plain process does: Arrow's allocator keeps the
pages it frees (MIMALLOC_PURGE_DELAY=-1, unless the user exported a value) and glibc keeps
its own thresholds instead of Dask's MALLOC_TRIM_THRESHOLD_ (which made the validate stage
fault its buffers in afresh, batch after batch). In a process of its own: the forkserver the
workers come from is started once per process, with the environment of that moment."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.dask  # a real LocalCluster, in a process of its own

PROBE = """
import json
from distributed import Client
from laas.deployments.clusters import local

def env():
    import os
    return [os.environ.get(k) for k in ("MIMALLOC_PURGE_DELAY", "MALLOC_TRIM_THRESHOLD_")]

if __name__ == "__main__":
    with local(n_workers=1) as address, Client(address) as client:
        print(json.dumps(list(client.run(env).values())))
"""


@pytest.mark.parametrize(("exported", "seen"), [(None, "-1"), ("250", "250")])
def test_local_workers_keep_freed_pages_and_glibc_defaults(tmp_path, exported, seen) -> None:
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    env = {k: v for k, v in os.environ.items()
           if k not in ("MIMALLOC_PURGE_DELAY", "MALLOC_TRIM_THRESHOLD_")}
    if exported is not None:
        env["MIMALLOC_PURGE_DELAY"] = exported
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                       env=env, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.strip().splitlines()[-1]) == [[seen, None]]
