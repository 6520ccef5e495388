"""Write a detection run back to Neo4j so that a crashed run never looks complete.

Order of the write-back, each step in its own transaction:

1. ``(:DetectionRun {runId, status: 'writing', params, since, until, …})``;
2. clusters with their ``MEMBER_OF`` memberships, in batches;
3. each cluster's top targets (``TOP_TARGET``), in batches;
4. ``COORDINATED`` evidence edges with their example co-actions, in batches;
5. one final transaction that counts what is stored for the run, and only when the
   counts match flips ``status`` to ``'complete'`` with the counts and stats.

Every step can be re-run after an ambiguous commit: the run node is MERGEd, each batch
records its key in ``DetectionRun.batches`` in the same transaction as its rows (a re-run
that finds its key writes nothing), and a re-run of the final step that finds the run
complete with the same counts succeeds.

Readers (the investigator queries) only look at runs whose status is ``'complete'``. A
process killed during steps 1–4 leaves a run in ``'writing'``; an exception raised in
this process marks it ``'failed'`` (best effort) before propagating.

:mod:`cib_detect.store.run_read` reads a run back.
"""

from __future__ import annotations

import contextlib
import json
import random
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from cib_detect import __version__
from cib_detect.config import DetectParams
from cib_detect.errors import FailedPrecondition, Unavailable
from cib_detect.model import Cluster, DetectionResult, Evidence
from cib_detect.store import cypher
from cib_detect.store.graph_store import RETRYABLE, GraphStore, Tx

CLUSTER_BATCH = 200
EVIDENCE_BATCH = 2_000
MAX_ATTEMPTS = 6

#: Called after every committed batch: (stage, rows written so far, rows of the stage).
BatchHook = Callable[[str, int, int], None]
T = TypeVar("T")


@dataclass
class RunWriteReport:
    run_id: str
    clusters: int = 0
    memberships: int = 0
    top_targets: int = 0
    evidence_edges: int = 0
    batches: int = 0
    seconds: float = 0.0

    def as_record(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "clusters": self.clusters,
            "memberships": self.memberships,
            "top_targets": self.top_targets,
            "evidence_edges": self.evidence_edges,
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
        }


def new_run_id(now: datetime | None = None) -> str:
    """``r-<UTC time>-<random>``: sortable by creation time, unique."""
    t = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    return f"r-{t}-{secrets.token_hex(4)}"


def _ms_now() -> int:
    return int(time.time() * 1000)


def sub_score_property(name: str) -> str:
    """Property of a sub-score on a ``Cluster``: ``significance`` -> ``scoreSignificance``."""
    return "score" + name[:1].upper() + name[1:]


def cluster_row(run_id: str, c: Cluster) -> dict[str, Any]:
    props: dict[str, Any] = {
        "clusterId": c.cluster_id,
        "runId": run_id,
        "rank": c.rank,
        "score": c.score,
        "size": c.size,
        "nEdges": c.n_edges,
        "signals": list(c.signals),
        "evidenceTruncated": c.evidence_truncated,
    }
    for k, v in c.sub_scores.items():
        props[sub_score_property(k)] = float(v)
    return {"key": f"{run_id}/{c.cluster_id}", "props": props, "members": list(c.members)}


def top_target_rows(run_id: str, c: Cluster) -> list[dict[str, Any]]:
    return [
        {
            "key": f"{run_id}/{c.cluster_id}",
            "target": t.target,
            "props": {
                "rank": i,
                "accounts": t.accounts,
                "popularity": t.popularity,
                "firstTs": t.first_ts,
                "lastTs": t.last_ts,
            },
        }
        for i, t in enumerate(c.top_targets, 1)
    ]


def evidence_row(cluster_id: str, e: Evidence) -> dict[str, Any]:
    """One ``COORDINATED`` edge: scalar fields, and the examples as parallel lists (Neo4j
    properties cannot hold maps; texts only for the text signal)."""
    props: dict[str, Any] = {
        "weight": float(e.weight),
        "pValue": float(e.p_value),
        "log10P": float(e.log10_p),
        "sharedTargets": e.shared_targets,
        "episodes": e.episodes,
        "expected": float(e.expected),
        "dtMedian": float(e.median_dt),
        "firstTs": e.first_ts,
        "lastTs": e.last_ts,
        "exampleTargets": [x.target for x in e.examples],
        "exampleTargetsB": [x.target_b if x.target_b is not None else x.target for x in e.examples],
        "exampleTsA": [x.t_a for x in e.examples],
        "exampleTsB": [x.t_b for x in e.examples],
    }
    if any(x.text_a is not None or x.text_b is not None for x in e.examples):
        props["exampleTextA"] = [x.text_a or "" for x in e.examples]
        props["exampleTextB"] = [x.text_b or "" for x in e.examples]
    return {"a": e.a, "b": e.b, "clusterId": cluster_id, "signal": e.signal, "window": e.window,
            "props": props}  # fmt: skip


def _chunks(rows: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for lo in range(0, len(rows), size):
        yield rows[lo : lo + size]


def _retrying(store: GraphStore, what: str, fn: Callable[[], T]) -> T:
    """Run an idempotent write, re-running it after an ambiguous commit or a transient
    failure (bounded)."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        with store.errors(what):
            try:
                return fn()
            except RETRYABLE:
                if attempt == MAX_ATTEMPTS:
                    raise
        time.sleep(0.1 * 2 ** (attempt - 1) * (0.5 + random.random()))
    raise Unavailable(f"{what}: failed after {MAX_ATTEMPTS} attempts")  # pragma: no cover


def _write_rows(store: GraphStore, query: str, params: dict[str, Any]) -> int:
    """One idempotent statement in its own transaction (retried); its single count."""

    def go() -> int:
        def work(tx: Tx) -> int:
            rec = tx.run(query, params).single()
            return int(rec[0]) if rec is not None else 0

        return store.write_tx(work)

    return _retrying(store, "write-back", go)


def _write_batch(
    store: GraphStore, rid: str, batch: str, query: str, rows: Sequence[Any], expected: int
) -> int:
    """One batch of rows in one transaction that also claims the batch key on the run:
    a re-run after an ambiguous commit finds the key and writes nothing (it reports
    ``expected``, what the committed attempt wrote)."""

    def go() -> int:
        def work(tx: Tx) -> int:
            claim = tx.run(cypher.RUN_CLAIM_BATCH, {"runId": rid, "batch": batch}).single()
            if claim is None or not claim["writing"]:
                raise FailedPrecondition(f"run {rid} is no longer being written")
            if claim["done"]:
                return expected
            rec = tx.run(query, {"runId": rid, "rows": list(rows)}).single()
            return int(rec["written"]) if rec is not None else 0

        return store.write_tx(work)

    return _retrying(store, "write-back", go)


def write_run(
    store: GraphStore,
    result: DetectionResult,
    params: DetectParams,
    *,
    since: int | None = None,
    until: int | None = None,
    source: dict[str, Any] | None = None,
    run_id: str | None = None,
    cluster_batch: int = CLUSTER_BATCH,
    evidence_batch: int = EVIDENCE_BATCH,
    on_batch: BatchHook | None = None,
) -> RunWriteReport:
    """Write ``result`` as a new run; returns its report once the run is complete."""
    t0 = time.perf_counter()
    rid = run_id or new_run_id()
    report = RunWriteReport(rid)
    run_params = {**params.as_record(), "since": since, "until": until}
    events = int(result.stats.get("events", 0))
    opened = _write_rows(
        store, cypher.RUN_CREATE,
        {"runId": rid, "createdAt": _ms_now(), "params": json.dumps(run_params, sort_keys=True),
         "since": since, "until": until, "source": json.dumps(source or {}, sort_keys=True),
         "version": __version__, "events": events},
    )  # fmt: skip
    if opened != 1:
        run = get_run(store, rid) or {}
        raise FailedPrecondition(
            f"run {rid} is {run.get('status')!r}, not open: its results are not written"
        )
    try:
        _write_body(store, result, rid, report, cluster_batch, evidence_batch, on_batch)
        counts = {"clusters": report.clusters, "memberships": report.memberships,
                  "top_targets": report.top_targets, "evidence_edges": report.evidence_edges,
                  "events": events}  # fmt: skip
        done = _write_rows(
            store, cypher.RUN_COMPLETE,
            {"runId": rid, "completedAt": _ms_now(), "clusters": report.clusters,
             "edges": report.evidence_edges, "memberships": report.memberships,
             "counts": json.dumps(counts, sort_keys=True),
             "stats": json.dumps(result.stats, sort_keys=True, default=str)},
        )  # fmt: skip
        if done != 1 and not _completed(store, rid, report):
            raise FailedPrecondition(
                f"run {rid}: the stored clusters or evidence edges do not match what was "
                "written (or the run is no longer 'writing'); it stays incomplete"
            )
    except BaseException as exc:
        _mark_failed(store, rid, exc)
        raise
    report.seconds = time.perf_counter() - t0
    return report


def _write_body(
    store: GraphStore,
    result: DetectionResult,
    rid: str,
    report: RunWriteReport,
    cluster_batch: int,
    evidence_batch: int,
    on_batch: BatchHook | None,
) -> None:
    clusters = [cluster_row(rid, c) for c in result.clusters]
    tops = [t for c in result.clusters for t in top_target_rows(rid, c)]
    edges = [evidence_row(c.cluster_id, e) for c in result.clusters for e in c.evidence]
    for i, chunk in enumerate(_chunks(clusters, cluster_batch)):
        members = sum(len(c["members"]) for c in chunk)
        report.memberships += _write_batch(
            store, rid, f"clusters:{i}", cypher.RUN_WRITE_CLUSTERS, chunk, members
        )
        report.clusters += len(chunk)
        report.batches += 1
        if on_batch is not None:
            on_batch("clusters", report.clusters, len(clusters))
    for i, chunk in enumerate(_chunks(tops, evidence_batch)):
        report.top_targets += _write_batch(
            store, rid, f"top_targets:{i}", cypher.RUN_WRITE_TOP_TARGETS, chunk, len(chunk)
        )
        report.batches += 1
        if on_batch is not None:
            on_batch("top_targets", report.top_targets, len(tops))
    for i, chunk in enumerate(_chunks(edges, evidence_batch)):
        report.evidence_edges += _write_batch(
            store, rid, f"evidence:{i}", cypher.RUN_WRITE_EVIDENCE, chunk, len(chunk)
        )
        report.batches += 1
        if on_batch is not None:
            on_batch("evidence", report.evidence_edges, len(edges))


def _completed(store: GraphStore, rid: str, report: RunWriteReport) -> bool:
    """Did an earlier attempt of the final transaction commit (ambiguous commit)?"""
    run = get_run(store, rid)
    return (
        run is not None
        and run.get("status") == "complete"
        and run.get("clusters") == report.clusters
        and run.get("evidenceEdges") == report.evidence_edges
    )


def _mark_failed(store: GraphStore, rid: str, exc: BaseException) -> None:
    """Best effort: a run whose write-back raised is marked 'failed' (never 'complete')."""
    with contextlib.suppress(Exception):  # the original error matters more
        store.write(
            cypher.RUN_FAIL,
            {"runId": rid, "failedAt": _ms_now(), "error": f"{type(exc).__name__}: {exc}"[:500]},
            timeout_s=30,
        )


def get_run(store: GraphStore, run_id: str) -> dict[str, Any] | None:
    rows = store.read(cypher.RUN_GET, {"runId": run_id})
    return dict(rows[0]["run"]) if rows else None


def latest_complete_run(store: GraphStore) -> dict[str, Any] | None:
    rows = store.read(cypher.RUN_LATEST_COMPLETE)
    return dict(rows[0]["run"]) if rows else None
