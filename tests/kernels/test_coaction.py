"""Co-action kernels against brute-force references on tiny random inputs.

Timestamps are epoch milliseconds, windows are seconds in the engine and milliseconds in
the kernels. Two events co-act in window ``w`` when they are on the same object, by
different accounts, ``|dt| <= w`` and neither is in a crowd at ``w`` (more than
``caps[w]`` events on the object within ``+-w``). One row is kept per (pair, object): the
closest in time; its window mask is the OR over that pair's co-actions on the object.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cib_detect.detect import pairs as pairs_mod
from cib_detect.detect.objects import ObjectEvents, build_objects
from cib_detect.detect.pairs import crowd_caps, pair_signal
from cib_detect.kernels import coaction

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
NO_CAP = 1000  # max_events_per_account_target large enough never to drop events

Rows = dict[tuple[int, int, int], tuple[int, int]]  # (a, b, obj) -> (mask, min |dt|)


# --------------------------------------------------------------------------- inputs


@st.composite
def event_sets(draw: Any, max_events: int = 22) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(object, account, ts_ms) for a handful of events on 1-3 objects by 1-5 accounts.

    Times are whole seconds with a sprinkle of +-1 ms and +500 ms offsets, so that
    ``|dt|`` lands exactly on, just inside and just outside window edges.
    """
    n = draw(st.integers(0, max_events))
    n_obj = draw(st.integers(1, 3))
    n_acc = draw(st.integers(1, 5))
    obj = draw(st.lists(st.integers(0, n_obj - 1), min_size=n, max_size=n))
    acc = draw(st.lists(st.integers(0, n_acc - 1), min_size=n, max_size=n))
    secs = draw(st.lists(st.integers(0, 90), min_size=n, max_size=n))
    jit = draw(st.lists(st.sampled_from([0, 0, 0, 1, -1, 500]), min_size=n, max_size=n))
    ts = BASE_MS + np.array(secs, dtype=np.int64) * 1000 + np.array(jit, dtype=np.int64)
    return np.array(obj, dtype=np.int64), np.array(acc, dtype=np.int32), ts


WINDOW_SETS = [(5,), (10,), (3, 20), (5, 30, 60), (1, 7, 45)]
WIDE_WINDOW_SETS = [(5, 30, 2400), (60, 3600), (30, 600, 1200)]

Scenario = tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, ...], int]


@st.composite
def scenarios(draw: Any) -> Scenario:
    """Events plus (windows, hub_cap).

    Tight: windows up to a minute and hub_cap 1-8 on events within 90 s, so crowds and
    window edges are frequent. Wide: a window above 10 minutes (its crowd cap shrinks
    below hub_cap) on up to 40 events in bursts a few minutes apart.
    """
    if draw(st.booleans()):
        obj, acc, ts = draw(event_sets())
        return obj, acc, ts, draw(st.sampled_from(WINDOW_SETS)), draw(st.integers(1, 8))
    n = draw(st.integers(0, 40))
    n_obj = draw(st.integers(1, 2))
    obj = draw(st.lists(st.integers(0, n_obj - 1), min_size=n, max_size=n))
    acc = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    burst = draw(st.lists(st.integers(0, 8), min_size=n, max_size=n))
    secs = draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))
    ts = BASE_MS + (np.array(burst, dtype=np.int64) * 300 + np.array(secs, dtype=np.int64)) * 1000
    windows = draw(st.sampled_from(WIDE_WINDOW_SETS))
    hub_cap = draw(st.integers(20, 30))
    return np.array(obj, dtype=np.int64), np.array(acc, dtype=np.int32), ts, windows, hub_cap


def objects_of(obj: np.ndarray, acc: np.ndarray, ts: np.ndarray, n_acc: int = 6) -> ObjectEvents:
    return build_objects(obj, acc, ts, np.arange(obj.size, dtype=np.int64), n_acc, NO_CAP)


# --------------------------------------------------------------------------- references


def ref_density(obj: np.ndarray, ts: np.ndarray, wins_ms: np.ndarray) -> np.ndarray:
    """Events on the same object within +-w of each event (itself included)."""
    n = obj.size
    dens = np.zeros((n, wins_ms.size), dtype=np.int64)
    for i in range(n):
        same = obj == obj[i]
        for w, width in enumerate(wins_ms):
            dens[i, w] = int(np.sum(same & (np.abs(ts - ts[i]) <= width)))
    return dens


def ref_rows(
    obj: np.ndarray, acc: np.ndarray, ts: np.ndarray, wins_ms: np.ndarray, caps: np.ndarray
) -> Rows:
    """O(n^2) co-action rows: (a, b, object) -> (window mask, smallest |dt|)."""
    dens = ref_density(obj, ts, wins_ms)
    crowd = dens > caps[None, :]
    out: Rows = {}
    n = obj.size
    for i in range(n):
        for j in range(i + 1, n):
            if obj[i] != obj[j] or acc[i] == acc[j]:
                continue
            dt = abs(int(ts[j]) - int(ts[i]))
            mask = 0
            for w, width in enumerate(wins_ms):
                if dt <= width and not crowd[i, w] and not crowd[j, w]:
                    mask |= 1 << w
            if not mask:
                continue
            a, b = sorted((int(acc[i]), int(acc[j])))
            key = (a, b, int(obj[i]))
            if key in out:
                m0, d0 = out[key]
                out[key] = (m0 | mask, min(d0, dt))
            else:
                out[key] = (mask, dt)
    return out


def signal_rows(sig: pairs_mod.PairSignal) -> Rows:
    """The rows a PairSignal kept, in the reference's shape (and sanity of each row)."""
    out: Rows = {}
    o = sig.objects
    for p in range(sig.n_pairs):
        a, b = int(sig.pair_a[p]), int(sig.pair_b[p])
        assert a < b
        for r in range(int(sig.pair_ptr[p]), int(sig.pair_ptr[p + 1])):
            ea, eb = int(sig.row_ea[r]), int(sig.row_eb[r])
            # the row's events belong to a and b and sit on the row's object
            assert int(o.acc[ea]) == a and int(o.acc[eb]) == b
            for e in (ea, eb):
                assert o.obj_ptr[sig.row_obj[r]] <= e < o.obj_ptr[sig.row_obj[r] + 1]
            key = (a, b, int(sig.row_obj[r]))
            assert key not in out, "two rows for one (pair, object)"
            out[key] = (int(sig.row_mask[r]), abs(int(o.ts[eb]) - int(o.ts[ea])))
    return out


def ref_aggregate(
    pair_ptr: np.ndarray,
    rea: np.ndarray,
    reb: np.ndarray,
    rmask: np.ndarray,
    rcrowd: np.ndarray,
    ts: np.ndarray,
    gaps: np.ndarray,
    n_w: int,
) -> dict[str, np.ndarray]:
    n_pairs = pair_ptr.size - 1
    out = {
        k: np.zeros((n_pairs, n_w), dtype=np.float64)
        for k in ("n_obj", "episodes", "weight", "med_dt", "first", "last")
    }
    for p in range(n_pairs):
        for w in range(n_w):
            times, dts, wsum = [], [], 0.0
            for r in range(int(pair_ptr[p]), int(pair_ptr[p + 1])):
                if int(rmask[r]) >> w & 1:
                    ta, tb = int(ts[rea[r]]), int(ts[reb[r]])
                    times.append(min(ta, tb))
                    dts.append(abs(tb - ta))
                    wsum += math.log(7.0) / math.log(int(rcrowd[r]) + 5.0)
            if not times:
                continue
            times.sort()
            episodes = 1 + sum(1 for x, y in itertools.pairwise(times) if y - x > int(gaps[w]))
            out["n_obj"][p, w] = len(times)
            out["episodes"][p, w] = episodes
            out["weight"][p, w] = wsum
            out["med_dt"][p, w] = float(np.median(np.array(dts, dtype=np.float64)))
            out["first"][p, w] = times[0]
            out["last"][p, w] = times[-1]
    return out


def _signal(
    obj: np.ndarray,
    acc: np.ndarray,
    ts: np.ndarray,
    windows: tuple[int, ...],
    *,
    hub_cap: int,
    min_episodes: int = 1,
    episode_gap: int = 15,
    pool: Executor | None = None,
) -> pairs_mod.PairSignal:
    kw: dict[str, Any] = {"pool": pool} if pool is not None else {}
    return pair_signal(
        "co_action",
        objects_of(obj, acc, ts),
        windows,
        hub_cap=hub_cap,
        episode_gap=episode_gap,
        min_episodes=min_episodes,
        jitter_min=600,
        jitter_factor=24.0,
        **kw,
    )


# --------------------------------------------------------------------------- tests


@SETTINGS
@given(sc=scenarios())
def test_crowd_density_matches_reference(sc: Scenario) -> None:
    obj, acc, ts, windows, _ = sc
    o = objects_of(obj, acc, ts)
    wins = np.array(windows, dtype=np.int64) * 1000
    dens = coaction.crowd_density(o.obj_ptr, o.ts, wins)
    # the kernel's rows are the events grouped by object and time-sorted (o.event maps
    # them back); the reference works on the events as drawn
    assert np.array_equal(dens, ref_density(obj, ts, wins)[o.event])


@SETTINGS
@given(
    sc=scenarios(),
    min_episodes=st.integers(1, 3),
    chunk_events=st.sampled_from([1, 3, 8, 1 << 19]),
    row_budget=st.sampled_from([1, 4, 1 << 25]),
    threads=st.sampled_from([0, 2]),
)
def test_pair_signal_rows_match_reference(
    sc: Scenario, min_episodes: int, chunk_events: int, row_budget: int, threads: int
) -> None:
    """Rows (pair, object, mask, closest |dt|), pair selection and hypothesis counts.

    How the work is cut must not matter: ``chunk_events`` (events per kernel call),
    ``row_budget`` (raw rows per pass; a small budget splits pairs into hash partitions)
    and a thread pool running chunks concurrently.
    """
    obj, acc, ts, windows, hub_cap = sc
    caps = crowd_caps(windows, hub_cap)
    assert np.all(np.diff(caps) <= 0)  # the regime this property covers
    with pytest.MonkeyPatch.context() as mp, ThreadPoolExecutor(max(threads, 1)) as pool:
        mp.setattr(pairs_mod, "CHUNK_EVENTS", chunk_events)
        mp.setattr(pairs_mod, "ROW_BUDGET", row_budget)
        mp.setattr(pairs_mod, "SPLIT_ROWS", 1)  # every splittable step on two threads
        sig = _signal(
            obj,
            acc,
            ts,
            windows,
            hub_cap=hub_cap,
            min_episodes=min_episodes,
            pool=pool if threads else None,
        )
    wins = np.array(windows, dtype=np.int64) * 1000
    ref = ref_rows(obj, acc, ts, wins, caps)  # on the events as drawn

    per_pair: dict[tuple[int, int], int] = defaultdict(int)
    pair_windows: dict[tuple[int, int], int] = defaultdict(int)
    for (a, b, _), (mask, _) in ref.items():
        per_pair[a, b] += 1
        pair_windows[a, b] |= mask
    kept = {k: v for k, v in ref.items() if per_pair[k[0], k[1]] >= min_episodes}
    assert signal_rows(sig) == kept
    assert sig.co_acting_pairs == len(per_pair)
    assert sig.n_hypotheses == sum(bin(m).count("1") for m in pair_windows.values())
    # pairs come out sorted by (a, b), each listed once
    assert np.all(np.diff(sig.pair_key) > 0)


@SETTINGS
@given(sc=scenarios())
def test_pair_signal_aggregates_match_reference(sc: Scenario) -> None:
    """n_obj / episodes / weight / median dt / first / last of the kept rows, and crowd."""
    obj, acc, ts, windows, hub_cap = sc
    gap_s = 15
    sig = _signal(obj, acc, ts, windows, hub_cap=hub_cap, episode_gap=gap_s)
    o = sig.objects
    wins = np.array(windows, dtype=np.int64) * 1000
    gaps = np.array([max(gap_s, 2 * w) * 1000 for w in windows], dtype=np.int64)
    ref = ref_aggregate(
        sig.pair_ptr, sig.row_ea, sig.row_eb, sig.row_mask, sig.row_crowd, o.ts, gaps, len(wins)
    )
    assert np.array_equal(sig.n_obj, ref["n_obj"])
    assert np.array_equal(sig.episodes, ref["episodes"])
    assert np.allclose(sig.weight, ref["weight"], rtol=1e-12, atol=0)
    assert np.array_equal(sig.med_dt, ref["med_dt"])
    assert np.array_equal(sig.first, ref["first"])
    assert np.array_equal(sig.last, ref["last"])
    # crowd of a kept row: the larger density of its two events at the tightest window
    # where that event pair co-acts
    dens = ref_density(obj, ts, wins)[o.event]  # rows of the signal's event order
    caps = crowd_caps(windows, hub_cap)
    for r in range(sig.row_ea.size):
        ea, eb = int(sig.row_ea[r]), int(sig.row_eb[r])
        dt = abs(int(o.ts[eb]) - int(o.ts[ea]))
        first = next(
            w
            for w in range(len(wins))
            if dt <= wins[w] and dens[ea, w] <= caps[w] and dens[eb, w] <= caps[w]
        )
        assert sig.row_crowd[r] == min(255, max(dens[ea, first], dens[eb, first]))


@SETTINGS
@given(data=st.data())
def test_aggregate_pairs_kernel_random_rows(data: st.DataObject) -> None:
    """aggregate_pairs on arbitrary rows (incl. single-row pairs and empty windows)."""
    n_w = data.draw(st.integers(1, 3))
    n_ev = 12
    ts = BASE_MS + np.array(
        data.draw(st.lists(st.integers(0, 200_000), min_size=n_ev, max_size=n_ev)), dtype=np.int64
    )
    sizes = data.draw(st.lists(st.integers(1, 6), min_size=1, max_size=6))
    m = sum(sizes)
    pair_ptr = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    rea = np.array(data.draw(st.lists(st.integers(0, n_ev - 1), min_size=m, max_size=m)))
    reb = np.array(data.draw(st.lists(st.integers(0, n_ev - 1), min_size=m, max_size=m)))
    rmask = np.array(
        data.draw(st.lists(st.integers(1, (1 << n_w) - 1), min_size=m, max_size=m)),
        dtype=np.uint8,
    )
    rcrowd = np.array(
        data.draw(st.lists(st.integers(2, 255), min_size=m, max_size=m)), dtype=np.uint8
    )
    wins = np.array([10_000, 60_000, 600_000][:n_w], dtype=np.int64)
    gaps = np.array(data.draw(st.lists(st.integers(0, 60_000), min_size=n_w, max_size=n_w)))
    got = coaction.aggregate_pairs(
        pair_ptr,
        rea.astype(np.int32),
        reb.astype(np.int32),
        rmask,
        rcrowd,
        ts,
        wins,
        gaps.astype(np.int64),
        n_w,
    )
    ref = ref_aggregate(pair_ptr, rea, reb, rmask, rcrowd, ts, gaps, n_w)
    names = ("n_obj", "episodes", "weight", "med_dt", "first", "last")
    for name, arr in zip(names, got, strict=True):
        assert np.allclose(arr, ref[name], rtol=1e-12, atol=0), name


@pytest.mark.parametrize("window", [1, 60, 600, 14_400])
def test_window_edge_is_inclusive(window: int) -> None:
    """|dt| == window co-acts; window + 1 ms does not (windows in s, times in ms)."""
    w_ms = window * 1000
    # object 0: exactly on the edge; object 1: 1 ms past it; object 2: 1 ms inside
    obj = np.array([0, 0, 1, 1, 2, 2], dtype=np.int64)
    acc = np.array([0, 1, 2, 3, 0, 3], dtype=np.int32)
    ts = BASE_MS + np.array([0, w_ms, 0, w_ms + 1, 5, 5 + w_ms - 1], dtype=np.int64)
    sig = _signal(obj, acc, ts, (window,), hub_cap=200)
    got = signal_rows(sig)
    assert got == {(0, 1, 0): (1, w_ms), (0, 3, 2): (1, w_ms - 1)}
    # the other order of the same two events (b before a) is the same row
    ts2 = BASE_MS + np.array([w_ms, 0], dtype=np.int64)
    sig2 = _signal(obj[:2], acc[:2], ts2, (window,), hub_cap=200)
    assert signal_rows(sig2) == {(0, 1, 0): (1, w_ms)}


def test_window_masks_per_window() -> None:
    """One pair, three objects at dt = 5 s, 30 s and 60 s + 1 ms under windows 5/30/60."""
    obj = np.array([0, 0, 1, 1, 2, 2], dtype=np.int64)
    acc = np.array([0, 1, 0, 1, 1, 0], dtype=np.int32)
    ts = BASE_MS + np.array([0, 5_000, 0, 30_000, 0, 60_001], dtype=np.int64)
    sig = _signal(obj, acc, ts, (5, 30, 60), hub_cap=200)
    assert signal_rows(sig) == {
        (0, 1, 0): (0b111, 5_000),
        (0, 1, 1): (0b110, 30_000),
    }
    assert sig.n_obj.tolist() == [[1, 2, 2]]


def test_dedupe_keeps_closest_and_ors_masks() -> None:
    """Several co-actions of one pair on one object: one row, the smallest |dt|."""
    # a at 0 s and 100 s; b at 40 s and 103 s -> |dt| in {40, 100, 60, 3}; windows 5/60
    obj = np.zeros(4, dtype=np.int64)
    acc = np.array([0, 1, 0, 1], dtype=np.int32)
    ts = BASE_MS + np.array([0, 40_000, 100_000, 103_000], dtype=np.int64)
    sig = _signal(obj, acc, ts, (5, 60), hub_cap=200)
    assert signal_rows(sig) == {(0, 1, 0): (0b11, 3_000)}
    r = int(sig.pair_ptr[0])
    assert {int(sig.objects.event[sig.row_ea[r]]), int(sig.objects.event[sig.row_eb[r]])} == {
        2,
        3,
    }


def test_crowded_events_yield_no_pairs() -> None:
    """A crowd (more than hub_cap events within +-w) forms no pair at that window."""
    # 5 accounts within 4 s on one object, hub_cap 4: every event has density 5 > 4
    obj = np.zeros(5, dtype=np.int64)
    acc = np.arange(5, dtype=np.int32)
    ts = BASE_MS + np.arange(5, dtype=np.int64) * 1000
    assert signal_rows(_signal(obj, acc, ts, (10,), hub_cap=4)) == {}
    assert len(signal_rows(_signal(obj, acc, ts, (10,), hub_cap=5))) == 10


def test_crowd_caps_never_grow_with_the_window() -> None:
    """The kernels rely on caps that shrink (or stay) as windows widen."""
    for hub_cap in (1, 3, 9, 10, 50, 200, 1000):
        caps = crowd_caps((30, 60, 600, 2400, 14_400, 86_400), hub_cap)
        assert caps[0] == hub_cap
        assert all(caps[k + 1] <= caps[k] for k in range(len(caps) - 1)), (hub_cap, caps)


def test_crowd_rule_holds_for_small_hub_cap_and_wide_window() -> None:
    windows = (60, 2400)
    hub_cap = 4
    # x, y, z at 40-50 s, i at 100 s, j at 150 s: within +-60 s i sees 5 events (> 4, a
    # crowd), j sees 2; within +-2400 s everyone sees 5 (a crowd at the wide window too).
    obj = np.zeros(5, dtype=np.int64)
    acc = np.array([2, 3, 4, 0, 1], dtype=np.int32)
    ts = BASE_MS + np.array([40_000, 45_000, 50_000, 100_000, 150_000], dtype=np.int64)
    sig = _signal(obj, acc, ts, windows, hub_cap=hub_cap)
    wins = np.array(windows, dtype=np.int64) * 1000
    ref = ref_rows(obj, acc, ts, wins, crowd_caps(windows, hub_cap))
    # i is in a crowd at both windows, so (i, j) never co-acts; nothing else is close
    assert (0, 1, 0) not in ref
    assert signal_rows(sig) == ref
    # with one event fewer in the crowd, i and j co-act at 60 s
    keep = np.array([True, True, False, True, True])
    sig2 = _signal(obj[keep], acc[keep], ts[keep], windows, hub_cap=hub_cap)
    ref2 = ref_rows(obj[keep], acc[keep], ts[keep], wins, crowd_caps(windows, hub_cap))
    assert signal_rows(sig2) == ref2
    assert ref2[0, 1, 0][0] & 0b01


def test_chunks_partitions_and_threads_do_not_change_the_signal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pair_signal cuts the work in object chunks (CHUNK_EVENTS), pair partitions
    (ROW_BUDGET) and threads; on a busier random input the result must not change."""
    rng = np.random.default_rng(5)
    n = 400
    obj = rng.integers(0, 25, n).astype(np.int64)
    acc = rng.integers(0, 12, n).astype(np.int32)
    ts = BASE_MS + rng.integers(0, 3_600, n).astype(np.int64) * 1000
    objects = build_objects(obj, acc, ts, np.arange(n, dtype=np.int64), 12, NO_CAP)
    kw: dict[str, Any] = dict(
        hub_cap=6, episode_gap=60, min_episodes=2, jitter_min=600, jitter_factor=24.0
    )
    whole = pair_signal("co_action", objects, (60, 600), **kw)
    assert whole.n_pairs > 10
    monkeypatch.setattr(pairs_mod, "CHUNK_EVENTS", 7)
    monkeypatch.setattr(pairs_mod, "ROW_BUDGET", 50)
    monkeypatch.setattr(pairs_mod, "SPLIT_ROWS", 1)  # pair order, scans, aggregates halved
    assert len(pairs_mod._chunks(objects.obj_ptr, 7)) > 10
    with ThreadPoolExecutor(2) as pool:
        for cut in (
            pair_signal("co_action", objects, (60, 600), **kw),
            pair_signal("co_action", objects, (60, 600), pool=pool, **kw),
        ):
            assert signal_rows(cut) == signal_rows(whole)
            assert np.array_equal(cut.pair_key, whole.pair_key)
            for name in ("episodes", "n_obj", "med_dt", "first", "last", "log10_p", "row_obj"):
                assert np.array_equal(getattr(cut, name), getattr(whole, name)), name
            assert np.allclose(cut.weight, whole.weight, rtol=1e-12, atol=0)
            assert cut.n_hypotheses == whole.n_hypotheses
            assert cut.co_acting_pairs == whole.co_acting_pairs


def test_cap_per_account_keeps_first_events() -> None:
    """Events of one account on one object beyond the cap are dropped (earliest kept)."""
    obj = np.zeros(6, dtype=np.int64)
    acc = np.array([0, 0, 1, 0, 0, 1], dtype=np.int32)
    ts = BASE_MS + np.array([50, 10, 20, 30, 40, 60], dtype=np.int64) * 1000
    o = build_objects(obj, acc, ts, np.arange(6, dtype=np.int64), 2, 2)
    kept = sorted(o.event.tolist())
    assert kept == [1, 2, 3, 5]  # account 0: 10 s and 30 s; account 1: both
    assert o.acc_cnt.tolist() == [2, 2]
    assert bool(o.repeated[0])


@SETTINGS
@given(data=st.data())
def test_select_groups_rows_by_pair_like_a_stable_sort(data: st.DataObject) -> None:
    """``_select`` against a NumPy lexsort by (a, b, row) and a filter on run length, one
    and two threads (with more kept pairs per account than the in-cache insertion
    sort's 24)."""
    n_acc = data.draw(st.integers(2, 40))
    min_rows = data.draw(st.integers(1, 3))
    n_ev = 40
    acc = np.array(
        data.draw(st.lists(st.integers(0, n_acc - 1), min_size=n_ev, max_size=n_ev)),
        dtype=np.int32,
    )
    m = data.draw(st.integers(0, 200))
    draw = st.lists(st.integers(0, n_ev - 1), min_size=m, max_size=m)
    ea = np.array(data.draw(draw), dtype=np.int64)
    eb = np.array(data.draw(draw), dtype=np.int64)
    # rows keep the lower account's event first, as the enumeration writes them
    swap = acc[ea] > acc[eb]
    rea = np.where(swap, eb, ea).astype(np.int32)
    reb = np.where(swap, ea, eb).astype(np.int32)
    rmask = np.arange(m, dtype=np.uint8) % 7 + 1
    objects = ObjectEvents(
        obj_ptr=np.array([0, n_ev], dtype=np.int64), acc=acc,
        ts=np.arange(n_ev, dtype=np.int64), event=np.arange(n_ev, dtype=np.int64),
        n_accounts=n_acc, acc_ptr=np.zeros(n_acc + 1, dtype=np.int64),
        acc_obj=np.zeros(0, dtype=np.int32), acc_cnt=np.zeros(0, dtype=np.int32),
        repeated=np.zeros(1, dtype=np.bool_), multi=np.zeros(n_ev, dtype=np.bool_),
    )  # fmt: skip
    ref = np.lexsort((np.arange(m), acc[reb], acc[rea]))
    key = acc[rea[ref]].astype(np.int64) * n_acc + acc[reb[ref]]
    heads = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1]))) if m else np.zeros(0, int)
    run = np.diff(np.append(heads, m))
    keep_run = run >= min_rows
    kept_runs = zip(heads[keep_run], run[keep_run], strict=True)
    ref_rows = [r for h, n in kept_runs for r in ref[h : h + n]]
    pair_mask = np.bitwise_or.reduceat(rmask[ref], heads) if m else np.zeros(0, np.uint8)
    ref_window = [int(((pair_mask >> w) & 1).sum()) for w in range(3)]
    with ThreadPoolExecutor(2) as pool, pytest.MonkeyPatch.context() as mp:
        mp.setattr(pairs_mod, "SPLIT_ROWS", 1)
        for p in (None, pool):
            rows, run_len, per_window, n_pairs = pairs_mod._select(
                rea, reb, rmask, objects, 3, min_rows, p
            )
            assert rows.tolist() == ref_rows
            assert run_len.tolist() == run[keep_run].tolist()
            assert per_window.tolist() == ref_window
            assert n_pairs == heads.size


@SETTINGS
@given(data=st.data())
def test_group_by_object_is_a_stable_sort_by_object_time_account(data: st.DataObject) -> None:
    """``group_by_object`` against a NumPy lexsort (ties of time within an object, objects
    out of time order, fully identical events keeping their input order), with the
    accounts and times gathered in that order."""
    n = data.draw(st.integers(0, 80))
    n_obj = data.draw(st.integers(1, 5))
    draw = st.lists(st.integers(0, n_obj - 1), min_size=n, max_size=n)
    obj = np.array(data.draw(draw), dtype=np.int64)
    ts = np.array(data.draw(st.lists(st.integers(0, 6), min_size=n, max_size=n)), np.int64)
    if data.draw(st.booleans()):
        ts = np.sort(ts)  # time-ordered input: the fast path
    acc = np.array(data.draw(st.lists(st.integers(0, 4), min_size=n, max_size=n)), np.int32)
    order, obj_ptr, acc_g, ts_g = coaction.group_by_object(obj, ts, acc, n_obj)
    ref = np.lexsort((acc, ts, obj))
    assert order.tolist() == ref.tolist()
    assert obj_ptr.tolist() == [0, *np.cumsum(np.bincount(obj, minlength=n_obj)).tolist()]
    assert acc_g.tolist() == acc[ref].tolist()
    assert ts_g.tolist() == ts[ref].tolist()
