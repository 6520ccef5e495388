"""The life of a detection run started by the service, kept on its ``DetectionRun`` node.

``queued`` (:func:`queue_run`) -> ``running`` (:func:`report_stage`, while exporting and
detecting) -> ``writing`` (:func:`cib_detect.store.runs.write_run`) -> ``complete``; or
``failed`` (an error, or :func:`abandon_runs` after the service stopped mid-run) or
``cancelled`` (:func:`cancel_run`, from any open state). Each step is one short
transaction, so every service instance and every investigator sees the same state.
The write-back checks the state in every batch, so a run cancelled while it is being
written stops writing and never becomes complete.
"""

from __future__ import annotations

import json
import time
from typing import Any

from cib_detect import __version__
from cib_detect.errors import FailedPrecondition, FieldViolation, InvalidInput, NotFound
from cib_detect.store import cypher
from cib_detect.store.graph_store import GraphStore

OPEN_STATES = ("queued", "running", "writing")
MAX_PAGE = 1000


def now_ms() -> int:
    return int(time.time() * 1000)


def queue_run(
    store: GraphStore,
    run_id: str,
    params: dict[str, Any],
    *,
    since: int | None,
    until: int | None,
    source: dict[str, Any],
    owner: str,
) -> dict[str, Any]:
    """Create the run node in state ``queued``; returns its properties."""
    record = {**params, "since": since, "until": until}
    rows = store.write(
        cypher.RUN_QUEUE,
        {"runId": run_id, "createdAt": now_ms(), "params": json.dumps(record, sort_keys=True),
         "since": since, "until": until, "source": json.dumps(source, sort_keys=True),
         "version": __version__, "owner": owner},
    )  # fmt: skip
    return dict(rows[0]["run"])


def report_stage(store: GraphStore, run_id: str, stage: str, progress: float) -> bool:
    """Record the stage of an open run; False when the run is no longer open (it was
    cancelled or ended elsewhere), which tells the worker to stop."""
    rows = store.write(
        cypher.RUN_STAGE,
        {"runId": run_id, "stage": stage, "progress": float(progress), "now": now_ms()},
        timeout_s=30,
    )
    return bool(rows)


def cancel_run(store: GraphStore, run_id: str, reason: str) -> dict[str, Any]:
    """Cancel an open run. :class:`NotFound` for an unknown run, :class:`FailedPrecondition`
    for one that has ended already."""
    rows = store.write(cypher.RUN_CANCEL, {"runId": run_id, "now": now_ms(), "reason": reason})
    if not rows:
        raise NotFound(f"no detection run {run_id!r}")
    run = dict(rows[0]["run"])
    if not rows[0]["cancelled"]:
        raise FailedPrecondition(
            f"run {run_id} has ended ({run.get('status')}); only a queued or running run "
            "can be cancelled"
        )
    return run


def fail_run(store: GraphStore, run_id: str, error: str) -> None:
    """Mark an open run failed (no effect on a run that has ended)."""
    store.write(cypher.RUN_FAIL, {"runId": run_id, "failedAt": now_ms(), "error": error[:500]})


def abandon_runs(store: GraphStore, owner: str) -> list[str]:
    """Mark failed the runs an earlier process of the instance ``owner`` left open."""
    rows = store.write(cypher.RUN_ABANDON, {"owner": owner, "now": now_ms()})
    return [str(r) for r in rows[0]["runIds"]] if rows else []


def require_run(
    store: GraphStore, run_id: str, *, timeout_s: float | None = None
) -> dict[str, Any]:
    """The run's properties, or :class:`NotFound`."""
    if not run_id:
        raise InvalidInput("run_id is required", violations=[FieldViolation("run_id", "required")])
    rows = store.quick_read(cypher.RUN_GET, {"runId": run_id}, timeout_s=timeout_s)
    if not rows:
        raise NotFound(f"no detection run {run_id!r}")
    return dict(rows[0]["run"])


def list_runs(
    store: GraphStore,
    *,
    after: tuple[int, str] | None,
    limit: int,
    timeout_s: float | None = None,
) -> list[dict[str, Any]]:
    """Runs newest first, after the keyset position ``(createdAt, runId)``."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"page size must be 1..{MAX_PAGE}")
    rows = store.read(
        cypher.RUN_PAGE,
        {"after": list(after) if after is not None else None, "limit": limit},
        timeout_s=timeout_s,
    )
    return [dict(r["run"]) for r in rows]
