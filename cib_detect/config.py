"""All settings in one place (pydantic-settings, environment prefix ``CIB_``).

Detection parameters live in :class:`DetectParams` (frozen, recorded in every output);
process-level settings (Neo4j, service) live in :class:`Settings`, read from the
environment (``CIB_NEO4J__BOLT_PORT=7688``) or a ``cib-detect.toml``/``.env`` file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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


class Settings(BaseSettings):
    """Process settings: environment ``CIB_*`` (nested with ``__``) or ``.env``."""

    model_config = SettingsConfigDict(
        env_prefix="CIB_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    neo4j: Neo4jSettings = Neo4jSettings()
    log_level: str = "INFO"


def load_settings() -> Settings:
    return Settings()
