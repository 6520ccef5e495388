"""A small Python client of the ``cib.v1`` API.

    from cib_detect.client import CibClient
    with CibClient("127.0.0.1:50051") as c:
        c.wait_until_serving()
        c.ingest_file("events.parquet")
        run = c.wait_for_run(c.start_detection().run_id)
        for cluster in c.iter_clusters(run.run_id):
            print(cluster.rank, cluster.cluster_id, cluster.score)

Errors come back as :class:`cib_detect.errors.CibError` subclasses (by status code) with
the server's field violations, so callers handle one error type for both the CLI and
the API.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from cib_detect import errors
from cib_detect._proto.cib.v1 import cluster_service_pb2 as cpb
from cib_detect._proto.cib.v1 import cluster_service_pb2_grpc as cgrpc
from cib_detect._proto.cib.v1 import common_pb2 as pb
from cib_detect._proto.cib.v1 import detection_service_pb2 as dpb
from cib_detect._proto.cib.v1 import detection_service_pb2_grpc as dgrpc
from cib_detect._proto.cib.v1 import ingest_service_pb2 as ipb
from cib_detect._proto.cib.v1 import ingest_service_pb2_grpc as igrpc
from cib_detect.model import InputInfo

T = TypeVar("T")
TERMINAL = (pb.RUN_STATE_SUCCEEDED, pb.RUN_STATE_FAILED, pb.RUN_STATE_CANCELLED)
_ERRORS: dict[grpc.StatusCode, type[errors.CibError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidInput,
    grpc.StatusCode.NOT_FOUND: errors.NotFound,
    grpc.StatusCode.FAILED_PRECONDITION: errors.FailedPrecondition,
    grpc.StatusCode.UNAVAILABLE: errors.Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: errors.DeadlineExceeded,
    grpc.StatusCode.CANCELLED: errors.Cancelled,
}


def error_from(exc: grpc.RpcError) -> errors.CibError:
    """The :class:`CibError` for a failed call, with its BadRequest field violations."""
    code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
    message = exc.details() if isinstance(exc, grpc.Call) else str(exc)
    violations: list[errors.FieldViolation] = []
    status = rpc_status.from_call(exc) if isinstance(exc, grpc.Call) else None
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations += [
                    errors.FieldViolation(v.field, v.description) for v in bad.field_violations
                ]
    cls = _ERRORS.get(code, errors.CibError)
    err = cls(f"{code.name}: {message}", violations=violations)
    err.status = code.name
    return err


def time_range(since_ms: int | None = None, until_ms: int | None = None) -> pb.TimeRange:
    """``[since, until)`` in epoch ms as a message; an unset bound stays open."""
    tr = pb.TimeRange()
    if since_ms is not None:
        tr.since_unix_millis = since_ms
    if until_ms is not None:
        tr.until_unix_millis = until_ms
    return tr


def event_message(
    event_id: str,
    account_id: str,
    action: str,
    target: str,
    ts_ms: int,
    text: str | None = None,
) -> pb.Event:
    e = pb.Event(
        event_id=event_id, account_id=account_id, action=action, target=target, unix_millis=ts_ms
    )
    if text is not None:
        e.text = text
    return e


class CibClient:
    """Blocking client; one channel, one stub per service."""

    def __init__(
        self,
        target: str = "127.0.0.1:50051",
        *,
        timeout_s: float = 30.0,
        channel: grpc.Channel | None = None,
        token: str | None = None,
        tls_ca: bytes | None = None,
        tls_cert: bytes | None = None,
        tls_key: bytes | None = None,
        tls_server_name: str | None = None,
    ) -> None:
        """``token``: bearer token (default: the ``CIB_TOKEN`` environment variable).
        ``tls_ca`` (PEM) switches to TLS; ``tls_cert`` + ``tls_key`` add a client
        certificate (mTLS)."""
        self.target = target
        self.timeout_s = timeout_s
        token = token if token is not None else os.environ.get("CIB_TOKEN")
        self.metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {token}"),) if token else ()
        )
        options: list[tuple[str, Any]] = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
        if tls_server_name:
            options.append(("grpc.ssl_target_name_override", tls_server_name))
        if channel is None:
            if tls_ca is not None or tls_cert is not None:
                creds = grpc.ssl_channel_credentials(tls_ca, tls_key, tls_cert)
                channel = grpc.secure_channel(target, creds, options=options)
            else:
                channel = grpc.insecure_channel(target, options=options)
        self.channel = channel
        self.ingest = igrpc.IngestServiceStub(self.channel)
        self.detection = dgrpc.DetectionServiceStub(self.channel)
        self.clusters = cgrpc.ClusterServiceStub(self.channel)
        self.health_stub = health_pb2_grpc.HealthStub(self.channel)

    def __enter__(self) -> CibClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    def _call(self, fn: Callable[..., T], request: Any, timeout_s: float | None = None) -> T:
        try:
            return fn(request, timeout=timeout_s or self.timeout_s, metadata=self.metadata)
        except grpc.RpcError as exc:
            raise error_from(exc) from None

    # ------------------------------------------------------------------ health

    def health(self, service: str = "") -> str:
        """SERVING, NOT_SERVING, ... of the service (``""`` = the whole server)."""
        check = self.health_stub.Check  # type: ignore[attr-defined]
        resp = self._call(check, health_pb2.HealthCheckRequest(service=service))
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status))

    def wait_until_serving(self, timeout_s: float = 120.0, poll_s: float = 0.2) -> None:
        """Block until health is SERVING (bounded by ``timeout_s``)."""
        end = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < end:
            try:
                last = self.health()
                if last == "SERVING":
                    return
            except errors.CibError as exc:
                last = exc.message
            time.sleep(poll_s)
        raise errors.Unavailable(f"{self.target} is not serving after {timeout_s:g} s ({last})")

    # ------------------------------------------------------------------ ingest

    def ingest_events(self, events: Iterable[pb.Event]) -> ipb.IngestEventsResponse:
        return self._call(self.ingest.IngestEvents, ipb.IngestEventsRequest(events=list(events)))

    def stream_batches(
        self, batches: Iterable[list[pb.Event]], timeout_s: float | None = None
    ) -> Iterator[ipb.StreamEventsResponse]:
        """Send batches over one stream; yields each batch's committed outcome in order."""
        requests = (ipb.StreamEventsRequest(events=b, sequence=i) for i, b in enumerate(batches))
        try:
            yield from self.ingest.StreamEvents(requests, timeout=timeout_s, metadata=self.metadata)
        except grpc.RpcError as exc:
            raise error_from(exc) from None

    def ingest_file(
        self,
        path: str | Path,
        *,
        batch_size: int = 1000,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, int]:
        """Read an events file with the CLI's readers and stream it in batches. Rows the
        readers reject count as invalid; events without an id get the same
        deterministic id as ``cib-detect ingest``."""
        info, batches = file_batches(path, batch_size)
        counts = {"new": 0, "duplicate": info.duplicates, "invalid": info.rejected, "sent": 0}
        for resp in self.stream_batches(batches):
            counts["new"] += resp.counts.new
            counts["duplicate"] += resp.counts.duplicate
            counts["invalid"] += resp.counts.invalid
            counts["sent"] += len(resp.results)
            if progress is not None:
                progress(counts["sent"], info.accepted)
        return counts

    # ------------------------------------------------------------------ runs

    def start_detection(
        self,
        params: pb.DetectionParams | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        max_seconds: float = 0.0,
    ) -> dpb.StartDetectionResponse:
        tr = time_range(since_ms, until_ms)
        req = dpb.StartDetectionRequest(
            params=params or pb.DetectionParams(), time_range=tr, max_seconds=max_seconds
        )
        return self._call(self.detection.StartDetection, req)

    def get_run(self, run_id: str) -> pb.DetectionRun:
        req = dpb.GetDetectionRunRequest(run_id=run_id)
        return self._call(self.detection.GetDetectionRun, req).run

    def wait_for_run(
        self,
        run_id: str,
        timeout_s: float = 3600.0,
        poll_s: float = 0.25,
        on_progress: Callable[[pb.DetectionRun], None] | None = None,
    ) -> pb.DetectionRun:
        """Poll until the run ends (bounded); returns it in its final state."""
        end = time.monotonic() + timeout_s
        while True:
            run = self.get_run(run_id)
            if on_progress is not None:
                on_progress(run)
            if run.state in TERMINAL:
                return run
            if time.monotonic() > end:
                raise errors.DeadlineExceeded(f"run {run_id} still open after {timeout_s:g} s")
            time.sleep(poll_s)

    def cancel(self, run_id: str) -> pb.DetectionRun:
        req = dpb.CancelDetectionRequest(run_id=run_id)
        return self._call(self.detection.CancelDetection, req).run

    def iter_runs(self, page_size: int = 100) -> Iterator[pb.DetectionRun]:
        token = ""
        while True:
            req = dpb.ListDetectionRunsRequest(page_size=page_size, page_token=token)
            page = self._call(self.detection.ListDetectionRuns, req)
            yield from page.runs
            token = page.next_page_token
            if not token:
                return

    def diff_runs(self, run_id: str = "", base_run_id: str = "") -> dpb.DiffRunsResponse:
        req = dpb.DiffRunsRequest(run_id=run_id, base_run_id=base_run_id)
        return self._call(self.detection.DiffRuns, req)

    # ------------------------------------------------------------------ clusters

    def list_clusters(
        self, run_id: str = "", page_size: int = 50, page_token: str = "", min_score: float = 0.0
    ) -> cpb.ListClustersResponse:
        req = cpb.ListClustersRequest(
            run_id=run_id, page_size=page_size, page_token=page_token, min_score=min_score
        )
        return self._call(self.clusters.ListClusters, req)

    def iter_clusters(
        self, run_id: str = "", page_size: int = 100, min_score: float = 0.0
    ) -> Iterator[pb.ClusterSummary]:
        token = ""
        while True:
            page = self.list_clusters(run_id, page_size, token, min_score)
            yield from page.clusters
            token = page.next_page_token
            if not token:
                return

    def get_cluster(
        self, cluster_id: str, run_id: str = "", evidence_limit: int = 0
    ) -> cpb.GetClusterResponse:
        req = cpb.GetClusterRequest(
            run_id=run_id, cluster_id=cluster_id, evidence_limit=evidence_limit
        )
        return self._call(self.clusters.GetCluster, req)

    def cluster_evidence(
        self, cluster_id: str, run_id: str = "", chunk_size: int = 0
    ) -> list[pb.EvidenceEdge]:
        req = cpb.StreamClusterEvidenceRequest(
            run_id=run_id, cluster_id=cluster_id, chunk_size=chunk_size
        )
        try:
            chunks = self.clusters.StreamClusterEvidence(
                req, timeout=self.timeout_s, metadata=self.metadata
            )
            return [e for chunk in chunks for e in chunk.evidence]
        except grpc.RpcError as exc:
            raise error_from(exc) from None

    def explain_account(
        self, account_id: str, run_id: str = "", evidence_limit: int = 0
    ) -> cpb.ExplainAccountResponse:
        req = cpb.ExplainAccountRequest(
            account_id=account_id, run_id=run_id, evidence_limit=evidence_limit
        )
        return self._call(self.clusters.ExplainAccount, req)

    def target_amplifiers(
        self,
        target: str,
        since_ms: int | None = None,
        until_ms: int | None = None,
        run_id: str = "",
        limit: int = 0,
    ) -> cpb.TargetAmplifiersResponse:
        tr = time_range(since_ms, until_ms)
        req = cpb.TargetAmplifiersRequest(target=target, time_range=tr, run_id=run_id, limit=limit)
        return self._call(self.clusters.TargetAmplifiers, req)

    def set_cluster_status(
        self, cluster_id: str, status: str, note: str = "", analyst: str = "", run_id: str = ""
    ) -> pb.ClusterSummary:
        """``status``: open, under_review, actioned or dismissed."""
        value = pb.ReviewStatus.Value("REVIEW_STATUS_" + status.upper())
        req = cpb.SetClusterStatusRequest(
            run_id=run_id, cluster_id=cluster_id, status=value, note=note, analyst=analyst
        )
        return self._call(self.clusters.SetClusterStatus, req).cluster


def _admin_stub(client: CibClient) -> Any:
    from cib_detect._proto.cib.v1 import admin_service_pb2_grpc as agrpc

    return agrpc.AdminServiceStub(client.channel)


def erase_account(client: CibClient, account_id: str) -> Any:
    """``AdminService.EraseAccount`` (admin role)."""
    from cib_detect._proto.cib.v1 import admin_service_pb2 as apb

    req = apb.EraseAccountRequest(account_id=account_id)
    return client._call(_admin_stub(client).EraseAccount, req, timeout_s=3600)


def apply_retention(client: CibClient, max_age_days: int, batch_size: int = 0) -> Any:
    """``AdminService.ApplyRetention`` (admin role)."""
    from cib_detect._proto.cib.v1 import admin_service_pb2 as apb

    req = apb.ApplyRetentionRequest(max_age_days=max_age_days, batch_size=batch_size)
    return client._call(_admin_stub(client).ApplyRetention, req, timeout_s=3600)


RETRYABLE = (errors.Unavailable, errors.DeadlineExceeded)


def ingest_reliably(
    client: CibClient,
    batches: Iterable[list[pb.Event]],
    *,
    attempts: int = 30,
    backoff_s: float = 0.5,
    timeout_s: float = 30.0,
    on_retry: Callable[[int, errors.CibError], None] | None = None,
) -> ipb.IngestCounts:
    """Send every batch until it is acknowledged, re-sending the same batch (same event
    ids) after UNAVAILABLE or DEADLINE_EXCEEDED — at most ``attempts`` times per batch,
    with capped exponential backoff. Idempotency by event id makes the re-sends safe:
    an event whose first attempt committed comes back DUPLICATE, never twice."""
    total = ipb.IngestCounts()
    for i, batch in enumerate(batches):
        for attempt in range(1, attempts + 1):
            try:
                resp = client._call(
                    client.ingest.IngestEvents, ipb.IngestEventsRequest(events=batch), timeout_s
                )
                break
            except RETRYABLE as exc:
                if attempt == attempts:
                    raise
                if on_retry is not None:
                    on_retry(i, exc)
                time.sleep(min(backoff_s * 2 ** (attempt - 1), 5.0))
        total.new += resp.counts.new
        total.duplicate += resp.counts.duplicate
        total.invalid += resp.counts.invalid
    return total


def file_batches(
    path: str | Path, batch_size: int = 1000
) -> tuple[InputInfo, Iterator[list[pb.Event]]]:
    """An events file as API batches (validated and de-duplicated by the file readers)."""
    from cib_detect.io import read_events
    from cib_detect.store.ingest import event_ids

    events, info = read_events(path, keep_event_ids=True)
    ids = event_ids(events).to_pylist()
    texts = events.text.to_pylist() if events.text is not None else None
    accounts, actions, targets = events.accounts, events.actions, events.targets
    acc, act, tgt, ts = (events.account.tolist(), events.action.tolist(),
                         events.target.tolist(), events.ts.tolist())  # fmt: skip

    def batches() -> Iterator[list[pb.Event]]:
        for lo in range(0, events.n, batch_size):
            hi = min(events.n, lo + batch_size)
            yield [
                event_message(
                    ids[i],
                    accounts[acc[i]],
                    actions[act[i]],
                    targets[tgt[i]],
                    ts[i],
                    texts[i] if texts is not None else None,
                )
                for i in range(lo, hi)
            ]

    return info, batches()
