"""How ingest cuts events into batches and hands them to concurrent writers (no Neo4j)."""

from __future__ import annotations

import random
import threading
import time

import numpy as np
import pytest

from cib_detect.errors import InvalidInput
from cib_detect.model import EventTable
from cib_detect.store.ingest_plan import BatchScheduler, Claim, plan_batches


def _events(n: int, n_accounts: int, n_targets: int, seed: int = 0) -> EventTable:
    rng = np.random.default_rng(seed)
    # heavy-tailed targets, like the benchmark worlds: a few cells get far more events
    target = np.minimum(rng.zipf(1.6, n) - 1, n_targets - 1).astype(np.int32)
    return EventTable(
        account=rng.integers(0, n_accounts, n).astype(np.int32),
        action=np.zeros(n, np.int32),
        target=target,
        ts=rng.integers(0, 10**9, n).astype(np.int64),
        accounts=[f"a{i:05d}" for i in range(n_accounts)],
        actions=["stream"],
        targets=[f"t{i:05d}" for i in range(n_targets)],
    )


def _drain(schedule: BatchScheduler) -> list[Claim]:
    out = []
    while (claim := schedule.take()) is not None:
        out.append(claim)
        schedule.release(claim)
    return out


def test_batches_are_grouped_by_account_and_ordered_by_target() -> None:
    ev = _events(5_000, 300, 200)
    batches = plan_batches(ev, np.arange(ev.n, dtype=np.int64), 700)
    assert [b.size for b in batches] == [700] * 7 + [100]
    assert np.array_equal(np.sort(np.concatenate(batches)), np.arange(ev.n))
    for b in batches:
        assert np.all(np.diff(ev.target[b]) >= 0)
    # grouped by account: consecutive batches cover consecutive account ranges
    highs = [int(ev.account[b].max()) for b in batches]
    lows = [int(ev.account[b].min()) for b in batches]
    assert all(lows[i + 1] >= highs[i] for i in range(len(batches) - 1))


@pytest.mark.parametrize("size", [0, 100_001])
def test_batch_size_out_of_range_is_refused(size: int) -> None:
    ev = _events(10, 5, 5)
    with pytest.raises(InvalidInput, match="batch size"):
        BatchScheduler(ev, np.arange(ev.n, dtype=np.int64), size, 2)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_every_row_is_handed_out_once(workers: int) -> None:
    ev = _events(20_000, 500, 400, seed=workers)
    rows = np.sort(np.random.default_rng(1).choice(ev.n, 15_000, replace=False)).astype(np.int64)
    schedule = BatchScheduler(ev, rows, 600, workers)
    claims = _drain(schedule)
    assert all(0 < c.rows.size <= 600 for c in claims)
    assert np.array_equal(np.sort(np.concatenate([c.rows for c in claims])), rows)
    if workers == 1:
        assert len(schedule.cells) == 1
    else:
        g = 2 * workers
        assert all(0 <= c.row < g and 0 <= c.col < g for c in schedule.cells)
        assert len(schedule.cells) > g  # the rows spread over the grid
    assert schedule.take() is None


def test_concurrent_batches_share_no_account_and_no_target() -> None:
    ev = _events(30_000, 800, 600, seed=7)
    schedule = BatchScheduler(ev, np.arange(ev.n, dtype=np.int64), 400, 3)
    active: dict[int, tuple[set[int], set[int]]] = {}
    guard = threading.Lock()
    clashes: list[str] = []
    handed: list[np.ndarray] = []
    max_active = [0]

    def writer(k: int) -> None:
        rng = random.Random(k)
        while (claim := schedule.take()) is not None:
            accounts = set(ev.account[claim.rows].tolist())
            targets = set(ev.target[claim.rows].tolist())
            with guard:
                for other, (oa, ot) in active.items():
                    if accounts & oa or targets & ot:
                        clashes.append(f"writer {k} and {other}")
                active[k] = (accounts, targets)
                handed.append(claim.rows)
                max_active[0] = max(max_active[0], len(active))
            time.sleep(rng.random() * 0.002)
            with guard:
                del active[k]
            schedule.release(claim)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert clashes == []
    assert max_active[0] >= 2  # the writers did run side by side
    assert np.array_equal(np.sort(np.concatenate(handed)), np.arange(ev.n))


def test_stop_releases_waiting_writers() -> None:
    ev = _events(2_000, 50, 50)
    # one cell only (one writer's grid): a second writer must wait while it is held
    schedule = BatchScheduler(ev, np.arange(ev.n, dtype=np.int64), 100, 1)
    held = schedule.take()
    assert held is not None
    got: list[Claim | None] = []
    waiter = threading.Thread(target=lambda: got.append(schedule.take()))
    waiter.start()
    time.sleep(0.05)
    assert waiter.is_alive()  # blocked: the only cell is held
    schedule.stop()
    waiter.join(timeout=10)
    assert not waiter.is_alive()
    assert got == [None]
    schedule.release(held)
    assert schedule.take() is None
