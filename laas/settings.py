"""Settings from the environment (prefix LAAS_) or a .env file; one place, read lazily."""

from __future__ import annotations

import os
import re
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from laas.networks import NETWORKS, Finality

LOCAL_CHAIN_ID = 31337  # anvil's default
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_URL = re.compile(r"^https?://[^\s,]+$", re.IGNORECASE)


def _from_environment(fields: Any) -> dict[str, str]:
    """LAAS_<FIELD> (in any case) from the environment, over the same from ./.env: what
    pydantic-settings read, without the 60 ms its imports added to every command."""
    names = {f"laas_{name}": name for name in fields}
    found: dict[str, Any] = {}
    if os.path.isfile(".env"):
        from dotenv import dotenv_values

        found = {names[k.lower()]: v for k, v in dotenv_values(".env").items()
                 if k.lower() in names and v is not None}
    found.update({names[k.lower()]: v for k, v in os.environ.items() if k.lower() in names})
    return found


class Settings(BaseModel):
    """Each setting from, first found: the arguments, LAAS_<NAME> in the environment, a .env
    file in the working directory, the default."""

    model_config = ConfigDict(extra="ignore", validate_default=True)

    def __init__(self, **values: Any) -> None:
        super().__init__(**{**_from_environment(type(self).model_fields), **values})

    home: Path = Field(Path(".laas"), description="local state: chain, artifacts, index")
    network: str | None = Field(None, description="profile: " + ", ".join(NETWORKS))
    rpc_url: str | None = Field(None, description="EVM JSON-RPC URL; unset = the local anvil")
    rpc_fallback_urls: str = Field(
        "", description="comma-separated JSON-RPC URLs tried in turn when LAAS_RPC_URL fails")
    rpc_timeout: float = Field(10.0, gt=0, description="seconds per JSON-RPC request")
    rpc_budget: float = Field(60.0, gt=0, description="seconds one request may take, all "
                                                      "retries and fallbacks included")
    log_range: int = Field(2000, ge=1, description="blocks per eth_getLogs request at first; "
                                                   "halved when the provider refuses")
    chain_id: int | None = Field(None, description="expected chain id; checked on connect")
    explorer_tx_url: str | None = Field(None, description="explorer URL a tx hash is appended to")
    finality: Finality | None = Field(None, description="gate default: latest, safe, finalized")
    registry_address: str | None = Field(None, description="deployed CheckpointRegistry")
    registry_deploy_block: int = Field(0, description="block it was deployed in (log scans)")
    private_key: SecretStr | None = Field(None, description="committer key (hex)")
    keystore_path: Path | None = Field(None, description="encrypted eth-account keystore file")
    keystore_password: SecretStr | None = None
    anvil_port: int = 8545
    anvil_bin: str | None = Field(None, description="anvil executable; default node_modules")
    artifact_root: str | None = Field(None, description="manifests, shards; default HOME/artifacts")
    index_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite HOME/index.db")
    s3_endpoint_url: str | None = Field(None, description="S3-compatible endpoint (MinIO, R2)")
    s3_region: str | None = None
    s3_profile: str | None = Field(None, description="AWS profile; default: the boto chain")
    s3_key: SecretStr | None = None
    s3_secret: SecretStr | None = None
    dask_address: str | None = Field(None, description="existing Dask scheduler; unset = local")
    dask_cluster: str = Field("local", description="cluster factory: local, kube, module:fn")
    dask_workers: int = 2
    batch_size: int = Field(1000, description="most shards per Dask task")
    batch_bytes: int = Field(256 << 20, description="most bytes of shards per Dask task")
    trusted_committers: str = Field(
        "", description="comma-separated addresses whose attested manifests this machine "
                        "resumes and reuses, besides its own key's (other machines' keys)")
    min_confirmations: int = Field(1, ge=0)
    tx_timeout: float = 120.0
    fee_bump_after: float = Field(30.0, description="s unmined before a fee-bumped resend")
    fee_bumps: int = Field(3, description="most fee bumps per transaction")
    max_fee_gwei: float | None = Field(None, description="never bid more per gas than this")
    max_fee_per_run: Decimal | None = Field(
        None, gt=0, description="most a run may spend on fees, in the chain's currency (ETH)")
    fee_percentile: float = Field(50.0, ge=0, le=100, description="of recent priority fees")
    fee_history_blocks: int = Field(10, ge=1, le=1024, description="blocks eth_feeHistory reads")
    base_fee_headroom: float = Field(2.0, ge=1, description="maxFeePerGas = base fee x this "
                                                            "+ priority fee")
    anchor_attempts: int = Field(4, description="tries per commit while the chain is down")
    anchor_backoff: float = Field(2.0, description="first retry delay (s), doubled each time")
    openlineage_url: str | None = Field(None, description="OpenLineage: http(s) URL or a file")
    openlineage_namespace: str = "laas"
    datasets_dir: Path | None = Field(None, description="extra folder of dataset specs")

    _explicit: frozenset[str] = PrivateAttr(frozenset())

    @field_validator("network")
    @classmethod
    def _network(cls, v: str | None) -> str | None:
        if v is not None and v not in NETWORKS:
            raise ValueError(f"unknown network; use one of {', '.join(NETWORKS)}")
        return v

    @model_validator(mode="after")
    def _profile(self) -> Settings:
        """The network profile fills what was not set explicitly (an explicit setting wins)."""
        self._explicit = frozenset(self.model_fields_set)
        if self.network is not None:
            profile = NETWORKS[self.network]
            for name in ("chain_id", "rpc_url", "explorer_tx_url", "finality", "log_range"):
                if name not in self._explicit:
                    setattr(self, name, getattr(profile, name))
        return self

    @property
    def chain_id_source(self) -> str:
        """Which setting the expected chain id came from, to name it in a mismatch."""
        if self.network is not None and "chain_id" not in self._explicit:
            return f"LAAS_NETWORK={self.network}"
        return "LAAS_CHAIN_ID"

    @property
    def effective_finality(self) -> Finality:
        return self.finality or "latest"

    @property
    def currency(self) -> str:
        return NETWORKS[self.network].currency if self.network else "ETH"

    def tx_link(self, tx_hash: str | None) -> str | None:
        """The explorer's page of a transaction, if an explorer is configured."""
        if not tx_hash or not self.explorer_tx_url:
            return None
        base = self.explorer_tx_url
        return base + tx_hash if base.endswith(("/", "=")) else f"{base}/{tx_hash}"

    @field_validator("registry_address", "trusted_committers")
    @classmethod
    def _addresses(cls, v: str | None) -> str | None:
        for a in (v or "").split(","):
            if a.strip() and not _ADDRESS.match(a.strip()):
                raise ValueError(f"{a.strip()!r} is not an address (0x and 40 hex digits)")
        return v

    @field_validator("rpc_url", "rpc_fallback_urls", "explorer_tx_url")
    @classmethod
    def _urls(cls, v: str | None) -> str | None:
        for u in (v or "").split(","):
            if u.strip() and not _URL.match(u.strip()):
                # the value is never echoed: it may hold a provider key
                raise ValueError("not an http(s):// URL")
        return v

    @property
    def rpc_urls(self) -> list[str]:
        """Where JSON-RPC goes, in order of preference."""
        fallbacks = [u.strip() for u in self.rpc_fallback_urls.split(",") if u.strip()]
        return [self.effective_rpc_url, *fallbacks]

    @property
    def trusted_committer_addresses(self) -> tuple[str, ...]:
        return tuple(a.strip() for a in self.trusted_committers.split(",") if a.strip())

    @property
    def is_local_chain(self) -> bool:
        return self.rpc_url is None

    @property
    def effective_rpc_url(self) -> str:
        return self.rpc_url or f"http://127.0.0.1:{self.anvil_port}"

    @property
    def chain_dir(self) -> Path:
        return self.home / "chain"

    @property
    def effective_artifact_root(self) -> str:
        return self.artifact_root or str((self.home / "artifacts").resolve())

    @property
    def effective_index_url(self) -> str:
        return self.index_url or f"sqlite:///{(self.home / 'index.db').resolve()}"


# Prefect settings laas needs unless the user set them. Concurrent runs on one machine each
# start Prefect's ephemeral server on one SQLite file; on two busy cores that takes longer than
# Prefect's 20 s default (a soak run measured it).
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


def prefect_defaults() -> None:
    """Apply PREFECT_DEFAULTS to this process; call before importing prefect."""
    for k, v in PREFECT_DEFAULTS.items():
        os.environ.setdefault(k, v)
    # Prefect's ephemeral server cannot create its database in a PREFECT_HOME that does not
    # exist: it spins for minutes and then times out. Create the folder it was pointed at.
    if home := os.environ.get("PREFECT_HOME"):
        Path(home).expanduser().mkdir(parents=True, exist_ok=True)


def settings_error(e: ValidationError) -> str:
    """A settings problem as one line naming the variable to fix."""
    from laas.errors import first_problem

    loc, msg = first_problem(e)
    name = "LAAS_" + "_".join(str(p) for p in loc).upper()
    value = e.errors()[0].get("input")
    secret = any(w in name.lower() for w in ("key", "password", "secret", "url"))
    shown = "" if secret else f" (got {str(value)[:40]!r})"
    return f"{name}: {msg}{shown}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    from laas.errors import ConfigError

    try:
        return Settings()
    except ValidationError as e:
        raise ConfigError(settings_error(e)) from None
