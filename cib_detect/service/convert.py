"""Conversions between the API's messages and the plain model / store records."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from cib_detect._proto.cib.v1 import common_pb2 as pb
from cib_detect.config import DetectParams
from cib_detect.errors import FieldViolation, InvalidInput
from cib_detect.io.validate import MAX_TS_MS, MIN_TS_MS
from cib_detect.model import Evidence, TopTarget
from cib_detect.store.clusters import ClusterSummary

# --------------------------------------------------------------------------- requests

#: proto field -> DetectParams field (same meaning, same unit).
_PARAM_FIELDS = {
    "seed": "seed",
    "fdr": "fdr",
    "text": "text",
    "min_cluster_size": "min_cluster_size",
    "min_cluster_density": "min_cluster_density",
    "resolution": "resolution",
    "hub_cap": "hub_cap",
    "max_evidence_edges": "max_evidence_edges",
    "min_episodes": "min_episodes",
}


def detect_params(msg: pb.DetectionParams, field: str = "params") -> DetectParams:
    """Overrides from the request on top of the defaults, validated like the CLI's."""
    given: dict[str, Any] = {}
    if msg.windows_seconds:
        given["windows"] = tuple(int(w) for w in msg.windows_seconds)
    for name, target in _PARAM_FIELDS.items():
        if msg.HasField(name):  # type: ignore[arg-type]
            given[target] = getattr(msg, name)
    try:
        return DetectParams(**given)
    except ValidationError as exc:
        violations = []
        for err in exc.errors():
            loc = str(err["loc"][0]) if err["loc"] else ""
            proto = "windows_seconds" if loc == "windows" else loc
            violations.append(FieldViolation(f"{field}.{proto}", str(err["msg"])))
        raise InvalidInput(
            "bad detection parameters: " + "; ".join(v.describe() for v in violations),
            violations=violations,
        ) from None


def _check_ts(value: int, field: str) -> int:
    if not MIN_TS_MS <= value < MAX_TS_MS:
        raise InvalidInput(
            f"{field}: must be epoch milliseconds between 1990 and 2100",
            violations=[FieldViolation(field, "epoch milliseconds between 1990 and 2100")],
        )
    return value


def time_range(msg: pb.TimeRange, field: str = "time_range") -> tuple[int | None, int | None]:
    since = (
        _check_ts(msg.since_unix_millis, f"{field}.since_unix_millis")
        if msg.HasField("since_unix_millis")
        else None
    )
    until = (
        _check_ts(msg.until_unix_millis, f"{field}.until_unix_millis")
        if msg.HasField("until_unix_millis")
        else None
    )
    if since is not None and until is not None and since >= until:
        raise InvalidInput(
            f"{field}: since must be before until",
            violations=[FieldViolation(f"{field}.until_unix_millis", "not after since")],
        )
    return since, until


def page_size(value: int, field: str, default: int, maximum: int) -> int:
    if value == 0:
        return default
    if not 1 <= value <= maximum:
        raise InvalidInput(
            f"{field}: must be 0 (default {default}) or 1..{maximum}",
            violations=[FieldViolation(field, f"must be 0 or 1..{maximum}")],
        )
    return value


def required_id(value: str, field: str, max_bytes: int = 512) -> str:
    """A required identifier field: non-empty, bounded, no NUL byte."""
    reason = None
    if not value.strip():
        reason = "required"
    elif len(value.encode()) > max_bytes:
        reason = f"longer than {max_bytes} bytes"
    elif "\x00" in value:
        reason = "contains a NUL byte"
    if reason is not None:
        raise InvalidInput(f"{field}: {reason}", violations=[FieldViolation(field, reason)])
    return value


def optional_id(value: str, field: str) -> str:
    return required_id(value, field) if value else ""


# --------------------------------------------------------------------------- replies

REVIEW_TO_PROTO = {
    "open": pb.REVIEW_STATUS_OPEN,
    "under_review": pb.REVIEW_STATUS_UNDER_REVIEW,
    "actioned": pb.REVIEW_STATUS_ACTIONED,
    "dismissed": pb.REVIEW_STATUS_DISMISSED,
}
REVIEW_FROM_PROTO = {v: k for k, v in REVIEW_TO_PROTO.items()}


def cluster_summary(s: ClusterSummary) -> pb.ClusterSummary:
    sub = s.sub_scores
    return pb.ClusterSummary(
        run_id=s.run_id,
        cluster_id=s.cluster_id,
        rank=s.rank,
        score=s.score,
        sub_scores=pb.SubScores(
            synchrony=sub.get("synchrony", 0.0),
            density=sub.get("density", 0.0),
            evidence=sub.get("evidence", 0.0),
            significance=sub.get("significance", 0.0),
            size=sub.get("size", 0.0),
        ),
        size=s.size,
        signals=list(s.signals),
        evidence_edges=s.n_edges,
        evidence_truncated=s.evidence_truncated,
        review=pb.Review(
            status=REVIEW_TO_PROTO.get(s.review.status, pb.REVIEW_STATUS_OPEN),
            note=s.review.note,
            analyst=s.review.analyst,
            updated_unix_millis=s.review.updated_ms,
        ),
    )


def top_target(t: TopTarget) -> pb.TopTarget:
    return pb.TopTarget(
        target=t.target,
        accounts=t.accounts,
        popularity=t.popularity,
        first_unix_millis=t.first_ts,
        last_unix_millis=t.last_ts,
    )


def evidence_edge(e: Evidence) -> pb.EvidenceEdge:
    return pb.EvidenceEdge(
        account_a=e.a,
        account_b=e.b,
        signal=e.signal,
        window_seconds=e.window,
        weight=e.weight,
        p_value=e.p_value,
        log10_p_value=e.log10_p,
        shared_targets=e.shared_targets,
        episodes=e.episodes,
        expected=e.expected,
        dt_median_seconds=e.median_dt,
        first_unix_millis=e.first_ts,
        last_unix_millis=e.last_ts,
        examples=[
            pb.CoAction(
                target=x.target,
                target_b=x.target_b or "",
                a_unix_millis=x.t_a,
                b_unix_millis=x.t_b,
                text_a=x.text_a or "",
                text_b=x.text_b or "",
            )
            for x in e.examples
        ],
    )


def explained_edge(account: str, row: dict[str, Any]) -> pb.EvidenceEdge:
    """A ``why_flagged`` row as an edge seen from ``account`` (account_a)."""
    return pb.EvidenceEdge(
        account_a=account,
        account_b=str(row["partner"]),
        signal=str(row["signal"]),
        window_seconds=int(row["window"]),
        weight=float(row["weight"]),
        p_value=float(row["pValue"]),
        log10_p_value=float(row["log10P"] or 0.0),
        shared_targets=int(row["sharedTargets"]),
        episodes=int(row["episodes"] or 0),
        expected=float(row["expected"] or 0.0),
        dt_median_seconds=float(row["dtMedian"] or 0.0),
        first_unix_millis=int(row["firstTs"] or 0),
        last_unix_millis=int(row["lastTs"] or 0),
        examples=[
            pb.CoAction(
                target=str(x["target"]),
                target_b=str(x["partnerTarget"]) if x["partnerTarget"] != x["target"] else "",
                a_unix_millis=int(x["accountTs"]),
                b_unix_millis=int(x["partnerTs"]),
            )
            for x in row["examples"]
        ],
    )


RUN_STATES = {
    "queued": pb.RUN_STATE_QUEUED,
    "running": pb.RUN_STATE_RUNNING,
    "writing": pb.RUN_STATE_RUNNING,
    "complete": pb.RUN_STATE_SUCCEEDED,
    "failed": pb.RUN_STATE_FAILED,
    "cancelled": pb.RUN_STATE_CANCELLED,
}


def detection_run(run: dict[str, Any], live: tuple[str, float] | None = None) -> pb.DetectionRun:
    """A ``DetectionRun`` node as the API's message; ``live`` = (stage, progress) from the
    worker running it, fresher than the node."""
    status = str(run.get("status") or "")
    stage = str(run.get("stage") or status)
    progress = float(run.get("progress") or (1.0 if status == "complete" else 0.0))
    if live is not None and status in ("queued", "running", "writing"):
        stage, progress = live
    counts: dict[str, Any] = {}
    if run.get("counts"):
        try:
            counts = json.loads(run["counts"])
        except (TypeError, ValueError):
            counts = {}
    params = str(run.get("params") or "{}")
    tr = pb.TimeRange()
    if run.get("since") is not None:
        tr.since_unix_millis = int(run["since"])
    if run.get("until") is not None:
        tr.until_unix_millis = int(run["until"])
    return pb.DetectionRun(
        run_id=str(run["runId"]),
        state=RUN_STATES.get(status, pb.RUN_STATE_UNSPECIFIED),
        stage=stage,
        progress=progress,
        params_json=params,
        time_range=tr,
        events=int(run.get("events") or 0),
        clusters=int(run.get("clusters") or counts.get("clusters") or 0),
        evidence_edges=int(run.get("evidenceEdges") or counts.get("evidence_edges") or 0),
        memberships=int(run.get("memberships") or counts.get("memberships") or 0),
        created_unix_millis=int(run.get("createdAt") or 0),
        finished_unix_millis=int(run.get("finishedAt") or run.get("completedAt") or 0),
        error=str(run.get("error") or ""),
    )
