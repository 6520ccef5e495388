"""``cib-detect ingest``: idempotent by event id, exact counts, concurrent ingests, bad rows."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from neo4j_helpers import count, stored_events

from cib_detect.io import read_events
from cib_detect.model import EventTable
from cib_detect.store import columns
from cib_detect.store.graph_store import GraphStore
from cib_detect.store.ingest import (
    BatchWriter,
    batch_params,
    event_ids,
    generated_event_ids,
    ingest_events,
    ingest_file,
)
from cib_detect.store.ingest_plan import plan_batches

pytestmark = pytest.mark.neo4j
RunCli = Callable[..., subprocess.CompletedProcess[str]]
T0 = 1_767_225_600


def test_reingest_changes_nothing(clean_db: GraphStore, world_parquet: Path) -> None:
    n = pq.ParquetFile(world_parquet).metadata.num_rows
    seen: list[tuple[int, int]] = []
    first, info = ingest_file(clean_db, world_parquet, progress=lambda d, t: seen.append((d, t)))
    assert (first.new, first.duplicate, first.invalid) == (n, 0, 0)
    assert seen[0] == (0, n) and seen[-1] == (n, n)
    assert stored_events(clean_db) == n
    accounts = count(clean_db, "MATCH (a:Account) RETURN count(a) AS n")
    second, _ = ingest_file(clean_db, world_parquet)
    assert (second.new, second.duplicate, second.invalid) == (0, n, 0)
    assert second.duplicate_stored == n
    assert stored_events(clean_db) == n
    assert count(clean_db, "MATCH (a:Account) RETURN count(a) AS n") == accounts
    assert info.accepted == n


def test_batch_rerun_after_ambiguous_commit_counts_once(
    clean_db: GraphStore, world_parquet: Path
) -> None:
    """A batch whose commit outcome is unknown is re-run with the same token: the marker
    written with the events proves it committed, so its events count as new, once."""
    events, _ = read_events(world_parquet)
    ids = event_ids(events)
    batch = plan_batches(events, np.arange(events.n), 700)[0]
    params = batch_params(events, ids, None, batch)
    writer = BatchWriter(clean_db, source="test")
    first = writer.write(params, token="tok-1")
    assert (first.new, first.duplicate, first.replayed) == (700, 0, False)
    again = writer.write(params, token="tok-1")  # the retry after an ambiguous commit
    assert (again.new, again.duplicate, again.replayed) == (700, 0, True)
    other = writer.write(params, token="tok-2")  # a different batch with the same events
    assert (other.new, other.duplicate, other.replayed) == (0, 700, False)
    assert stored_events(clean_db) == 700


def _slice(table: pa.Table, lo: int, hi: int, path: Path) -> Path:
    pq.write_table(table.slice(lo, hi - lo), path)
    return path


def test_concurrent_overlapping_ingests_create_no_duplicates(
    clean_db: GraphStore, world_parquet: Path, tmp_path: Path, run_cli: RunCli
) -> None:
    table = pq.read_table(world_parquet)
    n = table.num_rows
    a = _slice(table, 0, (2 * n) // 3, tmp_path / "a.parquet")
    b = _slice(table, n // 3, n, tmp_path / "b.parquet")
    overlap = (2 * n) // 3 - n // 3
    args = ["--json", "--batch-size", "1000", "--workers", "2"]
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(run_cli, ["ingest", p, *args]) for p in (a, b)]
        procs = [f.result() for f in futures]
    docs = []
    for p in procs:
        assert p.returncode == 0, p.stderr
        docs.append(json.loads(p.stdout))
    assert stored_events(clean_db) == n
    assert sum(d["new"] for d in docs) == n
    assert sum(d["duplicate"] for d in docs) == overlap
    assert count(clean_db, "MATCH ()-[e:ACTED]->() RETURN count(DISTINCT e.eventId) AS n") == n
    # in-process threads, same files again: all duplicates, nothing created
    with ThreadPoolExecutor(2) as pool:
        again = list(pool.map(lambda p: ingest_file(clean_db, p, batch_size=1000)[0], (a, b)))
    assert [r.new for r in again] == [0, 0]
    assert sum(r.duplicate for r in again) == n + overlap
    assert stored_events(clean_db) == n


def _bad_csv(path: Path) -> Path:
    lines = ["event_id,account_id,action,target,timestamp,text"]
    for i in range(50):
        lines.append(f"e{i},acc{i % 7},stream,t{i % 5},{T0 + 13 * i},")
    lines.insert(3, "e900,acc9,stream,t1,not-a-time,")  # data row 3
    lines.insert(10, "e901,,stream,t1,1767225600,")  # data row 10: empty account
    lines.insert(20, "e902,x,stream")  # data row 20: 3 fields
    lines.append("e5,acc5,stream,t0,1767225600,")  # duplicate id in the file: first wins
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_bad_rows_are_reported_and_good_rows_stored(
    clean_db: GraphStore, tmp_path: Path, run_cli: RunCli
) -> None:
    src = _bad_csv(tmp_path / "events.csv")
    proc = run_cli(["ingest", src, "--json"])
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["new"], doc["duplicate"], doc["invalid"]) == (50, 1, 3)
    assert doc["input"]["rejected_by_reason"] == {
        "<row>: expected 6 fields, found 3": 1,
        "account_id: empty": 1,
        "timestamp: not epoch seconds, epoch milliseconds or ISO-8601": 1,
    }
    assert stored_events(clean_db) == 50
    ids = clean_db.read("MATCH ()-[e:ACTED]->() RETURN e.eventId AS id")
    assert {r["id"] for r in ids} == {f"e{i}" for i in range(50)}
    ts = count(clean_db, "MATCH ()-[e:ACTED {eventId: 'e5'}]->() RETURN e.ts AS ts")
    assert ts == (T0 + 13 * 5) * 1000  # epoch ms, the first row with the id
    # human summary on stderr
    text = run_cli(["ingest", src])
    assert text.returncode == 0
    assert "0 new, 51 duplicate, 3 invalid" in " ".join(text.stderr.split())


def test_strict_stops_before_writing(clean_db: GraphStore, tmp_path: Path, run_cli: RunCli) -> None:
    proc = run_cli(["ingest", _bad_csv(tmp_path / "events.csv"), "--strict"])
    assert proc.returncode == 2
    assert "invalid row" in proc.stderr
    assert stored_events(clean_db) == 0


def test_events_without_ids_get_deterministic_ids(clean_db: GraphStore, tmp_path: Path) -> None:
    lines = ["account_id,action,target,timestamp,text"]
    for i in range(30):
        lines.append(f"acc{i % 4},post,t{i % 3},{T0 + i},hello {i % 2}")
    lines.append(f"acc0,post,t0,{T0},hello 0")  # identical to row 1: the same event
    lines.append(f"acc0,post,t0,{T0},")  # same fields, no text: another event
    src = tmp_path / "noids.csv"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    events, _ = read_events(src)
    ids = generated_event_ids(events).to_pylist()
    assert all(i.startswith("h-") and len(i) == 34 for i in ids)
    assert ids == generated_event_ids(read_events(src)[0]).to_pylist()
    first = ingest_events(clean_db, events)
    assert (first.new, first.duplicate_in_input, first.duplicate_stored) == (31, 1, 0)
    second = ingest_events(clean_db, events)
    assert (second.new, second.duplicate_stored) == (0, 31)
    assert stored_events(clean_db) == 31


def test_repeated_ids_in_a_file_count_once(clean_db: GraphStore, tmp_path: Path) -> None:
    """The reader keeps the first row of a repeated id; ingest stores that one."""
    lines = ["event_id,account_id,action,target,timestamp"]
    lines += [f"e{i},acc{i},stream,t{i % 2},{T0 + i}" for i in range(5)]
    lines.append(f"e2,someone-else,share,t9,{T0 + 99}")
    src = tmp_path / "repeats.csv"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result, info = ingest_file(clean_db, src)
    assert (result.new, result.duplicate_in_input, info.duplicates) == (5, 1, 1)
    stored = clean_db.read(
        "MATCH (a:Account)-[e:ACTED {eventId: 'e2'}]->(t:Target) "
        "RETURN a.accountId AS a, e.action AS action, t.targetId AS t"
    )
    assert stored == [{"a": "acc2", "action": "stream", "t": "t0"}]
    assert stored_events(clean_db) == 5


def test_unreachable_neo4j_is_unavailable(tmp_path: Path, run_cli: RunCli) -> None:
    proc = run_cli(["ingest", _bad_csv(tmp_path / "e.csv"), "--neo4j", "bolt://127.0.0.1:1"])
    assert proc.returncode == 2
    assert "unavailable" in proc.stderr.lower()


def _copied(store: GraphStore) -> list[tuple[str, str, str, int]]:
    """Every event of the receipts' columnar copies as (account, target, action, ts)."""
    p = columns.plan(store)
    out: list[tuple[str, str, str, int]] = []
    for c in columns.read_copies(store, p.tokens):
        assert c is not None and c.event_ids is None  # the copies hold no ids
        out.extend(
            (c.accounts[a], c.targets[t], c.actions[x], ts)
            for a, t, x, ts in zip(
                c.account.tolist(), c.target.tolist(), c.action.tolist(), c.ts.tolist(),
                strict=True,
            )
        )  # fmt: skip
    return sorted(out)


def _rows(events: EventTable, rows: Any) -> list[tuple[str, str, str, int]]:
    return sorted(
        (events.accounts[int(events.account[r])], events.targets[int(events.target[r])],
         events.actions[int(events.action[r])], int(events.ts[r]))
        for r in rows
    )  # fmt: skip


def test_optimistic_create_falls_back_to_the_check_on_a_stored_id(
    clean_db: GraphStore, world_parquet: Path
) -> None:
    """An optimistic batch with a stored id fails on the constraint as a whole and is
    re-run checked: the same counts, duplicate rows and copy as a checked write."""
    events, _ = read_events(world_parquet)
    ids = event_ids(events)
    batch = plan_batches(events, np.arange(events.n), 600)[0]
    writer = BatchWriter(clean_db, source="test")
    stored = writer.write(batch_params(events, ids, None, batch[[5, 77, 400]]))
    assert (stored.new, stored.optimistic) == (3, False)
    r = writer.write(batch_params(events, ids, None, batch), optimistic=True)
    assert (r.new, r.duplicate, r.attempts, r.replayed) == (597, 3, 1, False)
    assert (r.optimistic, r.optimistic_miss) == (False, True)
    assert r.duplicate_rows == (5, 77, 400)
    assert stored_events(clean_db) == 600
    assert _copied(clean_db) == _rows(events, batch.tolist())
    # all new: written without the check
    nxt = plan_batches(events, np.arange(events.n), 600)[1]
    params = batch_params(events, ids, None, nxt)
    r2 = writer.write(params, token="tok-opt", optimistic=True)
    assert (r2.new, r2.duplicate, r2.optimistic, r2.optimistic_miss) == (600, 0, True, False)
    # re-run after an ambiguous commit: the receipt answers, nothing is created again
    r3 = writer.write(params, token="tok-opt", optimistic=True)
    assert (r3.new, r3.duplicate, r3.replayed, r3.optimistic_miss) == (600, 0, True, False)
    assert stored_events(clean_db) == 1200


def test_ingest_goes_optimistic_after_a_clean_batch_and_back_on_a_miss(
    clean_db: GraphStore, world_parquet: Path
) -> None:
    events, _ = read_events(world_parquet)
    ids = event_ids(events)
    batches = plan_batches(events, np.arange(events.n), 1000)
    last = batches[-1]
    BatchWriter(clean_db, source="test").write(batch_params(events, ids, None, last[:10]))
    result = ingest_events(clean_db, events, batch_size=1000, workers=1)
    assert (result.new, result.duplicate_stored) == (events.n - 10, 10)
    assert result.batches == len(batches)
    # the first batch is checked, the next ones are optimistic up to the last one, which
    # holds the stored ids: its optimistic create fails and it is re-run checked
    assert result.optimistic_batches == len(batches) - 2
    assert (result.optimistic_misses, result.retries) == (1, 0)
    assert stored_events(clean_db) == events.n
    assert _copied(clean_db) == _rows(events, range(events.n))
    again = ingest_events(clean_db, events, batch_size=1000, workers=1)
    assert (again.new, again.duplicate_stored) == (0, events.n)
    assert (again.optimistic_batches, again.optimistic_misses) == (0, 0)
