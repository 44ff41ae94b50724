"""The error tree. Every error laas raises on purpose is a LaasError whose message is one line
that names the shard or setting at fault and says what to do.

    LaasError                 exit code 2 from the CLI
    ├── ConfigError           a setting, spec file or key is missing or wrong
    ├── ShardReadError        a shard could not be read or parsed (it is set aside, not lost)
    │   └── SchemaError       a shard does not have the declared columns or types
    ├── ValidationFailed      exit code 1: the run's validated stage failed (its checkpoints
    │                         are committed all the same; the gate will deny it)
    ├── AnchorError           the chain or the registry contract refused or failed
    │   ├── AnchorTimeout     the RPC endpoint did not answer or a receipt did not arrive
    │   │   └── AnchorPending exit code 3: still so after every retry; the manifests are
    │   │                     kept and `laas anchor --resume` commits them later
    │   └── AnchorReverted    the contract reverted the transaction
    ├── LineageNotFound       nothing in the index matches the shard asked about
    ├── HashMismatch          bytes no longer hash to what a manifest or the chain says
    ├── NotAppendOnly         exit code 4: an append-only dataset's new version drops or
    │                         replaces a shard of its previous one (nothing is committed)
    └── GateDenied            the gate refused a dataset (exit code 1, not 2)
"""


def first_problem(e: Exception) -> tuple[tuple, str]:
    """The first problem of a pydantic ValidationError, for a one-line message: (its location,
    its message without pydantic's "Value error, " prefix)."""
    first = e.errors()[0]  # type: ignore[attr-defined]
    return tuple(first["loc"]), first["msg"].removeprefix("Value error, ")


def dotted(loc: tuple) -> str:
    return ".".join(str(p) for p in loc)


class LaasError(Exception):
    """Base of all laas errors; `str(err)` is the one-line diagnosis the CLI prints."""

    exit_code = 2


class ConfigError(LaasError):
    pass


class ShardReadError(LaasError):
    pass


class SchemaError(ShardReadError):
    pass


class ValidationFailed(LaasError):
    exit_code = 1


class AnchorError(LaasError):
    pass


class AnchorTimeout(AnchorError):
    pass


class AnchorPending(AnchorTimeout):
    exit_code = 3


class AnchorReverted(AnchorError):
    pass


class LineageNotFound(LaasError):
    pass


class HashMismatch(LaasError):
    pass


class NotAppendOnly(LaasError):
    exit_code = 4


class GateDenied(LaasError):
    exit_code = 1
