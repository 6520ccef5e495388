"""The detection worker: runs queued detection runs one at a time on its own thread.

One thread runs the engine, so RPC threads (health checks, reads, ingest) stay
responsive while a run is going, and the Numba kernels are only ever driven from this
thread and the engine's own pool (no Numba threading layer is involved: the kernels are
serial, ``nogil``). A run's state lives on its ``DetectionRun`` node
(:mod:`cib_detect.store.run_lifecycle`); the worker also keeps the live stage and
progress in memory for ``GetDetectionRun``.

Between kernel chunks the engine calls :meth:`_Job.check`, which stops the run when it
was cancelled (here or by another instance), when its ``max_seconds`` budget is spent,
or when the service shuts down.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import structlog

from cib_detect.config import DetectParams
from cib_detect.errors import Cancelled, CibError, DeadlineExceeded, FailedPrecondition
from cib_detect.service import metrics
from cib_detect.store import run_lifecycle as lifecycle
from cib_detect.store.export import export_events
from cib_detect.store.graph_store import GraphStore
from cib_detect.store.runs import new_run_id, write_run

log = structlog.get_logger("cib_detect.worker")

#: Rough share of a run's time per stage, for one progress figure.
_STAGES = {"export": (0.0, 0.3), "write-back": (0.9, 1.0)}
_ENGINE = (0.3, 0.9)
#: How often the worker looks at the run node for a cancellation from elsewhere.
_REMOTE_CHECK_S = 2.0


@dataclass
class _Job:
    run_id: str
    params: DetectParams
    since: int | None
    until: int | None
    max_seconds: float
    stage: str = "queued"
    progress: float = 0.0
    cancelled: threading.Event = field(default_factory=threading.Event)
    cancel_reason: str = ""
    started: float = 0.0

    def check(self) -> None:
        if self.cancelled.is_set():
            raise Cancelled(self.cancel_reason or "cancelled")
        if (
            self.max_seconds > 0
            and self.started
            and time.monotonic() - self.started > (self.max_seconds)
        ):
            raise DeadlineExceeded(
                f"run {self.run_id} exceeded its budget of {self.max_seconds:g} s"
            )


class DetectionWorker:
    """Queue of detection runs, served by one thread."""

    def __init__(self, store: GraphStore, owner: str, workers: int = 2) -> None:
        self.store = store
        self.owner = owner
        self.export_workers = workers
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="detection-worker", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ API

    def submit(
        self,
        params: DetectParams,
        since: int | None,
        until: int | None,
        max_seconds: float = 0.0,
    ) -> dict[str, Any]:
        """Queue a run (its node is created first, so it is listed at once)."""
        if self._stopping.is_set():
            raise FailedPrecondition("the service is shutting down; start the run elsewhere")
        run_id = new_run_id()
        source = {"kind": "neo4j", "uri": self.store.uri, "database": self.store.database,
                  "since_ms": since, "until_ms": until, "via": "grpc"}  # fmt: skip
        run = lifecycle.queue_run(
            self.store, run_id, params.as_record(), since=since, until=until, source=source,
            owner=self.owner,
        )  # fmt: skip
        job = _Job(run_id, params, since, until, max_seconds)
        with self._lock:
            self._jobs[run_id] = job
        self._queue.put(job)
        log.info("run_queued", run_id=run_id)
        return run

    def live(self, run_id: str) -> tuple[str, float] | None:
        with self._lock:
            job = self._jobs.get(run_id)
            return (job.stage, job.progress) if job is not None else None

    def cancel(self, run_id: str, reason: str = "cancelled on request") -> dict[str, Any]:
        """Cancel a queued or running run (in this process and on its node)."""
        run = lifecycle.cancel_run(self.store, run_id, reason)
        with self._lock:
            job = self._jobs.get(run_id)
        if job is not None:
            job.cancel_reason = reason
            job.cancelled.set()
        return run

    def busy(self) -> bool:
        with self._lock:
            return bool(self._jobs)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop taking runs; cancel the open ones; wait for the thread."""
        self._stopping.set()
        with self._lock:
            jobs = list(self._jobs.values())
        reason = "the service shut down before the run finished"
        for job in jobs:
            job.cancel_reason = reason
            job.cancelled.set()
            # ended meanwhile, or Neo4j is down (abandon_runs cleans up at the next start)
            with contextlib.suppress(CibError):
                lifecycle.cancel_run(self.store, job.run_id, reason)
        self._queue.put(None)
        self._thread.join(timeout_s)

    # ------------------------------------------------------------------ thread

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                break
            try:
                if job.cancelled.is_set() or self._stopping.is_set():
                    self._end(job, Cancelled(job.cancel_reason or "cancelled"))
                else:
                    self._run(job)
            except Exception:  # never let the worker thread die
                log.exception("worker_error", run_id=job.run_id)
            finally:
                with self._lock:
                    self._jobs.pop(job.run_id, None)

    def _stage(self, job: _Job, stage: str, progress: float, *, persist: bool) -> None:
        job.stage, job.progress = stage, round(progress, 4)
        if persist and not lifecycle.report_stage(self.store, job.run_id, stage, progress):
            job.cancel_reason = job.cancel_reason or "the run was cancelled"
            job.cancelled.set()
        job.check()

    def _run(self, job: _Job) -> None:
        from cib_detect.detect import run_detection

        job.started = time.monotonic()
        t0 = time.perf_counter()
        try:
            self._stage(job, "export", 0.0, persist=True)
            lo, hi = _STAGES["export"]
            events, _ = export_events(
                self.store, since=job.since, until=job.until, workers=self.export_workers,
                progress=lambda d, n: self._stage(job, "export", lo + (hi - lo) * d / max(n, 1),
                                                  persist=False),
            )  # fmt: skip
            last_remote = [time.monotonic()]
            current = [""]

            def progress(stage: str, frac: float) -> None:
                a, b = _ENGINE
                persist = stage != current[0] or time.monotonic() - last_remote[0] > _REMOTE_CHECK_S
                if persist:
                    current[0] = stage
                    last_remote[0] = time.monotonic()
                self._stage(job, stage, a + (b - a) * frac, persist=persist)

            result = run_detection(events, job.params, progress=progress, check=job.check)
            self._stage(job, "write-back", _STAGES["write-back"][0], persist=True)
            source = {"kind": "neo4j", "uri": self.store.uri, "via": "grpc",
                      "since_ms": job.since, "until_ms": job.until}  # fmt: skip

            def on_batch(stage: str, done: int, total: int) -> None:
                lo_w, hi_w = _STAGES["write-back"]
                job.stage, job.progress = (
                    f"write {stage}",
                    lo_w + (hi_w - lo_w) * done / max(total, 1),
                )
                job.check()

            write_run(
                self.store, result, job.params, since=job.since, until=job.until,
                source=source, run_id=job.run_id, on_batch=on_batch,
            )  # fmt: skip
            job.stage, job.progress = "complete", 1.0
            metrics.RUNS.labels("succeeded").inc()
            log.info("run_complete", run_id=job.run_id, clusters=len(result.clusters),
                     events=events.n, seconds=round(time.perf_counter() - t0, 3))  # fmt: skip
        except CibError as exc:
            self._end(job, exc)

    def _end(self, job: _Job, exc: CibError) -> None:
        """Record how an unfinished run ended (cancelled, over budget, or failed)."""
        if isinstance(exc, Cancelled) or job.cancelled.is_set():
            with contextlib.suppress(CibError):  # cancelled already (the usual case)
                lifecycle.cancel_run(self.store, job.run_id, job.cancel_reason or exc.message)
            log.info("run_cancelled", run_id=job.run_id, reason=job.cancel_reason)
            metrics.RUNS.labels("cancelled").inc()
            return
        what = "DEADLINE_EXCEEDED" if isinstance(exc, DeadlineExceeded) else exc.status
        metrics.RUNS.labels("failed").inc()
        lifecycle.fail_run(self.store, job.run_id, f"{what}: {exc.message}")
        log.warning("run_failed", run_id=job.run_id, error=exc.message[:300])
