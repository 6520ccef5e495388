"""Idempotent ingest of validated events into Neo4j, in ``UNWIND`` batches.

* **Idempotent by event id.** Each event is one ``ACTED`` relationship whose ``eventId``
  carries a uniqueness constraint; an event whose id is stored already is a duplicate and
  changes nothing (first write wins). Events without an ``event_id`` get a deterministic
  one, ``h-`` + a 128-bit BLAKE2b digest of (account, action, target, ts, text), so
  re-ingesting such a file is idempotent too (identical rows collapse into one event).
* **Exact counts, even after an ambiguous commit.** Each batch carries a random token and
  writes an ``(:IngestBatch {token, new, duplicate})`` marker in the same transaction as
  its events. When the commit's outcome is unknown (connection lost during commit,
  ``ServiceUnavailable``), the batch is simply run again: if the marker exists the first
  attempt committed and its counts are reported, otherwise nothing of it was written.
* **Concurrent ingests.** Two processes writing the same event race on the constraint;
  the loser's transaction fails (constraint violation or deadlock), is re-run, and then
  sees the event as a duplicate. Retries are bounded (:data:`MAX_ATTEMPTS`).
* **Optimistic create.** A batch is normally *checked*: a lock-free read of which of its
  ids are stored, then the create of the others. While an ingest finds no stored ids
  (its previous batch had none), a batch skips the read and creates all its events at
  once; the ``eventId`` constraint is the check. If one id is stored already, the create
  fails with a ``ConstraintError``, the transaction rolls back (nothing of it is
  written), and the batch is re-run checked at once (not counted as a retry). Counts,
  receipts and columnar copies are the same either way; a file that is mostly stored
  already runs checked from its first batch on, so a re-ingest costs what it did.
* **Parallel writers without lock waits.** Concurrent batches never share an account or
  a target (whose node locks they would wait for): ``store/ingest_plan.py`` hands each
  writer batches from cells of an account-hash x target-hash grid that no other writer
  holds. Inside a batch, rows are grouped by account and ordered by target.
* **A columnar copy for export.** The receipt also carries the batch's new events as
  array properties (``store/columns.py``), written in the same transaction.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from neo4j.exceptions import ConstraintError

from cib_detect.errors import CibError, DeadlineExceeded, Unavailable
from cib_detect.io import read_events
from cib_detect.model import EventTable, InputInfo
from cib_detect.privacy import Pseudonymiser
from cib_detect.store import cypher
from cib_detect.store.columns import copy_properties
from cib_detect.store.graph_store import RETRYABLE, GraphStore, QuietList, Tx
from cib_detect.store.ingest_plan import BatchScheduler, Claim, Rows

BATCH_SIZE = 5_000
#: Concurrent writers. One more than the two cores the benchmarks run on: each writer
#: also waits for round trips and commits, and a third keeps the server's cores busy then
#: (benchmarks/RESULTS.md).
WORKERS = 3
MAX_ATTEMPTS = 10
GENERATED_ID_PREFIX = "h-"

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class BatchResult:
    """What one committed batch did."""

    new: int
    duplicate: int
    attempts: int
    replayed: bool = False  # the counts come from the marker of an earlier attempt
    duplicate_rows: tuple[int, ...] = ()  # positions (in the batch) of the stored-already
    optimistic: bool = False  # written by the optimistic create (no id check)
    optimistic_miss: bool = False  # the optimistic create hit a stored id: re-run checked


@dataclass
class IngestResult:
    """Counts of one ingest. ``duplicate`` = ``duplicate_in_input`` + ``duplicate_stored``."""

    events: int = 0  # distinct events offered to the store
    new: int = 0
    duplicate_stored: int = 0
    duplicate_in_input: int = 0
    invalid: int = 0
    batches: int = 0
    retries: int = 0
    replayed_batches: int = 0
    optimistic_batches: int = 0  # written without the id check (see the module docstring)
    optimistic_misses: int = 0  # optimistic creates that hit a stored id and were re-run
    seconds: float = 0.0

    @property
    def duplicate(self) -> int:
        return self.duplicate_in_input + self.duplicate_stored

    def as_record(self) -> dict[str, Any]:
        return {
            "new": self.new,
            "duplicate": self.duplicate,
            "invalid": self.invalid,
            "duplicate_in_input": self.duplicate_in_input,
            "duplicate_stored": self.duplicate_stored,
            "events": self.events,
            "batches": self.batches,
            "retries": self.retries,
            "replayed_batches": self.replayed_batches,
            "optimistic_batches": self.optimistic_batches,
            "optimistic_misses": self.optimistic_misses,
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.events / max(self.seconds, 1e-9)),
        }


# --------------------------------------------------------------------------- event ids


def generated_event_ids(events: EventTable) -> pa.Array:
    """Deterministic ids for events that have none: ``h-`` + BLAKE2b-128 of the fields.

    Fields are joined with NUL, which no accepted value contains; a missing text and an
    empty text hash differently."""
    accounts, actions, targets = events.accounts, events.actions, events.targets
    texts: list[str | None] = (
        events.text.to_pylist() if events.text is not None else [None] * events.n
    )
    out: list[str] = []
    blake = hashlib.blake2b
    for a, c, t, ts, x in zip(
        events.account.tolist(),
        events.action.tolist(),
        events.target.tolist(),
        events.ts.tolist(),
        texts,
        strict=True,
    ):
        key = f"{accounts[a]}\0{actions[c]}\0{targets[t]}\0{ts}\0" + ("N" if x is None else "T" + x)
        out.append(GENERATED_ID_PREFIX + blake(key.encode("utf-8"), digest_size=16).hexdigest())
    return pa.array(out, pa.string())


def event_ids(events: EventTable) -> pa.Array:
    """The events' ids as one string array (given ones, or generated)."""
    if events.event_id is None:
        return generated_event_ids(events)
    ids = events.event_id
    return ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids


def _text_array(events: EventTable) -> pa.Array | None:
    """The events' texts as one Arrow array (None without a text column)."""
    if events.text is None:
        return None
    text = events.text
    return text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text


def first_rows(ids: pa.Array) -> Rows:
    """Row numbers of the first occurrence of each id, ascending."""
    enc = pc.dictionary_encode(ids)
    codes = np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    _, first = np.unique(codes, return_index=True)
    return np.sort(first.astype(np.int64))


# --------------------------------------------------------------------------- batches


def batch_params(
    events: EventTable, ids: pa.Array, text: pa.Array | None, rows: Rows
) -> dict[str, Any]:
    """The columnar parameters of :data:`cypher.INGEST_EVENTS` for ``rows``."""
    ua, ai = np.unique(events.account[rows], return_inverse=True)
    ut, ti = np.unique(events.target[rows], return_inverse=True)
    take = pa.array(rows)
    texts: list[str | None] | None = None
    if text is not None:
        chunk = text.take(take)
        if chunk.null_count < len(chunk):
            texts = chunk.to_pylist()
    return {
        "ids": QuietList(ids.take(take).to_pylist()),
        "accounts": QuietList([events.accounts[i] for i in ua.tolist()]),
        "targets": QuietList([events.targets[i] for i in ut.tolist()]),
        "ai": QuietList(ai.tolist()),
        "ti": QuietList(ti.tolist()),
        "actions": list(events.actions),
        "act": QuietList(events.action[rows].tolist()),
        "ts": QuietList(events.ts[rows].tolist()),
        "text": None if texts is None else QuietList(texts),
    }


def subset_params(params: dict[str, Any], keep: list[int]) -> dict[str, Any]:
    """The parameters of the rows ``keep`` only (their distinct keys re-indexed)."""
    out = dict(params)
    for col in ("ids", "act", "ts"):
        out[col] = QuietList([params[col][i] for i in keep])
    if params["text"] is not None:
        out["text"] = QuietList([params["text"][i] for i in keep])
    for keys, idx in (("accounts", "ai"), ("targets", "ti")):
        old = [params[idx][i] for i in keep]
        used = sorted(set(old))
        remap = {u: j for j, u in enumerate(used)}
        out[keys] = QuietList([params[keys][u] for u in used])
        out[idx] = QuietList([remap[u] for u in old])
    return out


class BatchWriter:
    """Writes one batch in one transaction; re-runs it after an ambiguous or failed
    commit until it is known to have committed (bounded by ``max_attempts``)."""

    def __init__(
        self,
        store: GraphStore,
        *,
        source: str = "",
        max_attempts: int = MAX_ATTEMPTS,
        backoff_s: float = 0.05,
    ) -> None:
        self.store = store
        self.source = source
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s

    def write(
        self,
        params: dict[str, Any],
        token: str | None = None,
        timeout_s: float | None = None,
        *,
        optimistic: bool = False,
    ) -> BatchResult:
        """Write the batch (``token`` identifies it across attempts; new if omitted).
        ``timeout_s`` bounds all attempts together: each transaction's server-side
        timeout is what is left of it, and no attempt starts after it. ``optimistic``
        skips the id check until the create hits a stored id (module docstring)."""
        token = token or secrets.token_hex(16)
        end = None if timeout_s is None else time.monotonic() + timeout_s
        size = len(params["ids"])
        unchecked = optimistic

        def work(tx: Tx) -> tuple[int, int, bool, list[int]]:
            done = tx.run(cypher.INGEST_FIND_BATCH, {"token": token}).single()
            if done is not None:
                earlier = [int(i) for i in done["duplicateRows"] or []]
                return int(done["new"]), int(done["duplicate"]), True, earlier
            stored: set[str] = set()
            if not unchecked:
                check = tx.run(cypher.INGEST_CHECK, {"ids": params["ids"]}).single()
                stored = set(check["stored"]) if check is not None else set()
            keep = [i for i, x in enumerate(params["ids"]) if x not in stored]
            created = 0
            columns: dict[str, Any] = {}
            if keep:
                rows = params if len(keep) == size else subset_params(params, keep)
                rec = tx.run(cypher.INGEST_EVENTS, rows).single()
                created = int(rec["created"]) if rec is not None else 0
                columns = copy_properties(rows) if created == len(keep) else {}
            dup_rows = [i for i, x in enumerate(params["ids"]) if x in stored] if stored else []
            tx.run(
                cypher.INGEST_MARK_BATCH,
                {"token": token, "source": self.source, "events": size,
                 "new": created, "duplicate": size - created, "duplicateRows": dup_rows,
                 "columns": columns},
            ).consume()  # fmt: skip
            return created, size - created, False, dup_rows

        last: Exception | None = None
        missed = False
        attempt = 0
        while attempt < self.max_attempts:
            attempt += 1
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0.001:
                raise DeadlineExceeded(
                    f"ingest batch of {size} events: deadline passed after {attempt - 1} "
                    f"attempt(s) ({last}); re-send it with the same event ids"
                )
            try:
                with self.store.errors("ingest"):
                    try:
                        new, dup, replayed, dup_rows = self.store.write_once(work, timeout_s=left)
                    except ConstraintError as exc:
                        if not unchecked:
                            last = exc
                            if attempt == self.max_attempts:
                                raise
                            self._pause(attempt, end)
                            continue
                        # a stored id (or one a concurrent ingest just wrote): the whole
                        # transaction rolled back; re-run the batch checked, at once
                        unchecked, missed, last = False, True, exc
                        attempt -= 1
                        continue
                    except RETRYABLE as exc:
                        last = exc
                        if attempt == self.max_attempts:
                            raise
                        self._pause(attempt, end)
                        continue
            except CibError as exc:
                raise type(exc)(
                    f"{exc.message} (batch of {size} events, {attempt} attempt(s))",
                    violations=exc.violations,
                ) from None
            return BatchResult(
                new, dup, attempt, replayed, tuple(dup_rows), unchecked and not replayed, missed
            )
        raise Unavailable(f"ingest batch failed after {self.max_attempts} attempts: {last}")

    def _pause(self, attempt: int, end: float | None) -> None:
        """Jittered exponential backoff before attempt ``attempt + 1`` (not past ``end``)."""
        pause = self.backoff_s * 2 ** (attempt - 1) * (0.5 + random.random())
        if end is not None:
            pause = min(pause, max(0.0, end - time.monotonic()))
        time.sleep(pause)


# --------------------------------------------------------------------------- ingest


def ingest_events(
    store: GraphStore,
    events: EventTable,
    *,
    source: str = "",
    batch_size: int = BATCH_SIZE,
    workers: int = WORKERS,
    progress: Progress | None = None,
    ids_distinct: bool = False,
) -> IngestResult:
    """Store ``events`` (idempotent) with ``workers`` concurrent writers.

    Events whose id occurs earlier in ``events`` count as ``duplicate_in_input``;
    ``ids_distinct`` says the ids are known to be distinct (``read_events`` de-duplicated
    them), which skips that search."""
    t0 = time.perf_counter()
    ids = event_ids(events)
    if ids_distinct and events.event_id is not None:
        rows = np.arange(events.n, dtype=np.int64)
    else:
        rows = first_rows(ids) if events.n else np.zeros(0, np.int64)
    text = _text_array(events)
    result = IngestResult(events=int(rows.size), duplicate_in_input=events.n - int(rows.size))
    schedule = BatchScheduler(events, rows, batch_size, workers)
    writer = BatchWriter(store, source=source)
    done = 0
    lock = threading.Lock()
    # optimistic create while the ingest's last written batch found no stored id; the
    # first batches are checked, so a re-ingest never pays for a failed create
    optimistic = False
    if progress is not None:
        progress(0, int(rows.size))

    def write_batches() -> None:
        try:
            while (claim := schedule.take()) is not None:
                write_claim(claim)
        except BaseException:
            schedule.stop()  # the other writers stop after their current batch
            raise

    def write_claim(claim: Claim) -> None:
        nonlocal done, optimistic
        try:
            r = writer.write(batch_params(events, ids, text, claim.rows), optimistic=optimistic)
        finally:
            schedule.release(claim)
        with lock:
            optimistic = r.duplicate == 0
            result.new += r.new
            result.duplicate_stored += r.duplicate
            result.batches += 1
            result.retries += r.attempts - 1
            result.replayed_batches += int(r.replayed)
            result.optimistic_batches += int(r.optimistic)
            result.optimistic_misses += int(r.optimistic_miss)
            done += int(claim.rows.size)
            now = done
        if progress is not None:
            progress(now, int(rows.size))

    n_writers = min(max(1, workers), len(schedule.cells))
    if n_writers <= 1:
        write_batches()
    else:
        with ThreadPoolExecutor(max_workers=n_writers, thread_name_prefix="ingest") as pool:
            futures = [pool.submit(write_batches) for _ in range(n_writers)]
            for f in futures:
                f.result()
    result.seconds = time.perf_counter() - t0
    return result


def ingest_file(
    store: GraphStore,
    path: str | Path,
    *,
    fmt: str | None = None,
    strict: bool = False,
    batch_size: int = BATCH_SIZE,
    workers: int = WORKERS,
    progress: Progress | None = None,
    pseudonymiser: Pseudonymiser | None = None,
) -> tuple[IngestResult, InputInfo]:
    """Read, validate and store an events file (same formats and checks as ``detect``);
    with an enabled ``pseudonymiser`` the stored account ids are its pseudonyms."""
    t0 = time.perf_counter()
    events, info = read_events(path, fmt=fmt, strict=strict, keep_event_ids=True)
    if pseudonymiser is not None and pseudonymiser.enabled:
        events = dataclasses.replace(events, accounts=pseudonymiser.accounts(events.accounts))
    result = ingest_events(
        store, events, source=str(path), batch_size=batch_size, workers=workers,
        progress=progress, ids_distinct=True,  # read_events de-duplicated the given ids
    )  # fmt: skip
    result.duplicate_in_input += info.duplicates
    result.invalid = info.rejected
    result.seconds = time.perf_counter() - t0
    return result, info


def ingest_batch(
    store: GraphStore,
    events: EventTable,
    *,
    source: str = "grpc",
    token: str | None = None,
    timeout_s: float | None = None,
) -> BatchResult:
    """Store one batch of events with distinct ids in one transaction (the service's
    ingest path). ``duplicate_rows`` of the result lists the events that were stored
    already; all others are new. Acknowledge only after this returns: it returns once
    the transaction committed (after re-runs of an ambiguous commit)."""
    if events.n == 0:
        return BatchResult(0, 0, 0)
    ids = event_ids(events)
    text = _text_array(events)
    rows = np.arange(events.n, dtype=np.int64)
    params = batch_params(events, ids, text, rows)
    return BatchWriter(store, source=source).write(params, token, timeout_s)
