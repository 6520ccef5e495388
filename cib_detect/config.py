"""All settings in one place (pydantic-settings, environment prefix ``CIB_``).

Detection parameters live in :class:`DetectParams` (frozen, recorded in every output);
process-level settings (Neo4j, service) live in :class:`Settings`, read from the
environment (``CIB_NEO4J__BOLT_PORT=7688``) or a ``cib-detect.toml``/``.env`` file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_WINDOWS: tuple[int, ...] = (60, 600, 14400)


class DetectParams(BaseModel):
    """Parameters of one detection run. Every field is recorded in ``clusters.json``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    windows: tuple[int, ...] = Field(
        DEFAULT_WINDOWS,
        description="Co-action windows in seconds; two actions co-occur when |dt| <= window.",
    )
    seed: int = Field(42, description="Seed for Leiden; same seed and input -> same output.")
    hub_cap: int = Field(
        200,
        description="An event whose +-window neighbourhood on its target holds more than this "
        "many events is in a crowd: it yields no pairs for that window.",
    )
    max_events_per_account_target: int = Field(
        20,
        ge=1,
        description="Events of one account on one target beyond this count are ignored "
        "(loops and replays add no evidence).",
    )
    episode_gap: int = Field(
        3600,
        description="Co-actions of one pair closer than max(episode_gap, 2*window) seconds "
        "form one episode; significance counts episodes, not raw co-actions.",
    )
    jitter_min: int = Field(
        21600,
        description="Null model: timing finer than max(jitter_min, jitter_factor * window) "
        "seconds is random; an object's popularity profile at coarser scale is kept.",
    )
    jitter_factor: float = Field(60.0, description="See jitter_min.")
    min_episodes: int = Field(
        3, description="A pair needs co-actions in at least this many episodes to be tested."
    )
    fdr: float = Field(
        0.05, description="Benjamini-Hochberg false discovery rate over all tested pairs."
    )
    text: bool = Field(True, description="Run the near-duplicate text signal.")
    text_window: int = Field(
        3600, description="Window in seconds for the near-duplicate text signal."
    )
    text_threshold: float = Field(
        0.5, description="Minimum estimated Jaccard similarity of 5-char shingle sets."
    )
    text_min_chars: int = Field(24, description="Texts shorter than this (normalised) are ignored.")
    min_cluster_size: int = Field(3, description="Smaller communities are not reported.")
    min_cluster_density: float = Field(
        0.2, description="Communities whose evidence-edge density is lower are not reported."
    )
    resolution: float = Field(1.0, description="Leiden modularity resolution.")
    leiden_iterations: int = Field(2, description="Leiden iterations (2 is near-converged).")
    max_evidence_edges: int = Field(
        200, description="Evidence edges kept per cluster in the output (strongest first)."
    )
    max_examples: int = Field(5, description="Example co-actions kept per evidence edge.")
    top_targets: int = Field(10, description="Shared targets listed per cluster.")
    workers: int = Field(
        2,
        ge=1,
        le=64,
        description="Threads for independent kernel calls; never changes the result.",
    )

    @field_validator("windows")
    @classmethod
    def _windows(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v:
            raise ValueError("at least one window is required")
        if any(w <= 0 or w > 7 * 86400 for w in v):
            raise ValueError("windows must be between 1 second and 7 days")
        return tuple(sorted(set(int(w) for w in v)))

    @field_validator("fdr")
    @classmethod
    def _fdr(cls, v: float) -> float:
        if not 0.0 < v < 1.0:
            raise ValueError("fdr must be in (0, 1)")
        return v

    def as_record(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class Neo4jSettings(BaseModel):
    """Where the Neo4j system of record lives, and the local server's set-up."""

    uri: str = "bolt://127.0.0.1:7687"
    user: str = "neo4j"
    password: str = "cib-detect-local"
    database: str = "neo4j"
    home: Path = Path.home() / ".cache" / "cib-detect" / "neo4j"
    bolt_port: int = 7687
    version: str = "5.26.30"
    start_timeout_s: float = 180.0


class ServiceSettings(BaseModel):
    """The gRPC service (``cib-detect serve``)."""

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(50051, ge=0, le=65535, description="Port; 0 picks a free one.")
    max_workers: int = Field(32, ge=1, description="Threads serving RPCs concurrently.")
    max_batch_events: int = Field(1000, ge=1, le=10_000, description="Events per ingest batch.")
    max_message_bytes: int = Field(16 * 1024 * 1024, description="Largest request or reply.")
    instance: str = Field(
        "",
        description="Name of this service instance (default: host name and port). Runs it "
        "left open when it stopped are marked failed when an instance of the same name starts.",
    )
    neo4j_retry_s: float = Field(
        5.0, description="Driver budget for re-running a transaction; below RPC deadlines."
    )
    neo4j_acquire_s: float = Field(5.0, description="Waiting for a pooled Neo4j connection.")
    neo4j_pool_size: int = Field(32, ge=1, description="Neo4j connections of the service.")
    default_deadline_s: float = Field(
        30.0, description="Time limit of a read RPC whose client set no deadline."
    )
    startup_poll_s: float = Field(1.0, description="Retry interval while Neo4j is not up.")
    shutdown_grace_s: float = Field(
        10.0, description="On SIGTERM: how long in-flight calls may take to finish."
    )
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="Serve Prometheus /metrics on host:port (0: any)."
    )

    @model_validator(mode="after")
    def _timeouts_nest(self) -> ServiceSettings:
        """The driver's retry and pool-wait budgets must end before a call's deadline."""
        if self.neo4j_retry_s + self.neo4j_acquire_s >= self.default_deadline_s:
            raise ValueError(
                "neo4j_retry_s + neo4j_acquire_s must be below default_deadline_s, so that "
                "Neo4j retries end before the RPC deadline"
            )
        return self


class TokenEntry(BaseModel):
    """One API token: who holds it and which roles it grants. Give the token itself
    (``token``, e.g. from the environment) or only its SHA-256 (``sha256``, hex)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    roles: tuple[Literal["ingest", "investigate", "admin"], ...] = Field(min_length=1)
    token: SecretStr | None = None
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _one_secret(self) -> TokenEntry:
        if (self.token is None) == (self.sha256 is None):
            raise ValueError(f"token {self.name!r}: give exactly one of token or sha256")
        if self.token is not None and len(self.token.get_secret_value()) < 16:
            raise ValueError(f"token {self.name!r}: at least 16 characters")
        return self


class SecuritySettings(BaseModel):
    """Who may call the service, over what, and what is written down about it."""

    auth: Literal["tokens", "none"] = Field(
        "none",
        description="'tokens': every RPC needs a bearer token whose roles allow it (health "
        "stays open). 'none' is accepted only on a loopback address.",
    )
    tokens: tuple[TokenEntry, ...] = Field(
        (), description="Tokens, e.g. CIB_SECURITY__TOKENS='[{\"name\": ..., ...}]'."
    )
    tokens_file: Path | None = Field(
        None, description="TOML file with [[tokens]] tables (name, roles, token or sha256)."
    )
    tls_cert_file: Path | None = Field(None, description="Server certificate chain (PEM).")
    tls_key_file: Path | None = Field(None, description="Server private key (PEM).")
    tls_client_ca_file: Path | None = Field(
        None, description="CA bundle for client certificates: set it to require mTLS."
    )
    audit_log: Path | None = Field(
        None,
        description="Append-only JSON-lines audit log of every call (who, which RPC, which "
        "run/cluster/account, when). A call fails when its record cannot be written.",
    )
    audit_fsync: bool = Field(False, description="fsync the audit log after every record.")
    pseudonymise: bool = Field(
        False, description="Store account ids as keyed HMAC-SHA256 pseudonyms (needs a key)."
    )
    pseudonym_key: SecretStr | None = Field(
        None, description="Key of the pseudonyms (at least 16 characters); keep it secret."
    )

    @model_validator(mode="after")
    def _consistent(self) -> SecuritySettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("mTLS (tls_client_ca_file) needs tls_cert_file and tls_key_file")
        if self.pseudonymise and (
            self.pseudonym_key is None or len(self.pseudonym_key.get_secret_value()) < 16
        ):
            raise ValueError("pseudonymise needs pseudonym_key (at least 16 characters)")
        return self


class Settings(BaseSettings):
    """Process settings: environment ``CIB_*`` (nested with ``__``), ``.env``, or a TOML
    file given by ``CIB_CONFIG`` or ``cib-detect serve --config``. Environment wins over
    the file."""

    model_config = SettingsConfigDict(
        env_prefix="CIB_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    neo4j: Neo4jSettings = Neo4jSettings()
    service: ServiceSettings = ServiceSettings()
    security: SecuritySettings = SecuritySettings()
    log_level: str = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources = [init_settings, env_settings, dotenv_settings]
        config = os.environ.get("CIB_CONFIG")
        if config:
            path = Path(config)
            if not path.is_file():
                raise ValueError(f"CIB_CONFIG: no such file {path}")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return (*sources, file_secret_settings)


def load_settings(config_file: Path | None = None) -> Settings:
    """The process settings; ``config_file`` (TOML) is used as ``CIB_CONFIG`` would be."""
    if config_file is None:
        return Settings()
    old = os.environ.get("CIB_CONFIG")
    os.environ["CIB_CONFIG"] = str(config_file)
    try:
        return Settings()
    finally:
        if old is None:
            del os.environ["CIB_CONFIG"]
        else:
            os.environ["CIB_CONFIG"] = old
