"""Pair evidence for one signal: co-action rows, per-pair aggregates, null expectation.

This is the orchestrator around :mod:`cib_detect.kernels.coaction`: it walks objects in
chunks (checking for cancellation between kernel calls), de-duplicates rows to one per
(pair, object), groups them by pair and aggregates them per window.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cib_detect.detect.objects import ObjectEvents
from cib_detect.kernels import coaction, stats

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Tick = Callable[[float], None]

#: Events per kernel call when enumerating pairs (bounds raw-row memory per chunk).
CHUNK_EVENTS = 1 << 19


@dataclass
class PairSignal:
    """Everything known about co-acting pairs for one signal (windows side by side)."""

    name: str
    windows: tuple[int, ...]  # seconds
    objects: ObjectEvents
    pair_a: I32
    pair_b: I32
    pair_ptr: I64
    row_obj: I32
    row_ea: I32  # index into ``objects`` rows (event of account a)
    row_eb: I32
    row_mask: npt.NDArray[np.uint8]
    row_crowd: npt.NDArray[np.uint8]
    n_obj: I32  # [pair, window] distinct objects co-acted
    episodes: I32
    weight: F64
    med_dt: F64  # ms
    first: I64
    last: I64
    q: F64  # [object, window] null chance of one event pair co-acting
    expected: F64  # [pair, window] expected co-acted objects (NaN when untested)
    shared: I32  # [pair] shared objects (0 when untested)
    log10_p: F64  # [pair, window] (0 when untested)
    n_hypotheses: int  # (pair, window) combinations with at least one co-action
    co_acting_pairs: int  # pairs with at least one co-action in any window

    @functools.cached_property
    def pair_key(self) -> I64:
        return (self.pair_a.astype(np.int64) << 32) | self.pair_b.astype(np.int64)

    @property
    def n_pairs(self) -> int:
        return int(self.pair_a.shape[0])

    def label(self, w: int) -> str:
        if self.name == "co_action":
            return f"co_action@{self.windows[w]}s"
        return self.name


def _chunks(obj_ptr: I64, per_chunk: int) -> list[tuple[int, int]]:
    n_obj = obj_ptr.shape[0] - 1
    out: list[tuple[int, int]] = []
    lo = 0
    while lo < n_obj:
        target = obj_ptr[lo] + per_chunk
        hi = int(np.searchsorted(obj_ptr, target, side="right")) - 1
        hi = min(max(hi, lo + 1), n_obj)
        out.append((lo, hi))
        lo = hi
    return out


DAY_MS = 86_400_000
RHYTHM_BIN_MS = 300_000  # 5-minute time-of-day bins


def rhythm_factor(ts: I64, windows_ms: I64) -> F64:
    """How much more often two random events fall within ``w`` of each other's time of
    day than uniform timing would give: 1 for a flat day, above 1 for evening peaks.

    Circular autocorrelation of the time-of-day histogram, averaged over ``|d| <= w``.
    """
    n_bins = DAY_MS // RHYTHM_BIN_MS
    if ts.size < 2:
        return np.ones(windows_ms.shape[0])
    f = np.bincount((ts % DAY_MS) // RHYTHM_BIN_MS, minlength=n_bins).astype(np.float64)
    f /= f.sum()
    spec = np.fft.rfft(f)
    corr = np.fft.irfft(spec * np.conj(spec), n=n_bins)  # C(d) = sum_h f_h f_{h+d}
    out = np.ones(windows_ms.shape[0])
    for i, w in enumerate(windows_ms):
        k = int(w // RHYTHM_BIN_MS)
        if 2 * k + 1 >= n_bins:
            continue
        idx = np.arange(-k, k + 1) % n_bins
        out[i] = max(1.0, float(corr[idx].mean() * n_bins))
    return out


def null_chance(
    objects: ObjectEvents, windows_ms: I64, jitter_min_ms: int, jitter_factor: float
) -> F64:
    """Jitter null: timing is random at scale ``B = max(jitter_min, factor * w)``.

    ``q[o, w] = P(|dt| <= B) * (w / B) * R_w`` where ``P(|dt| <= B)`` is the share of
    event pairs on ``o`` within ``B`` and ``R_w`` the platform's daily-rhythm factor: an
    object's popularity profile at scales coarser than ``B`` is kept, and so is the hour
    of day people are active; timing finer than that is not. Lockstep finer than ``B``
    is what the test detects.
    """
    n = np.diff(objects.obj_ptr).astype(np.float64)
    all_pairs = n * (n - 1) / 2.0
    rhythm = rhythm_factor(objects.ts, windows_ms)
    q = np.zeros((objects.n_objects, windows_ms.shape[0]), dtype=np.float64)
    for w, width in enumerate(windows_ms):
        scale = max(float(jitter_min_ms), jitter_factor * float(width))
        close = coaction.pairs_within(objects.obj_ptr, objects.ts, np.int64(scale))
        share = np.where(all_pairs > 0, close / np.maximum(all_pairs, 1.0), 0.0)
        q[:, w] = np.minimum(1.0, share * float(width) / scale * rhythm[w])
    return q


def crowd_caps(windows: tuple[int, ...], hub_cap: int) -> I64:
    """Crowd limit per window: ``hub_cap`` up to 10 minutes, shrinking as 1/sqrt(w) above.

    A co-action inside a crowd of many events is weak evidence, and wide windows on busy
    targets would otherwise produce most of the pairs while carrying little evidence.
    """
    return np.array(
        [hub_cap if w <= 600 else max(10, round(hub_cap * math.sqrt(600 / w))) for w in windows],
        dtype=np.int64,
    )


def _enumerate(
    objects: ObjectEvents, wins: I64, caps: I64, tick: Tick | None
) -> tuple[I32, I32, npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """All co-action rows, one per (pair, object), as (ea, eb, mask, crowd)."""
    dens = coaction.crowd_density(objects.obj_ptr, objects.ts, wins)
    parts: list[list[np.ndarray]] = []
    chunks = _chunks(objects.obj_ptr, CHUNK_EVENTS)
    for k, (lo, hi) in enumerate(chunks):
        counts = coaction.count_pairs(
            objects.obj_ptr, objects.acc, objects.ts, wins, dens, caps, lo, hi
        )
        row_ptr = np.zeros(hi - lo + 1, dtype=np.int64)
        np.cumsum(counts, out=row_ptr[1:])
        rows = coaction.fill_pairs(
            objects.obj_ptr, objects.acc, objects.ts, wins, dens, caps, lo, hi, row_ptr
        )
        kept = coaction.dedupe_rows(*rows, objects.acc, objects.ts, row_ptr, objects.repeated, lo)
        parts.append([r[:kept].copy() for r in rows])
        del rows
        if tick is not None:
            tick(0.8 * (k + 1) / len(chunks))
    del dens
    out: list[np.ndarray] = []
    for field in range(4):
        # concatenate field by field, releasing each part as soon as it is copied
        out.append(np.concatenate([p[field] for p in parts]) if parts else np.zeros(0, np.int32))
        for p in parts:
            p[field] = np.zeros(0, dtype=p[field].dtype)
    if not parts:
        out[2] = out[2].astype(np.uint8)
        out[3] = out[3].astype(np.uint8)
    return out[0], out[1], out[2], out[3]


def pair_signal(
    name: str,
    objects: ObjectEvents,
    windows: tuple[int, ...],
    *,
    hub_cap: int,
    episode_gap: int,
    min_episodes: int,
    jitter_min: int,
    jitter_factor: float,
    tick: Tick | None = None,
) -> PairSignal:
    """Co-acting pairs of one signal, with aggregates and null expectation per window.

    Only pairs with at least ``min_episodes`` distinct co-acted objects are kept (no
    other pair can be tested); ``n_hypotheses`` still counts every co-acting pair.
    """
    wins = np.array([w * 1000 for w in windows], dtype=np.int64)
    n_w = wins.shape[0]
    caps = crowd_caps(windows, hub_cap)
    rea, reb, rmask, rcrowd = _enumerate(objects, wins, caps, tick)
    rows, pair_ptr, per_window, n_co_acting = coaction.select_pairs(
        rea, reb, rmask, objects.acc, objects.n_accounts, n_w, min_episodes
    )
    rea, reb, rmask, rcrowd = (x[rows] for x in (rea, reb, rmask, rcrowd))
    del rows
    ro = (np.searchsorted(objects.obj_ptr, rea, side="right") - 1).astype(np.int32)
    pair_a = objects.acc[rea[pair_ptr[:-1]]].astype(np.int32)
    pair_b = objects.acc[reb[pair_ptr[:-1]]].astype(np.int32)
    gaps = np.array([max(episode_gap, 2 * w) * 1000 for w in windows], dtype=np.int64)
    n_obj, episodes, weight, med_dt, first, last = coaction.aggregate_pairs(
        pair_ptr, rea, reb, rmask, rcrowd, objects.ts, wins, gaps, n_w
    )
    q = null_chance(objects, wins, jitter_min * 1000, jitter_factor)
    cand = np.flatnonzero((episodes >= min_episodes).any(axis=1))
    expected = np.full((pair_a.shape[0], n_w), np.nan)
    shared = np.zeros(pair_a.shape[0], dtype=np.int32)
    log10_p = np.zeros((pair_a.shape[0], n_w), dtype=np.float64)
    if cand.size:
        lam, sh = stats.expected_coactions(
            pair_a[cand], pair_b[cand], objects.acc_ptr, objects.acc_obj, objects.acc_cnt, q
        )
        expected[cand] = lam
        shared[cand] = sh
        for w in range(n_w):
            tested = cand[episodes[cand, w] >= min_episodes]
            if tested.size:
                log10_p[tested, w] = stats.poisson_log10_sf_many(
                    episodes[tested, w].astype(np.int64), expected[tested, w]
                )
    if tick is not None:
        tick(1.0)
    return PairSignal(
        name=name,
        windows=windows,
        objects=objects,
        pair_a=pair_a,
        pair_b=pair_b,
        pair_ptr=pair_ptr,
        row_obj=ro,
        row_ea=rea,
        row_eb=reb,
        row_mask=rmask,
        row_crowd=rcrowd,
        n_obj=n_obj,
        episodes=episodes,
        weight=weight,
        med_dt=med_dt,
        first=first,
        last=last,
        q=q,
        expected=expected,
        shared=shared,
        log10_p=log10_p,
        n_hypotheses=int(per_window.sum()),
        co_acting_pairs=int(n_co_acting),
    )


def hypotheses(signal: PairSignal) -> int:
    """Number of (pair, window) hypotheses: every pair that co-acted at least once."""
    return signal.n_hypotheses
