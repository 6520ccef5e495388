"""Cluster sub-scores and the overall score. Every sub-score lies in [0, 1].

- ``significance``: median over the cluster's evidence edges of ``-log10 p / 30``
  (capped at 1): how far each link is from what the null model explains.
- ``evidence``: ``1 - exp(-W / 10)`` where ``W`` is the mean crowd-weighted number of
  distinct targets per edge (a co-action alone on a target weighs 1, one in a crowd less).
- ``density``: evidence edges / possible member pairs.
- ``synchrony``: median over edges of ``1 - median|dt| / window``: 1 for lockstep.
- ``size``: ``log2(size) / 6`` capped at 1 (64 members or more score 1).

``score = 0.30 significance + 0.20 evidence + 0.20 density + 0.20 synchrony + 0.10 size``.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

WEIGHTS = {
    "significance": 0.30,
    "evidence": 0.20,
    "density": 0.20,
    "synchrony": 0.20,
    "size": 0.10,
}


def sub_scores(
    size: int,
    n_edges: int,
    edge_weight: npt.NDArray[np.float64],
    log10_p: npt.NDArray[np.float64],
    dt_over_window: npt.NDArray[np.float64],
) -> dict[str, float]:
    possible = size * (size - 1) / 2
    sig = float(np.median(np.minimum(1.0, -log10_p / 30.0))) if log10_p.size else 0.0
    mean_w = float(edge_weight.mean()) if edge_weight.size else 0.0
    sync = float(np.median(np.clip(1.0 - dt_over_window, 0.0, 1.0))) if dt_over_window.size else 0.0
    out = {
        "significance": sig,
        "evidence": 1.0 - math.exp(-mean_w / 10.0),
        "density": n_edges / possible if possible else 0.0,
        "synchrony": sync,
        "size": min(1.0, math.log2(max(size, 1)) / 6.0),
    }
    return {k: round(v, 4) for k, v in out.items()}


def overall(scores: dict[str, float]) -> float:
    return round(sum(WEIGHTS[k] * scores[k] for k in WEIGHTS), 4)
