"""Erasure of one account and retention of events, in bounded transactions.

:func:`erase_account` first marks what the erasure changes — every run the account
appears in gets ``erasures`` / ``lastErasureAt`` and its membership and evidence counts
reduced, every cluster it was in gets ``erasures`` and its ``size`` / ``nEdges`` reduced
— then deletes the account's events, memberships and evidence edges in batches of at
most ``batch`` relationships per transaction, and finally the account node. Re-running
it after a failure finishes the job (an erased account has nothing left to delete).

:func:`apply_retention` deletes events older than a cutoff with ``CALL {…} IN
TRANSACTIONS`` (bounded transactions, one pass), then accounts and targets left with no
relationship at all (an account that is still a cluster member keeps its node).

Both first drop the events from the ingest batches' columnar copies
(``store/columns.py``, one receipt per transaction), so no copy names an erased account
or an expired event, then delete the relationships as above. Until both are done the
copies hold fewer events than the graph, so an export in between scans the relationships.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from cib_detect.errors import FieldViolation, InvalidInput
from cib_detect.store import cypher
from cib_detect.store.columns import erase_account_copies, retention_copies
from cib_detect.store.graph_store import GraphStore

DAY_MS = 86_400_000
MIN_BATCH, MAX_BATCH = 100, 100_000


@dataclass
class ErasureReport:
    found: bool = False
    events: int = 0
    memberships: int = 0
    evidence_edges: int = 0
    runs: list[str] = field(default_factory=list)

    def as_record(self) -> dict[str, Any]:
        return {
            "found": self.found,
            "events_deleted": self.events,
            "memberships_deleted": self.memberships,
            "evidence_edges_deleted": self.evidence_edges,
            "runs_marked": self.runs,
        }


@dataclass
class RetentionReport:
    cutoff_ms: int
    events: int = 0
    accounts: int = 0
    targets: int = 0

    def as_record(self) -> dict[str, Any]:
        return {"cutoff_unix_millis": self.cutoff_ms, "events_deleted": self.events,
                "accounts_deleted": self.accounts, "targets_deleted": self.targets}  # fmt: skip


def _check_batch(batch: int) -> int:
    if not MIN_BATCH <= batch <= MAX_BATCH:
        raise InvalidInput(
            f"batch_size: must be {MIN_BATCH}..{MAX_BATCH}",
            violations=[FieldViolation("batch_size", f"must be {MIN_BATCH}..{MAX_BATCH}")],
        )
    return batch


def _drain(store: GraphStore, query: str, account_id: str, batch: int) -> int:
    total = 0
    while True:
        rows = store.write(query, {"accountId": account_id, "limit": batch})
        n = int(rows[0]["deleted"]) if rows else 0
        total += n
        if n < batch:
            return total


def erase_account(store: GraphStore, account_id: str, *, batch: int = 10_000) -> ErasureReport:
    """Remove everything of one account (see the module docstring)."""
    _check_batch(batch)
    report = ErasureReport()
    survey = store.read(cypher.ERASE_SURVEY, {"accountId": account_id})
    if not survey:
        return report
    report.found = True
    runs: dict[str, dict[str, int]] = defaultdict(lambda: {"memberships": 0, "edges": 0})
    clusters: dict[str, dict[str, int]] = defaultdict(lambda: {"members": 0, "edges": 0})
    for m in survey[0]["memberships"]:
        if m["runId"] is not None:
            runs[m["runId"]]["memberships"] += 1
            clusters[m["key"]]["members"] += 1
    for e in survey[0]["evidence"]:
        runs[e["runId"]]["edges"] += int(e["edges"])
        clusters[e["key"]]["edges"] += int(e["edges"])
    if runs:
        store.write(
            cypher.ERASE_MARK,
            {"now": int(time.time() * 1000),
             "runs": [{"runId": r, **v} for r, v in sorted(runs.items())],
             "clusters": [{"key": k, **v} for k, v in sorted(clusters.items())]},
        )  # fmt: skip
    report.runs = sorted(runs)
    erase_account_copies(store, account_id)  # first: the copies hold its keys too
    report.events = _drain(store, cypher.ERASE_ACTED, account_id, batch)
    report.memberships = _drain(store, cypher.ERASE_MEMBER_OF, account_id, batch)
    report.evidence_edges = _drain(store, cypher.ERASE_COORDINATED, account_id, batch)
    store.write(cypher.ERASE_NODE, {"accountId": account_id})
    return report


def apply_retention(
    store: GraphStore, max_age_days: int, *, batch: int = 10_000, now_ms: int | None = None
) -> RetentionReport:
    """Delete events older than ``max_age_days`` and the nodes they leave isolated."""
    if max_age_days < 1:
        raise InvalidInput(
            "max_age_days: must be at least 1",
            violations=[FieldViolation("max_age_days", "must be at least 1")],
        )
    _check_batch(batch)
    now = int(time.time() * 1000) if now_ms is None else now_ms
    report = RetentionReport(cutoff_ms=now - max_age_days * DAY_MS)
    params = {"cutoff": report.cutoff_ms, "batch": batch}
    retention_copies(store, report.cutoff_ms)
    report.events = int(store.autocommit(cypher.RETENTION_EVENTS, params)[0]["deleted"])
    report.accounts = int(
        store.autocommit(cypher.RETENTION_ORPHAN_ACCOUNTS, {"batch": batch})[0]["deleted"]
    )
    report.targets = int(
        store.autocommit(cypher.RETENTION_ORPHAN_TARGETS, {"batch": batch})[0]["deleted"]
    )
    return report
