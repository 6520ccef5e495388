"""Plain data shared by every layer: no proto, no Neo4j, no Numba types."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from cib_detect.errors import RejectReport

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class EventTable:
    """Validated events as columns. Codes index the sorted string dictionaries.

    ``account``, ``action`` and ``target`` are int32 codes into ``accounts``, ``actions``
    and ``targets`` (each sorted bytewise, so codes are canonical for the input's value
    set); ``ts`` is epoch milliseconds (int64); ``text`` is an Arrow string array (nulls
    where no text) or ``None``.
    """

    account: I32
    action: I32
    target: I32
    ts: I64
    accounts: list[str]
    actions: list[str]
    targets: list[str]
    text: Any = None  # pyarrow string array aligned with the rows, or None
    event_id: Any = None  # pyarrow string array aligned with the rows, or None

    @property
    def n(self) -> int:
        return int(self.account.shape[0])


@dataclass
class InputInfo:
    """What was read: where from, its digest, how many rows were taken and rejected."""

    path: str
    sha256: str
    format: str
    rows: int
    accepted: int
    rejected: int
    duplicates: int
    rejects: RejectReport = field(default_factory=RejectReport)

    def as_record(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "format": self.format,
            "rows": self.rows,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "rejected_by_reason": dict(sorted(self.rejects.by_reason.items())),
        }


@dataclass(frozen=True)
class Example:
    """One co-action behind an evidence edge."""

    target: str
    t_a: int  # epoch ms
    t_b: int  # epoch ms
    target_b: str | None = None  # set when b acted on another target (text signal)
    text_a: str | None = None
    text_b: str | None = None

    @property
    def dt_ms(self) -> int:
        return abs(self.t_b - self.t_a)


@dataclass(frozen=True)
class Evidence:
    """A significant link between two accounts from one signal."""

    a: str
    b: str
    signal: str
    window: int  # seconds
    weight: float
    p_value: float
    log10_p: float
    shared_targets: int
    episodes: int
    expected: float
    median_dt: float  # seconds
    first_ts: int  # epoch ms
    last_ts: int  # epoch ms
    examples: tuple[Example, ...]


@dataclass(frozen=True)
class TopTarget:
    target: str
    accounts: int
    first_ts: int
    last_ts: int
    popularity: int


@dataclass(frozen=True)
class Cluster:
    cluster_id: str
    rank: int
    score: float
    sub_scores: dict[str, float]
    members: tuple[str, ...]
    signals: tuple[str, ...]
    top_targets: tuple[TopTarget, ...]
    evidence: tuple[Evidence, ...]
    n_edges: int
    evidence_truncated: bool

    @property
    def size(self) -> int:
        return len(self.members)


@dataclass
class DetectionResult:
    clusters: list[Cluster]
    stats: dict[str, Any]
    timings: dict[str, float]
