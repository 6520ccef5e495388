"""Columnar export of stored events back into an :class:`~cib_detect.model.EventTable`.

Paged by key, never one giant result:

1. the account keys are read in keyset pages (``accountId > $after ORDER BY accountId
   LIMIT n``) together with each account's number of events (a degree lookup);
2. consecutive accounts are grouped into pages of about ``page_events`` events;
3. each page is one query returning **one record of parallel lists** (account index,
   target, action, ts, texts, optionally event ids): per-record overhead is paid once per
   page, not once per event;
4. ``workers`` pages are fetched concurrently (Neo4j works on one page while Python
   decodes another), assembled in page order, encoded with the same canonical encoder the
   file readers use, and put in canonical row order — so the table is the same whatever
   the paging or thread timing.

``since``/``until`` (epoch ms, half-open ``[since, until)``) select the events' time
window on the server. Pages are read in separate transactions: events written while an
export runs may or may not be part of it (export when ingest is quiet for a snapshot).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from neo4j import ManagedTransaction

from cib_detect.errors import InvalidInput
from cib_detect.io.readers import from_columns
from cib_detect.io.validate import string_buffers
from cib_detect.model import EventTable
from cib_detect.store import columns, cypher
from cib_detect.store.graph_store import GraphStore

PAGE_EVENTS = 50_000
KEY_PAGE = 100_000
TS_MIN = -(2**63)
TS_MAX = 2**63 - 1

#: Numbers at or above this magnitude are epoch milliseconds, below it epoch seconds
#: (the same rule as the event readers).
MS_THRESHOLD = 100_000_000_000

Progress = Callable[[int, int], None]


def parse_timestamp(value: Any) -> int:
    """Epoch milliseconds from an int, epoch seconds/ms text, or ISO-8601 with a zone."""
    if isinstance(value, bool):
        raise ValueError("not a timestamp")
    if isinstance(value, int):
        return value * 1000 if abs(value) < MS_THRESHOLD else value
    if isinstance(value, float):
        v = value
    else:
        s = str(value).strip()
        try:
            v = float(s)
        except ValueError:
            dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
            if dt.tzinfo is None:
                raise ValueError("ISO-8601 timestamp needs a time zone (e.g. Z)") from None
            return round(dt.timestamp() * 1000)
    if not np.isfinite(v):
        raise ValueError("not a finite number")
    return round(v * 1000) if abs(v) < MS_THRESHOLD else round(v)


@dataclass(frozen=True)
class _Page:
    index: int
    first: int  # index of the page's first account in the key list
    accounts: list[str]


@dataclass
class _PageData:
    """One page as arrays (built in the worker thread that fetched it)."""

    account: npt.NDArray[np.int64]  # global account index per event
    target: pa.Array
    action: pa.Array
    ts: npt.NDArray[np.int64]
    text: pa.Array | None  # aligned with the events, nulls where no text
    event_id: pa.Array | None


@dataclass
class ExportStats:
    events: int = 0
    accounts: int = 0
    pages: int = 0
    seconds: float = 0.0
    timings: dict[str, float] | None = None
    source: str = "relationships"  # or "copies" (the batches' columnar copies)

    def as_record(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "accounts": self.accounts,
            "pages": self.pages,
            "seconds": round(self.seconds, 3),
            "source": self.source,
            "events_per_second": round(self.events / max(self.seconds, 1e-9)),
            "timings": self.timings or {},
        }


def account_keys(
    store: GraphStore, *, key_page: int = KEY_PAGE
) -> tuple[list[str], npt.NDArray[np.int64]]:
    """Every account key in key order with its number of stored events."""
    keys: list[str] = []
    degrees: list[int] = []
    for rec in store.keyset_pages(cypher.EXPORT_ACCOUNT_KEYS, "accounts", page_size=key_page):
        keys.extend(rec["accounts"])
        degrees.extend(rec["degrees"])
    return keys, np.asarray(degrees, dtype=np.int64)


def plan_pages(keys: list[str], degrees: npt.NDArray[np.int64], page_events: int) -> list[_Page]:
    """Consecutive accounts grouped into pages of about ``page_events`` events (an account
    with more events than that is a page of its own); accounts without events are skipped."""
    pages: list[_Page] = []
    nz = np.flatnonzero(degrees > 0)
    if nz.size == 0:
        return pages
    cum = np.cumsum(degrees[nz])
    start = 0
    while start < nz.size:
        base = int(cum[start - 1]) if start else 0
        end = int(np.searchsorted(cum, base + page_events, side="right"))
        end = max(end, start + 1)
        idx = nz[start:end]
        # accounts in the page are contiguous in ``nz``, not necessarily in ``keys``
        pages.append(_Page(len(pages), int(start), [keys[int(i)] for i in idx]))
        start = end
    return pages


def _fetch(
    store: GraphStore,
    page: _Page,
    page_keys: npt.NDArray[np.int64],
    since: int,
    until: int,
    with_ids: bool,
) -> _PageData:
    query = cypher.EXPORT_EVENTS_WITH_IDS if with_ids else cypher.EXPORT_EVENTS
    params = {"accounts": page.accounts, "since": since, "until": until}

    def work(tx: ManagedTransaction) -> Any:
        rec = tx.run(query, params).single(strict=True)
        return rec

    with store.errors("export"):
        rec = store.read_tx(work)
    local = np.asarray(rec["account"], dtype=np.int64)
    ts = np.asarray(rec["ts"], dtype=np.int64)
    has = np.asarray(rec["hasText"], dtype=np.bool_)
    text: pa.Array | None = None
    if has.any():
        pos = np.full(ts.size, -1, dtype=np.int64)
        pos[has] = np.arange(int(has.sum()), dtype=np.int64)
        text = pa.array(rec["text"], pa.string()).take(pa.array(pos, mask=pos < 0))
    return _PageData(
        account=page_keys[local] if local.size else local,
        target=pa.array(rec["target"], pa.string()),
        action=pa.array(rec["action"], pa.string()),
        ts=ts,
        text=text,
        event_id=pa.array(rec["eventId"], pa.string()) if with_ids else None,
    )


def export_events(
    store: GraphStore,
    *,
    since: int | None = None,
    until: int | None = None,
    with_event_ids: bool = False,
    page_events: int = PAGE_EVENTS,
    workers: int = 2,
    progress: Progress | None = None,
    use_copies: bool = True,
) -> tuple[EventTable, ExportStats]:
    """All stored events with ``since <= ts < until`` (epoch ms) as an :class:`EventTable`:
    from the batches' columnar copies when they are complete, else (or with
    ``use_copies=False``, or ``with_event_ids``: the copies hold no ids) by the
    relationship scan."""
    if since is not None and until is not None and since >= until:
        raise InvalidInput("the time window is empty: since must be before until")
    if page_events < 1:
        raise InvalidInput("page size must be positive")
    t0 = time.perf_counter()
    lo = TS_MIN if since is None else int(since)
    hi = TS_MAX if until is None else int(until)
    if use_copies and not with_event_ids:  # the copies hold no event ids
        copied = _export_copies(store, lo, hi, page_events, workers, progress)
        if copied is not None:
            table, stats = copied
            stats.seconds = time.perf_counter() - t0
            return table, stats
    keys, degrees = account_keys(store)
    t_keys = time.perf_counter() - t0
    pages = plan_pages(keys, degrees, page_events)
    nz = np.flatnonzero(degrees > 0)
    total = int(degrees.sum())
    results: list[_PageData | None] = [None] * len(pages)
    done = 0
    lock = threading.Lock()
    if progress is not None:
        progress(0, total)

    def one(page: _Page) -> None:
        nonlocal done
        page_keys = nz[page.first : page.first + len(page.accounts)].astype(np.int64)
        data = _fetch(store, page, page_keys, lo, hi, with_event_ids)
        results[page.index] = data
        with lock:
            done += int(degrees[page_keys].sum())
            now = done
        if progress is not None:
            progress(now, total)

    if workers <= 1 or len(pages) <= 1:
        for p in pages:
            one(p)
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="export") as pool:
            futures = [pool.submit(one, p) for p in pages]
            try:
                for f in futures:
                    f.result()
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
    t_fetch = time.perf_counter() - t0 - t_keys
    t1 = time.perf_counter()
    events = _assemble(keys, [r for r in results if r is not None], with_event_ids)
    t_assemble = time.perf_counter() - t1
    stats = ExportStats(
        events=events.n,
        accounts=len(events.accounts),
        pages=len(pages),
        seconds=time.perf_counter() - t0,
        timings={"keys": round(t_keys, 4), "fetch": round(t_fetch, 4),
                 "assemble": round(t_assemble, 4)},
    )  # fmt: skip
    return events, stats


# --------------------------------------------------------------------------- copies


@dataclass
class _CopyPage:
    """One page of copies (keys local to the page, filtered to the time window)."""

    keys: tuple[list[str], list[str], list[str]]  # accounts, targets, actions
    codes: tuple[list[npt.NDArray[np.int32]], ...]  # per batch: account, target, action
    ts: list[npt.NDArray[np.int64]]
    texts: list[str]
    text_at: list[npt.NDArray[np.int64]]  # page positions of the texts
    n: int = 0


def _copy_page(copies: list[columns.BatchCopy], lo: int, hi: int) -> _CopyPage:
    page = _CopyPage(([], [], []), ([], [], []), [], [], [])
    for c in copies:
        sel: npt.NDArray[np.bool_] | None = None
        if int(c.ts.min()) < lo or int(c.ts.max()) >= hi:
            sel = (c.ts >= lo) & (c.ts < hi)
        for j, (keys, idx) in enumerate(((c.accounts, c.account), (c.targets, c.target),
                                         (c.actions, c.action))):  # fmt: skip
            page.codes[j].append((idx if sel is None else idx[sel]) + len(page.keys[j]))
            page.keys[j].extend(keys)
        page.ts.append(c.ts if sel is None else c.ts[sel])
        if c.texts:
            at = c.text_at.astype(np.int64)
            texts = c.texts
            if sel is not None:
                keep = sel[at]
                at = (np.cumsum(sel) - 1)[at[keep]]
                texts = [t for t, k in zip(texts, keep.tolist(), strict=True) if k]
            page.text_at.append(at + page.n)
            page.texts.extend(texts)
        page.n += int(page.ts[-1].size)
    return page


def _unified(keys: list[list[str]], codes: list[list[npt.NDArray[np.int32]]]) -> pa.Array:
    """One dictionary array from per-page keys (duplicates across batches merged)."""
    flat: list[str] = [k for ks in keys for k in ks]
    offsets = np.cumsum([0, *(len(ks) for ks in keys)])
    enc = pc.dictionary_encode(pa.array(flat, pa.string()))
    remap = np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int32)
    parts = [remap[c + off] for cs, off in zip(codes, offsets[:-1].tolist(), strict=True)
             for c in cs]  # fmt: skip
    idx = np.concatenate(parts) if parts else np.zeros(0, np.int32)
    return pa.DictionaryArray.from_arrays(pa.array(idx, pa.int32()), enc.dictionary)


def _export_copies(
    store: GraphStore,
    lo: int,
    hi: int,
    page_events: int,
    workers: int,
    progress: Progress | None,
) -> tuple[EventTable, ExportStats] | None:
    """The export from the columnar copies; None when they are incomplete (the caller
    scans the relationships then)."""
    t0 = time.perf_counter()
    plan = columns.plan(store)
    if not plan.complete or store.read(cypher.COPY_ACTED_COUNT)[0]["events"] != plan.acted:
        return None
    chosen = np.flatnonzero((plan.max_ts >= lo) & (plan.min_ts < hi))
    groups: list[list[str]] = []
    group: list[str] = []
    n = 0
    for i in chosen.tolist():
        group.append(plan.tokens[i])
        n += int(plan.sizes[i])
        if n >= page_events:
            groups.append(group)
            group, n = [], 0
    if group:
        groups.append(group)
    total = int(plan.sizes[chosen].sum())
    t_keys = time.perf_counter() - t0
    done = 0
    lock = threading.Lock()
    if progress is not None:
        progress(0, total)

    def one(tokens: list[str]) -> _CopyPage | None:
        nonlocal done
        copies = columns.read_copies(store, tokens)
        if any(c is None for c in copies):
            return None
        page = _copy_page([c for c in copies if c is not None], lo, hi)
        with lock:
            done += sum(c.n for c in copies if c is not None)
            now = done
        if progress is not None:
            progress(now, total)
        return page

    if workers <= 1 or len(groups) <= 1:
        pages = [one(g) for g in groups]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="export") as pool:
            pages = list(pool.map(one, groups))
    if any(p is None for p in pages):
        return None
    parts = [p for p in pages if p is not None]
    t_fetch = time.perf_counter() - t0 - t_keys
    t1 = time.perf_counter()
    account, target, action = (
        _unified([p.keys[j] for p in parts], [p.codes[j] for p in parts]) for j in range(3)
    )
    ts = np.concatenate([t for p in parts for t in p.ts]) if parts else np.zeros(0, np.int64)
    text: pa.Array | None = None
    if any(p.texts for p in parts):
        starts = np.cumsum([0, *(p.n for p in parts)])
        at = np.concatenate([a + s for p, s in zip(parts, starts.tolist(), strict=False)
                             for a in p.text_at])  # fmt: skip
        pos = np.full(ts.size, -1, dtype=np.int64)
        pos[at] = np.arange(at.size, dtype=np.int64)
        values = pa.array([t for p in parts for t in p.texts], pa.string())
        text = values.take(pa.array(pos, mask=pos < 0))
    table = canonical_order(from_columns(account, action, target, ts, text=text))
    stats = ExportStats(
        events=table.n, accounts=len(table.accounts), pages=len(groups), source="copies",
        timings={"keys": round(t_keys, 4), "fetch": round(t_fetch, 4),
                 "assemble": round(time.perf_counter() - t1, 4)},
    )  # fmt: skip
    return table, stats


def _assemble(keys: list[str], parts: list[_PageData], with_ids: bool) -> EventTable:
    if not parts:
        empty = pa.array([], pa.string())
        return from_columns(empty, empty, empty, np.zeros(0, np.int64),
                            event_id=empty if with_ids else None)  # fmt: skip
    account = np.concatenate([p.account for p in parts])
    ts = np.concatenate([p.ts for p in parts])
    target = pa.chunked_array([p.target for p in parts], pa.string())
    action = pa.chunked_array([p.action for p in parts], pa.string())
    text: pa.ChunkedArray | None = None
    if any(p.text is not None for p in parts):
        text = pa.chunked_array(
            [p.text if p.text is not None else pa.nulls(len(p.ts), pa.string()) for p in parts],
            pa.string(),
        )
    event_id = (
        pa.chunked_array([p.event_id for p in parts if p.event_id is not None], pa.string())
        if with_ids
        else None
    )
    acc = pa.DictionaryArray.from_arrays(
        pa.array(account.astype(np.int32)), pa.array(keys, pa.string())
    )
    table = from_columns(acc, action, target, ts, event_id=event_id, text=text)
    return canonical_order(table)


def canonical_order(events: EventTable) -> EventTable:
    """Rows sorted by (ts, account, action, target, text, event id): the same table for
    the same set of events, whatever order they were read in."""
    if events.n < 2:
        return events
    order = np.lexsort((events.target, events.action, events.account, events.ts))
    keys = (events.ts, events.account, events.action, events.target)
    ties = np.zeros(events.n - 1, dtype=np.bool_)
    srt = [k[order] for k in keys]
    ties[:] = True
    for k in srt:
        ties &= k[1:] == k[:-1]
    if ties.any() and (events.text is not None or events.event_id is not None):
        cols: dict[str, Any] = {"ts": events.ts, "account": events.account,
                                "action": events.action, "target": events.target}  # fmt: skip
        sort_keys = [(c, "ascending") for c in cols]
        if events.text is not None:
            cols["text"] = events.text
            sort_keys.append(("text", "ascending"))
        if events.event_id is not None:
            cols["event_id"] = events.event_id
            sort_keys.append(("event_id", "ascending"))
        order = np.asarray(pc.sort_indices(pa.table(cols), sort_keys=sort_keys).to_numpy())
    if np.array_equal(order, np.arange(events.n)):
        return events
    take = pa.array(order)
    return EventTable(
        account=events.account[order],
        action=events.action[order],
        target=events.target[order],
        ts=events.ts[order],
        accounts=events.accounts,
        actions=events.actions,
        targets=events.targets,
        text=None if events.text is None else events.text.take(take),
        event_id=None if events.event_id is None else events.event_id.take(take),
    )


def events_digest(events: EventTable) -> str:
    """SHA-256 of an event table's content (dictionaries, codes, times, texts, ids): the
    fingerprint of an exported data window, recorded like an input file's digest."""
    h = hashlib.sha256()
    for values in (events.accounts, events.actions, events.targets):
        h.update(len(values).to_bytes(8, "little"))
        h.update("\0".join(values).encode("utf-8"))
    for arr in (events.account, events.action, events.target, events.ts):
        h.update(np.ascontiguousarray(arr).tobytes())
    for col in (events.text, events.event_id):
        if col is None:
            h.update(b"-")
            continue
        arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        h.update(np.asarray(pc.is_null(arr).to_numpy(zero_copy_only=False)).tobytes())
        data, offsets = string_buffers(pc.fill_null(arr, ""))
        h.update((offsets - offsets[0]).tobytes())
        h.update(data[int(offsets[0]) : int(offsets[-1])].tobytes())
    return h.hexdigest()
