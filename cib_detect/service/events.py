"""Ingest batches: validate API events with the file readers' rules, store the valid ones
in one transaction, and give every event its status (NEW, DUPLICATE or INVALID).

Validation is :func:`cib_detect.io.validate.validate`, the same code ``detect`` and
``ingest`` run on files, applied to the batch as a table; its row numbers are the
events' positions, and its column names become API field paths
(``events[3].account_id``). Invalid events never block the valid ones of their batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from cib_detect._proto.cib.v1 import common_pb2 as pb
from cib_detect.errors import FieldViolation, RejectReport
from cib_detect.io.readers import from_columns
from cib_detect.io.validate import MS_THRESHOLD, validate
from cib_detect.privacy import Pseudonymiser
from cib_detect.store.graph_store import GraphStore
from cib_detect.store.ingest import ingest_batch

NEW, DUPLICATE, INVALID = "new", "duplicate", "invalid"


@dataclass
class BatchOutcome:
    """Per event: status and violations (by position in the request)."""

    status: list[str]
    violations: dict[int, list[FieldViolation]] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return self.status.count(status)


def _field_name(event: pb.Event, column: str) -> str:
    if column == "timestamp":
        which = event.WhichOneof("time")
        return which or "time"
    return column


def check_events(
    events: Sequence[pb.Event | None],
) -> tuple[pa.Table, dict[int, list[FieldViolation]]]:
    """The batch as a table ready for validation, and the violations found before it
    (undecodable events are None here and get an empty row that fails validation)."""
    early: dict[int, list[FieldViolation]] = {}
    stamps: list[str | None] = []
    blank = pb.Event()
    rows = [blank if e is None else e for e in events]
    for i, e in enumerate(rows):
        which = e.WhichOneof("time")
        if which == "unix_millis":
            v = e.unix_millis
            if abs(v) < MS_THRESHOLD:  # the readers would take this for epoch seconds
                early.setdefault(i, []).append(
                    FieldViolation(
                        f"events[{i}].unix_millis",
                        "absurd timestamp (before 1990-01-01 or after 2100-01-01)",
                    )
                )
                stamps.append("0")
            else:
                stamps.append(str(v))
        elif which == "iso8601":
            stamps.append(e.iso8601)
        else:
            stamps.append(None)
    table = pa.table(
        {
            "event_id": pa.array([e.event_id for e in rows], pa.string()),
            "account_id": pa.array([e.account_id for e in rows], pa.string()),
            "action": pa.array([e.action for e in rows], pa.string()),
            "target": pa.array([e.target for e in rows], pa.string()),
            "timestamp": pa.array(stamps, pa.string()),
            "text": pa.array([e.text if e.HasField("text") else None for e in rows], pa.string()),
        }
    )
    return table, early


def ingest_events(
    store: GraphStore,
    events: Sequence[pb.Event | None],
    source: str,
    *,
    undecodable: dict[int, list[FieldViolation]] | None = None,
    pseudonymiser: Pseudonymiser | None = None,
    timeout_s: float | None = None,
) -> BatchOutcome:
    """Validate, store (one transaction; returns after commit) and classify a batch.
    ``undecodable`` holds the violations of events that did not decode (None in
    ``events``); ``timeout_s`` bounds the whole write, retries included."""
    n = len(events)
    table, early = check_events(events)
    for i, vs in (undecodable or {}).items():
        early[i] = list(vs)
    report = RejectReport(max_examples=8 * n + 8)
    clean = validate(table, np.arange(n, dtype=np.int64), report, strict=False)
    violations: dict[int, list[FieldViolation]] = {i: list(vs) for i, vs in early.items()}
    for v in report.examples:
        i = int(v.row or 0)
        if i in early and v.field == "timestamp":
            continue  # the early check said it better
        if i in early and events[i] is None:
            continue  # reported by the decoder
        name = _field_name(events[i] or pb.Event(), v.field)
        violations.setdefault(i, []).append(FieldViolation(f"events[{i}].{name}", v.reason))
    status = [INVALID if i in violations else "" for i in range(n)]
    good = [i for i in range(n) if not status[i]]  # the rows ``clean`` holds, in order
    if len(good) != len(clean.ts_ms):  # pragma: no cover - validate reports every bad row
        raise RuntimeError("validation kept rows it did not report as valid")
    ids = table.column("event_id").to_pylist()
    seen: set[str] = set()
    first = np.zeros(len(good), dtype=np.bool_)
    for j, i in enumerate(good):
        eid = ids[i]
        if eid in seen:
            status[i] = DUPLICATE  # earlier in the same batch
        else:
            seen.add(eid)
            first[j] = True
    keep = [i for j, i in enumerate(good) if first[j]]
    if keep:
        mask = pa.array(first)
        text = clean.text.filter(mask) if clean.text is not None else None
        accounts = clean.account_id.filter(mask)
        if pseudonymiser is not None and pseudonymiser.enabled:
            # the dictionary holds each distinct id once: map those, keep the indices
            accounts = pa.DictionaryArray.from_arrays(
                accounts.indices,
                pa.array(pseudonymiser.accounts(accounts.dictionary.to_pylist()), pa.string()),
            )
        batch = from_columns(
            accounts,
            clean.action.filter(mask),
            clean.target.filter(mask),
            clean.ts_ms[first],
            event_id=clean.event_id.filter(mask) if clean.event_id is not None else None,
            text=text,
        )
        result = ingest_batch(store, batch, source=source, timeout_s=timeout_s)
        dup = set(result.duplicate_rows)
        for j, i in enumerate(keep):
            status[i] = DUPLICATE if j in dup else NEW
    return BatchOutcome(status, violations)
