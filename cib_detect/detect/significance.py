"""False-discovery control over all (pair, signal, window) hypotheses."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from cib_detect.detect.pairs import PairSignal, hypotheses

Mask = npt.NDArray[np.bool_]


def tested(signal: PairSignal, min_episodes: int) -> Mask:
    return np.asarray(signal.episodes >= min_episodes, dtype=np.bool_)


def bh_threshold(log10_p: npt.NDArray[np.float64], m: int, alpha: float) -> float:
    """Benjamini-Hochberg in log10 space: the largest p_(i) with p_(i) <= alpha * i / m.

    Returns ``-inf`` when nothing is significant. ``m`` counts every hypothesis,
    including the pairs that co-acted too rarely to be tested (their p-value is 1).
    """
    if log10_p.size == 0 or m <= 0:
        return -math.inf
    p = np.sort(log10_p)
    ranks = np.arange(1, p.size + 1, dtype=np.float64)
    crit = math.log10(alpha) + np.log10(ranks) - math.log10(m)
    ok = np.flatnonzero(p <= crit)
    if ok.size == 0:
        return -math.inf
    return float(p[ok[-1]])


def significant_masks(
    signals: list[PairSignal], *, min_episodes: int, alpha: float
) -> tuple[list[Mask], dict[str, float]]:
    """One mask ``[pair, window]`` per signal, from BH pooled over all signals."""
    m = sum(hypotheses(s) for s in signals)
    masks_tested = [tested(s, min_episodes) for s in signals]
    pooled = (
        np.concatenate([s.log10_p[t] for s, t in zip(signals, masks_tested, strict=True)])
        if signals
        else np.zeros(0)
    )
    thr = bh_threshold(pooled, m, alpha)
    masks = [t & (s.log10_p <= thr) for s, t in zip(signals, masks_tested, strict=True)]
    info = {
        "hypotheses": float(m),
        "tested": float(pooled.size),
        "significant": float(sum(int(k.sum()) for k in masks)),
        "log10_p_threshold": thr if math.isfinite(thr) else -1e300,
    }
    return masks, info
