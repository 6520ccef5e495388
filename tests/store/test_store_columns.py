"""The columnar copies on ingest receipts: export from them equals the relationship scan,
falls back to the scan when they are incomplete, and erasure and retention keep them
exact (no erased account, no expired event left in a copy)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from neo4j_helpers import count

from cib_detect.io import read_events
from cib_detect.model import EventTable
from cib_detect.store.erasure import apply_retention, erase_account
from cib_detect.store.export import ExportStats, events_digest, export_events
from cib_detect.store.graph_store import GraphStore
from cib_detect.store.ingest import ingest_events, ingest_file

pytestmark = pytest.mark.neo4j
DAY_MS = 86_400_000


def _both(
    store: GraphStore, **kw: object
) -> tuple[tuple[EventTable, ExportStats], tuple[EventTable, ExportStats]]:
    copies = export_events(store, **kw)  # type: ignore[arg-type]
    scan = export_events(store, use_copies=False, **kw)  # type: ignore[arg-type]
    return copies, scan


def _assert_same(a: EventTable, b: EventTable) -> None:
    assert a.n == b.n
    assert events_digest(a) == events_digest(b)


def test_export_from_copies_equals_the_scan(clean_db: GraphStore, world_parquet: Path) -> None:
    ingest_file(clean_db, world_parquet, batch_size=3_000)
    # a second ingest of part of the file: receipts of duplicates carry no copy
    events, _ = read_events(world_parquet, keep_event_ids=True)
    ingest_events(clean_db, events, batch_size=7_000)
    (c, cs), (s, ss) = _both(clean_db)
    assert (cs.source, ss.source) == ("copies", "relationships")
    assert c.n == events.n
    _assert_same(c, s)
    ts = np.sort(events.ts)
    since, until = int(ts[ts.size // 3]), int(ts[(2 * ts.size) // 3])
    (cw, cws), (sw, _) = _both(clean_db, since=since, until=until, page_events=1_000, workers=3)
    assert cws.source == "copies" and cws.pages > 1
    assert cw.n == int(((events.ts >= since) & (events.ts < until)).sum())
    _assert_same(cw, sw)
    assert cw.text is not None and cw.text.null_count < cw.n  # texts survive the window
    # the copies hold no event ids: an export with ids scans the relationships
    with_ids, st = export_events(clean_db, with_event_ids=True)
    assert st.source == "relationships" and with_ids.event_id is not None
    assert with_ids.n == c.n and sorted(with_ids.event_id.to_pylist()) == sorted(
        events.event_id.to_pylist()  # type: ignore[union-attr]
    )
    no_ids = count(
        clean_db, "MATCH (b:IngestBatch) WHERE b.colEventIds IS NOT NULL RETURN count(b)"
    )
    assert no_ids == 0


def test_incomplete_copies_fall_back_to_the_scan(clean_db: GraphStore, world_parquet: Path) -> None:
    ingest_file(clean_db, world_parquet)
    before, _ = export_events(clean_db)
    # an event deleted by hand: the copies no longer match the relationships
    clean_db.write("MATCH ()-[e:ACTED]->() WITH e LIMIT 1 DELETE e")
    after, stats = export_events(clean_db)
    assert stats.source == "relationships" and after.n == before.n - 1
    # the event ingested again: its old receipt still holds it, so the copies hold one
    # event too many
    assert ingest_file(clean_db, world_parquet)[0].new == 1
    again, stats = export_events(clean_db)
    assert stats.source == "relationships"
    _assert_same(again, before)
    # a receipt without its copy (as if ingested before copies existed)
    clean_db.write("MATCH (b:IngestBatch) WHERE b.colEvents > 0 SET b.colEvents = null")
    ingest_file(clean_db, world_parquet)  # nothing new
    last, stats = export_events(clean_db)
    assert stats.source == "relationships"
    _assert_same(last, before)


def test_erasure_and_retention_rewrite_the_copies(
    clean_db: GraphStore, world_parquet: Path
) -> None:
    ingest_file(clean_db, world_parquet, batch_size=2_000)
    full, _ = export_events(clean_db, with_event_ids=True)
    busiest = int(np.bincount(full.account).argmax())
    account = full.accounts[busiest]
    report = erase_account(clean_db, account)
    assert report.events == int((full.account == busiest).sum())
    (c, cs), (s, _) = _both(clean_db)
    assert cs.source == "copies" and account not in c.accounts
    assert c.n == full.n - report.events
    _assert_same(c, s)
    holding = count(clean_db, "MATCH (b:IngestBatch) WHERE $a IN b.colAccounts RETURN count(b)",
                    a=account)  # fmt: skip
    assert holding == 0
    # retention: keep the newest half (by a cutoff inside the data)
    cutoff = int(np.sort(c.ts)[c.n // 2])
    now = cutoff + 10 * DAY_MS
    kept = apply_retention(clean_db, 10, batch=500, now_ms=now)
    assert kept.events == int((c.ts < cutoff).sum())
    (r, rs), (rscan, _) = _both(clean_db)
    assert rs.source == "copies" and r.n == c.n - kept.events
    assert int(r.ts.min()) >= cutoff
    _assert_same(r, rscan)
    older = count(clean_db, "MATCH (b:IngestBatch) WHERE b.colMinTs < $c RETURN count(b)", c=cutoff)
    assert older == 0
