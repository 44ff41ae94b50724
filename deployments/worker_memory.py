"""Imported first in the process a local cluster's workers are forked from (before pandas or
Great Expectations load pyarrow): Arrow's allocator, mimalloc, then keeps the pages its
buffers free for its next allocations instead of handing them back to the OS 10 ms later.
The validate stage makes and drops a few hundred MB of buffers per row batch (decoded rows,
lowered and joined text, keys, masks); with the default every batch faulted its pages in
afresh: 40-50 k page faults and 0.2-0.5 s of system time per 160 MB of text, against
15-20 k and ~0.1 s kept (bench/README.md, "validate"). A worker's resident memory then stays at its
busiest batch's until the run ends and the local cluster with it; the flow's own process
is left as it is. A value the user exported already is kept. Read once, when pyarrow loads:
setting it any later changes nothing."""

from __future__ import annotations

import os

os.environ.setdefault("MIMALLOC_PURGE_DELAY", "-1")
