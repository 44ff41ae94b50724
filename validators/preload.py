"""What a local cluster's forkserver imports for the workers it forks (tasks.context
WORKER_PRELOAD): Great Expectations and the suite runner, and the text keys' table of the
characters only Python normalizes, computed here once for all of them; each worker computed it
in its warm-up before (~0.2 s of CPU per worker, per run)."""

from laas.validators import gx_suite  # noqa: F401 - imported for the workers
from laas.validators.unicode_fold import python_only_class

python_only_class()
