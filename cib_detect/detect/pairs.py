"""Pair evidence for one signal: co-action rows, per-pair aggregates, null expectation.

This is the orchestrator around :mod:`cib_detect.kernels.coaction`: it walks objects in
chunks (checking for cancellation between kernel calls), de-duplicates rows to one per
(pair, object), groups them by pair and aggregates them per window.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from cib_detect.detect.objects import ObjectEvents
from cib_detect.kernels import coaction, sorting, stats

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Tick = Callable[[float], None]

#: Events per kernel call when enumerating pairs (bounds raw-row memory per chunk).
CHUNK_EVENTS = 1 << 19
#: Raw co-action rows held at once (about 31 bytes each while they are ordered by pair);
#: more rows -> more passes over the objects.
ROW_BUDGET = 1 << 23
#: Rows (or events) from which a serial step is split in two halves on two threads.
SPLIT_ROWS = 1 << 20
T = TypeVar("T")


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
    """Crowd limit per window: ``hub_cap`` up to 10 minutes, shrinking as 1/sqrt(w) above
    (never below 10, never above ``hub_cap``), so the limits never grow with the window.

    A co-action inside a crowd of many events is weak evidence, and wide windows on busy
    targets would otherwise produce most of the pairs while carrying little evidence.
    """
    return np.array(
        [
            hub_cap if w <= 600 else min(hub_cap, max(10, round(hub_cap * math.sqrt(600 / w))))
            for w in windows
        ],
        dtype=np.int64,
    )


def _chunk_rows(
    lo: int,
    hi: int,
    objects: ObjectEvents,
    wins: I64,
    caps: I64,
    dens: npt.NDArray[np.int32],
    part: int,
    n_parts: int,
    known_counts: dict[int, I64] | None = None,
) -> list[np.ndarray]:
    """Rows of objects ``lo:hi`` for pair partition ``part``, one per (pair, object).

    The kernels release the GIL, so chunks can run on several threads. With a single
    partition the per-object counts of the sizing pass are reused (``known_counts``).
    """
    args = (objects.obj_ptr, objects.acc, objects.ts, wins, dens, caps, lo, hi)
    if known_counts is not None and n_parts == 1 and lo in known_counts:
        counts = known_counts[lo]
    else:
        counts = coaction.count_pairs(*args, part, n_parts)
    row_ptr = np.zeros(hi - lo + 1, dtype=np.int64)
    np.cumsum(counts, out=row_ptr[1:])
    rows = coaction.fill_pairs(*args, row_ptr, part, n_parts)
    kept = coaction.dedupe_rows(
        *rows, objects.acc, objects.ts, row_ptr, objects.repeated, objects.multi, lo
    )
    return [r[:kept].copy() for r in rows]


def _map_chunks(
    pool: Executor | None, fn: Callable[[int, int], T], chunks: list[tuple[int, int]]
) -> list[T]:
    """``fn(lo, hi)`` per chunk, in chunk order (concurrently with a pool)."""
    if pool is None or len(chunks) < 2:
        return [fn(lo, hi) for lo, hi in chunks]
    futures = [pool.submit(fn, lo, hi) for lo, hi in chunks]
    return [f.result() for f in futures]


def _halves(ptr: I64, pool: Executor | None) -> list[tuple[int, int]]:
    """``[lo, hi)`` ranges of the groups of ``ptr`` (one or two, about equal in rows): two
    only with a ``pool`` and at least ``SPLIT_ROWS`` rows."""
    n = ptr.shape[0] - 1
    if pool is None or n < 2 or ptr[-1] - ptr[0] < SPLIT_ROWS:
        return [(0, n)]
    mid = int(np.searchsorted(ptr, ptr[0] + (ptr[-1] - ptr[0]) // 2))
    mid = min(max(mid, 1), n - 1)
    return [(0, mid), (mid, n)]


def _crowd_density(objects: ObjectEvents, wins: I64, pool: Executor | None) -> I32:
    """:func:`coaction.crowd_density`, halves of the objects on two threads."""

    def part(lo: int, hi: int) -> I32:
        return coaction.crowd_density_range(objects.obj_ptr, objects.ts, wins, lo, hi)  # type: ignore[no-any-return]

    parts = _map_chunks(pool, part, _halves(objects.obj_ptr, pool))
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _aggregate(
    pair_ptr: I64,
    rea: I32,
    reb: I32,
    rmask: npt.NDArray[np.uint8],
    rcrowd: npt.NDArray[np.uint8],
    ts: I64,
    wins: I64,
    gaps: I64,
    pool: Executor | None,
) -> tuple[I32, I32, F64, F64, I64, I64]:
    """:func:`coaction.aggregate_pairs`, halves of the pairs on two threads."""

    def part(lo: int, hi: int) -> tuple[np.ndarray, ...]:
        return coaction.aggregate_pairs(  # type: ignore[no-any-return]
            pair_ptr[lo : hi + 1], rea, reb, rmask, rcrowd, ts, wins, gaps, wins.shape[0]
        )

    parts = [list(p) for p in _map_chunks(pool, part, _halves(pair_ptr, pool))]
    if len(parts) == 1:
        return tuple(parts[0])  # type: ignore[return-value]
    out = []
    for f in range(6):  # field by field, releasing the halves as they are joined
        out.append(np.concatenate([p[f] for p in parts]))
        for p in parts:
            p[f] = out[-1][:0]
    return out[0], out[1], out[2], out[3], out[4], out[5]


def _count_raw(
    lo: int, hi: int, objects: ObjectEvents, wins: I64, caps: I64, dens: npt.NDArray[np.int32]
) -> I64:
    counts: I64 = coaction.count_pairs(
        objects.obj_ptr, objects.acc, objects.ts, wins, dens, caps, lo, hi, 0, 1
    )
    return counts


def _enumerate(
    objects: ObjectEvents,
    wins: I64,
    caps: I64,
    dens: npt.NDArray[np.int32],
    chunks: list[tuple[int, int]],
    part: int,
    n_parts: int,
    pool: Executor | None,
    known_counts: dict[int, I64] | None = None,
) -> tuple[I32, I32, npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Co-action rows of one pair partition, one per (pair, object): (ea, eb, mask, crowd).

    Chunks of objects are independent; with a ``pool`` they run concurrently and are
    joined in chunk order, so the output never depends on timing.
    """
    fn = functools.partial(
        _chunk_rows,
        objects=objects,
        wins=wins,
        caps=caps,
        dens=dens,
        part=part,
        n_parts=n_parts,
        known_counts=known_counts,
    )
    parts = _map_chunks(pool, fn, chunks)
    out: list[np.ndarray] = []
    for field in range(4):
        # concatenate field by field, releasing each part as soon as it is copied
        dtype = np.int32 if field < 2 else np.uint8
        out.append(np.concatenate([p[field] for p in parts]) if parts else np.zeros(0, dtype))
        for p in parts:
            p[field] = np.zeros(0, dtype=dtype)
    return out[0], out[1], out[2], out[3]


def _order_by_a(
    rea: I32, reb: I32, rmask: npt.NDArray[np.uint8], objects: ObjectEvents, pool: Executor | None
) -> tuple[I32, I64, I32, npt.NDArray[np.uint8]]:
    """Rows ordered by their lower account ``a``, stably: a counting sort split over two
    threads (each thread scatters its half of the rows into places reserved for it).
    Returns ``(order, a_ptr, b, mask)``: account ``a``'s rows are
    ``order[a_ptr[a]:a_ptr[a + 1]]``, in ascending row order; ``b`` and ``mask`` are the
    rows' higher account and window mask in that order."""
    n, n_acc = rea.shape[0], objects.n_accounts
    half = n // 2 if pool is not None and n >= max(2, SPLIT_ROWS) else n
    ranges = [(0, half), (half, n)] if half < n else [(0, n)]
    acc = objects.acc
    # accounts are looked up, not stored: 8 bytes less per row
    hists = _map_chunks(pool, lambda lo, hi: coaction.rows_per_a(rea, acc, lo, hi, n_acc), ranges)
    total = np.sum(hists, axis=0) if len(hists) > 1 else hists[0]
    a_ptr = np.zeros(n_acc + 1, dtype=np.int64)
    np.cumsum(total, out=a_ptr[1:])
    starts, base = [], a_ptr[:-1].copy()
    for h in hists:  # each half's rows go after the earlier halves' rows of that account
        starts.append(base.copy())
        base += h
    order = np.empty(n, dtype=np.int32)  # row indices fit: callers keep n < 2**31
    sb = np.empty(n, dtype=np.int32)
    smask = np.empty(n, dtype=np.uint8)

    def scatter(lo: int, hi: int) -> None:
        start = starts[ranges.index((lo, hi))]
        coaction.scatter_by_a(rea, reb, rmask, acc, lo, hi, start, order, sb, smask)

    _map_chunks(pool, scatter, ranges)
    return order, a_ptr, sb, smask


def _select(
    rea: I32,
    reb: I32,
    rmask: npt.NDArray[np.uint8],
    objects: ObjectEvents,
    n_w: int,
    min_rows: int,
    pool: Executor | None,
) -> tuple[I64, I64, I64, int]:
    """Group rows by pair and keep pairs with ``min_rows`` rows or more.

    Rows are ordered by lower account (a counting sort), then the accounts are split
    into two ranges of about equal row counts whose rows are grouped by pair
    concurrently (:func:`coaction.select_pairs`); results join in account order, so
    pairs come out sorted by ``(a, b)`` and each pair's rows in row order.
    """
    order, a_ptr, sb, smask = _order_by_a(rea, reb, rmask, objects, pool)

    def scan(a_lo: int, a_hi: int) -> tuple[I64, I64, I64, int]:
        return coaction.select_pairs(  # type: ignore[no-any-return]
            order, a_ptr, a_lo, a_hi, sb, smask, objects.n_accounts, n_w, min_rows
        )

    results = _map_chunks(pool, scan, _halves(a_ptr, pool))
    rows = results[0][0] if len(results) == 1 else np.concatenate([r[0] for r in results])
    run_len = np.concatenate([r[1] for r in results])
    per_window = np.sum([r[2] for r in results], axis=0).astype(np.int64)
    return rows, run_len, per_window, int(sum(r[3] for r in results))


def _candidate_rows(
    objects: ObjectEvents,
    wins: I64,
    caps: I64,
    min_rows: int,
    tick: Tick | None,
    pool: Executor | None,
) -> tuple[tuple[I32, I32, npt.NDArray[np.uint8], npt.NDArray[np.uint8]], I64, I64, int]:
    """Rows of every pair with at least ``min_rows`` co-acted objects, grouped by pair.

    When all rows would not fit ``ROW_BUDGET``, pairs are split by a hash into
    partitions processed one after the other, so memory stays bounded; pairs come out
    sorted by (a, b) either way. Returns (rows, pair_ptr, hypotheses per window,
    co-acting pairs).
    """
    n_w = wins.shape[0]
    dens = _crowd_density(objects, wins, pool)
    chunks = _chunks(objects.obj_ptr, CHUNK_EVENTS)
    count = functools.partial(_count_raw, objects=objects, wins=wins, caps=caps, dens=dens)
    chunk_counts = _map_chunks(pool, count, chunks)
    raw = int(sum(int(c.sum()) for c in chunk_counts))
    known = {lo: c for (lo, _), c in zip(chunks, chunk_counts, strict=True)}
    n_parts = max(1, -(-raw // ROW_BUDGET))
    kept: list[list[np.ndarray]] = []
    sizes: list[I64] = []
    pair_keys: list[I64] = []
    per_window = np.zeros(n_w, dtype=np.int64)
    n_pairs = 0
    for part in range(n_parts):
        rea, reb, rmask, rcrowd = _enumerate(
            objects, wins, caps, dens, chunks, part, n_parts, pool, known
        )
        rows, run_len, pw, n_p = _select(rea, reb, rmask, objects, n_w, min_rows, pool)
        kept.append([x[rows] for x in (rea, reb, rmask, rcrowd)])
        sizes.append(run_len)
        if n_parts > 1:  # each pair's (a, b), to merge the partitions in pair order
            heads = np.cumsum(run_len) - run_len
            a = objects.acc[kept[-1][0][heads]].astype(np.int64)
            pair_keys.append((a << 32) | objects.acc[kept[-1][1][heads]])
        per_window += pw
        n_pairs += n_p
        del rea, reb, rmask, rcrowd, rows
        if tick is not None:
            tick(0.8 * (part + 1) / n_parts)
    del dens, count
    size = np.concatenate(sizes)
    ptr = np.zeros(size.size + 1, dtype=np.int64)
    np.cumsum(size, out=ptr[1:])
    runs: tuple[I64, I64] | None = None
    if n_parts > 1:
        # restore the global (a, b) order of pairs across partitions: pair p's rows move
        # from ptr[p] to its place in key order
        order = np.argsort(np.concatenate(pair_keys), kind="stable")
        runs = (ptr[:-1][order], size[order])
        np.cumsum(runs[1], out=ptr[1:])
        del order
    cols: list[np.ndarray] = []
    for f in range(4):  # column by column, releasing the partitions' parts as they are copied
        col = np.concatenate([k[f] for k in kept])
        for k in kept:
            k[f] = col[:0]
        cols.append(col if runs is None else sorting.take_runs(col, *runs))
        del col
    return (cols[0], cols[1], cols[2], cols[3]), ptr, per_window, n_pairs


def _expected(
    a: I32, b: I32, objects: ObjectEvents, q: F64, pool: Executor | None
) -> tuple[F64, I32]:
    """Expected co-acted objects per pair (and shared objects), halves on two threads."""

    def run(lo: int, hi: int) -> tuple[F64, I32]:
        return stats.expected_coactions(  # type: ignore[no-any-return]
            a[lo:hi], b[lo:hi], objects.acc_ptr, objects.acc_obj, objects.acc_cnt, q
        )

    if pool is None or a.size < 10_000:
        return run(0, a.size)
    mid = a.size // 2
    first, second = pool.submit(run, 0, mid), pool.submit(run, mid, a.size)
    (l1, s1), (l2, s2) = first.result(), second.result()
    return np.concatenate((l1, l2)), np.concatenate((s1, s2))


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
    pool: Executor | None = None,
) -> PairSignal:
    """Co-acting pairs of one signal, with aggregates and null expectation per window.

    Only pairs with at least ``min_episodes`` distinct co-acted objects are kept (no
    other pair can be tested); ``n_hypotheses`` still counts every co-acting pair.
    """
    wins = np.array([w * 1000 for w in windows], dtype=np.int64)
    n_w = wins.shape[0]
    caps = crowd_caps(windows, hub_cap)
    (rea, reb, rmask, rcrowd), pair_ptr, per_window, n_co_acting = _candidate_rows(
        objects, wins, caps, min_episodes, tick, pool
    )
    obj_of_event = np.repeat(np.arange(objects.n_objects, dtype=np.int32), np.diff(objects.obj_ptr))
    ro = obj_of_event[rea]
    del obj_of_event
    pair_a = objects.acc[rea[pair_ptr[:-1]]].astype(np.int32)
    pair_b = objects.acc[reb[pair_ptr[:-1]]].astype(np.int32)
    gaps = np.array([max(episode_gap, 2 * w) * 1000 for w in windows], dtype=np.int64)
    n_obj, episodes, weight, med_dt, first, last = _aggregate(
        pair_ptr, rea, reb, rmask, rcrowd, objects.ts, wins, gaps, pool
    )
    q = null_chance(objects, wins, jitter_min * 1000, jitter_factor)
    cand = np.flatnonzero((episodes >= min_episodes).any(axis=1))
    expected = np.full((pair_a.shape[0], n_w), np.nan)
    shared = np.zeros(pair_a.shape[0], dtype=np.int32)
    log10_p = np.zeros((pair_a.shape[0], n_w), dtype=np.float64)
    if cand.size:
        lam, sh = _expected(pair_a[cand], pair_b[cand], objects, q, pool)
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
