"""``cib.v1.DetectionService``: runs as resources, executed by the detection worker."""

from __future__ import annotations

import grpc

from cib_detect._proto.cib.v1 import common_pb2, detection_service_pb2_grpc
from cib_detect._proto.cib.v1 import detection_service_pb2 as pb
from cib_detect.errors import FieldViolation, InvalidInput
from cib_detect.service import convert, pagination
from cib_detect.service.calls import Deadline, Readiness, unary
from cib_detect.service.worker import DetectionWorker
from cib_detect.store import run_lifecycle as lifecycle
from cib_detect.store.clusters import clusters_by_id, investigate, resolve_run
from cib_detect.store.graph_store import GraphStore

_CHANGES = {
    "new": pb.CLUSTER_CHANGE_NEW,
    "grown": pb.CLUSTER_CHANGE_GROWN,
    "shrunk": pb.CLUSTER_CHANGE_SHRUNK,
    "changed": pb.CLUSTER_CHANGE_CHANGED,
    "vanished": pb.CLUSTER_CHANGE_VANISHED,
}
MAX_RUN_SECONDS = 7 * 86400.0


class DetectionServicer(detection_service_pb2_grpc.DetectionServiceServicer):
    def __init__(
        self, store: GraphStore, worker: DetectionWorker, readiness: Readiness, default_s: float
    ) -> None:
        self.store = store
        self.worker = worker
        self.readiness = readiness
        self.default_s = default_s

    def _run(self, run: dict[str, object]) -> common_pb2.DetectionRun:
        return convert.detection_run(run, self.worker.live(str(run["runId"])))

    @unary
    def StartDetection(
        self, request: pb.StartDetectionRequest, context: grpc.ServicerContext
    ) -> pb.StartDetectionResponse:
        params = convert.detect_params(request.params)
        since, until = convert.time_range(request.time_range)
        if not 0.0 <= request.max_seconds <= MAX_RUN_SECONDS:
            raise InvalidInput(
                "max_seconds: must be 0 (no budget) or up to 7 days",
                violations=[FieldViolation("max_seconds", "must be in [0, 604800]")],
            )
        run = self.worker.submit(params, since, until, request.max_seconds)
        return pb.StartDetectionResponse(run_id=str(run["runId"]), run=self._run(run))

    @unary
    def GetDetectionRun(
        self, request: pb.GetDetectionRunRequest, context: grpc.ServicerContext
    ) -> pb.GetDetectionRunResponse:
        run_id = convert.required_id(request.run_id, "run_id")
        deadline = Deadline(context, self.default_s)
        run = lifecycle.require_run(self.store, run_id, timeout_s=deadline.timeout_s())
        return pb.GetDetectionRunResponse(run=self._run(run))

    @unary
    def CancelDetection(
        self, request: pb.CancelDetectionRequest, context: grpc.ServicerContext
    ) -> pb.CancelDetectionResponse:
        run_id = convert.required_id(request.run_id, "run_id")
        return pb.CancelDetectionResponse(run=self._run(self.worker.cancel(run_id)))

    @unary
    def ListDetectionRuns(
        self, request: pb.ListDetectionRunsRequest, context: grpc.ServicerContext
    ) -> pb.ListDetectionRunsResponse:
        size = convert.page_size(request.page_size, "page_size", 50, lifecycle.MAX_PAGE)
        pos = pagination.decode(request.page_token, "runs", {}, (int, str))
        after = (pos[0], pos[1]) if pos is not None else None
        deadline = Deadline(context, self.default_s)
        runs = lifecycle.list_runs(
            self.store, after=after, limit=size + 1, timeout_s=deadline.timeout_s()
        )
        token = ""
        if len(runs) > size:
            runs = runs[:size]
            last = runs[-1]
            token = pagination.encode("runs", {}, [int(last["createdAt"]), str(last["runId"])])
        return pb.ListDetectionRunsResponse(
            runs=[self._run(r) for r in runs], next_page_token=token
        )

    @unary
    def DiffRuns(
        self, request: pb.DiffRunsRequest, context: grpc.ServicerContext
    ) -> pb.DiffRunsResponse:
        base = convert.optional_id(request.base_run_id, "base_run_id")
        new = convert.optional_id(request.run_id, "run_id")
        deadline = Deadline(context, self.default_s)
        new = resolve_run(self.store, new, timeout_s=deadline.timeout_s())
        if base:
            resolve_run(self.store, base, timeout_s=deadline.timeout_s())
        rows = investigate(
            self.store, "run_diff", {"newRunId": new, "oldRunId": base or None},
            timeout_s=deadline.timeout_s(),
        )  # fmt: skip
        base_id = str(rows[0]["oldRunId"] or "") if rows else base
        t = deadline.timeout_s()
        current = clusters_by_id(self.store, new, [r["clusterId"] for r in rows], timeout_s=t)
        gone = [r["clusterId"] for r in rows if r["change"] == "vanished"]
        before = clusters_by_id(self.store, base_id, gone, timeout_s=t) if gone else {}
        changes = []
        for r in rows:
            change = str(r["change"])
            cid = str(r["clusterId"])
            summary = (before if change == "vanished" else current).get(cid)
            if summary is None:  # pragma: no cover - the diff read the same clusters
                continue
            changes.append(
                pb.ClusterDiff(
                    change=_CHANGES[change],
                    cluster=convert.cluster_summary(summary),
                    base_cluster_id=str(r["previousClusterId"] or ""),
                    base_size=int(r["previousSize"] or 0),
                    overlap=int(r["overlap"] or 0),
                    added_members=list(r["addedMembers"]),
                    removed_members=list(r["removedMembers"]),
                )
            )
        return pb.DiffRunsResponse(base_run_id=base_id, run_id=new, changes=changes)
