"""Reads of complete runs for the service: cluster pages, one cluster with its evidence,
analysts' decisions, and the investigator queries behind ExplainAccount,
TargetAmplifiers and DiffRuns (the same ``cypher/investigate`` files investigators run).

Every read takes ``timeout_s``: the caller's remaining deadline becomes the server-side
transaction timeout, so Neo4j stops working on a request nobody waits for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cib_detect.errors import FailedPrecondition, FieldViolation, InvalidInput, NotFound
from cib_detect.model import Evidence, TopTarget
from cib_detect.store import cypher
from cib_detect.store.graph_store import GraphStore
from cib_detect.store.investigate import bind, get_query
from cib_detect.store.run_lifecycle import now_ms
from cib_detect.store.run_read import (
    evidence_from,
    evidence_order,
    sub_scores_from,
    top_target_from,
)

REVIEW_STATUSES = ("open", "under_review", "actioned", "dismissed")
MAX_NOTE = 10_000
MAX_ANALYST = 256


@dataclass(frozen=True)
class Review:
    status: str  # one of REVIEW_STATUSES
    note: str = ""
    analyst: str = ""
    updated_ms: int = 0


@dataclass(frozen=True)
class ClusterSummary:
    run_id: str
    cluster_id: str
    rank: int
    score: float
    sub_scores: dict[str, float]
    size: int
    signals: tuple[str, ...]
    n_edges: int
    evidence_truncated: bool
    review: Review
    erasures: int = 0  # how many erasures changed the cluster (its data's version)


@dataclass(frozen=True)
class ClusterDetail:
    summary: ClusterSummary
    members: tuple[str, ...]
    top_targets: tuple[TopTarget, ...]
    evidence: tuple[Evidence, ...]  # all stored edges, in the engine's order


def summary_from(props: dict[str, Any]) -> ClusterSummary:
    """A ``Cluster`` node's properties as a :class:`ClusterSummary`."""
    return ClusterSummary(
        run_id=str(props["runId"]),
        cluster_id=str(props["clusterId"]),
        rank=int(props["rank"]),
        score=float(props["score"]),
        sub_scores=sub_scores_from(props),
        size=int(props["size"]),
        signals=tuple(props.get("signals") or ()),
        n_edges=int(props.get("nEdges") or 0),
        evidence_truncated=bool(props.get("evidenceTruncated", False)),
        review=Review(
            status=str(props.get("reviewStatus") or "open"),
            note=str(props.get("reviewNote") or ""),
            analyst=str(props.get("reviewAnalyst") or ""),
            updated_ms=int(props.get("reviewUpdatedAt") or 0),
        ),
        erasures=int(props.get("erasures") or 0),
    )


def resolve_run(store: GraphStore, run_id: str, *, timeout_s: float | None = None) -> str:
    """``run_id`` when it names a complete run; the latest complete run when empty."""
    if not run_id:
        rows = store.quick_read(cypher.RUN_LATEST_COMPLETE, timeout_s=timeout_s)
        if not rows:
            raise NotFound("no complete detection run yet")
        return str(rows[0]["run"]["runId"])
    rows = store.quick_read(cypher.RUN_GET, {"runId": run_id}, timeout_s=timeout_s)
    if not rows:
        raise NotFound(f"no detection run {run_id!r}")
    _require_complete(run_id, rows[0]["run"].get("status"))
    return run_id


def _require_complete(run_id: str, status: Any) -> None:
    if status != "complete":
        raise FailedPrecondition(
            f"run {run_id} is {status!r}: only the clusters of a complete run can be read"
        )


def cluster_page(
    store: GraphStore,
    run_id: str,
    *,
    after_rank: int,
    min_score: float,
    limit: int,
    timeout_s: float | None = None,
) -> tuple[int, list[ClusterSummary]]:
    """(clusters of the complete run with ``score >= min_score``, the page after
    ``after_rank``), in one read that also checks the run."""
    rows = store.quick_read(
        cypher.CLUSTER_PAGE,
        {"runId": run_id, "afterRank": after_rank, "minScore": min_score, "limit": limit},
        timeout_s=timeout_s,
    )
    if not rows:
        raise NotFound(f"no detection run {run_id!r}")
    _require_complete(run_id, rows[0]["status"])
    return int(rows[0]["total"]), [summary_from(c) for c in rows[0]["clusters"]]


def cluster_summary(
    store: GraphStore, run_id: str, cluster_id: str, *, timeout_s: float | None = None
) -> ClusterSummary:
    """One cluster's current properties (its review among them), in one read that also
    checks the run: :class:`NotFound` / :class:`FailedPrecondition` as
    :func:`resolve_run`."""
    rows = store.quick_read(
        cypher.CLUSTER_SUMMARY,
        {"runId": run_id, "key": f"{run_id}/{cluster_id}"},
        timeout_s=timeout_s,
    )
    if not rows:
        raise NotFound(f"no detection run {run_id!r}")
    _require_complete(run_id, rows[0]["status"])
    if rows[0]["cluster"] is None:
        raise NotFound(f"no cluster {cluster_id!r} in run {run_id}")
    return summary_from(rows[0]["cluster"])


def get_cluster(
    store: GraphStore, run_id: str, cluster_id: str, *, timeout_s: float | None = None
) -> ClusterDetail:
    """One cluster of a complete run with everything stored about it."""
    rows = store.read(cypher.CLUSTER_GET, {"key": f"{run_id}/{cluster_id}"}, timeout_s=timeout_s)
    if not rows:
        raise NotFound(f"no cluster {cluster_id!r} in run {run_id}")
    row = rows[0]
    evidence = [evidence_from(e["a"], e["b"], e["edge"]) for e in row["evidence"]]
    return ClusterDetail(
        summary=summary_from(row["cluster"]),
        members=tuple(row["members"]),
        top_targets=tuple(top_target_from(t) for t in row["topTargets"]),
        evidence=tuple(sorted(evidence, key=evidence_order)),
    )


def set_review(
    store: GraphStore,
    run_id: str,
    cluster_id: str,
    status: str,
    note: str,
    analyst: str,
    *,
    timeout_s: float | None = None,
) -> ClusterSummary:
    """Record an analyst's decision on a cluster (current status + history node)."""
    problems = []
    if status not in REVIEW_STATUSES:
        problems.append(FieldViolation("status", f"must be one of {', '.join(REVIEW_STATUSES)}"))
    if len(note) > MAX_NOTE:
        problems.append(FieldViolation("note", f"longer than {MAX_NOTE} characters"))
    if len(analyst) > MAX_ANALYST:
        problems.append(FieldViolation("analyst", f"longer than {MAX_ANALYST} characters"))
    if "\x00" in note or "\x00" in analyst:
        problems.append(FieldViolation("note" if "\x00" in note else "analyst", "NUL byte"))
    if problems:
        raise InvalidInput("bad cluster status: " + "; ".join(p.describe() for p in problems),
                           violations=problems)  # fmt: skip
    rows = store.write(
        cypher.CLUSTER_SET_REVIEW,
        {"key": f"{run_id}/{cluster_id}", "status": status, "note": note, "analyst": analyst,
         "now": now_ms()},
        timeout_s=timeout_s,
    )  # fmt: skip
    if not rows:
        raise NotFound(f"no cluster {cluster_id!r} in run {run_id}")
    return summary_from(rows[0]["cluster"])


def clusters_by_id(
    store: GraphStore, run_id: str, cluster_ids: list[str], *, timeout_s: float | None = None
) -> dict[str, ClusterSummary]:
    rows = store.read(
        cypher.CLUSTERS_BY_KEYS,
        {"keys": [f"{run_id}/{c}" for c in cluster_ids]},
        timeout_s=timeout_s,
    )
    return {str(r["cluster"]["clusterId"]): summary_from(r["cluster"]) for r in rows}


def investigate(
    store: GraphStore, name: str, params: dict[str, Any], *, timeout_s: float | None = None
) -> list[dict[str, Any]]:
    """Rows of the investigator query ``cypher/investigate/<name>.cypher``."""
    q = get_query(name)
    return store.read(q.statement, bind(q, params), timeout_s=timeout_s)
