"""``cib.v1.ClusterService``: ranked clusters of complete runs, evidence, investigations,
analysts' decisions."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from cib_detect._proto.cib.v1 import cluster_service_pb2 as pb
from cib_detect._proto.cib.v1 import cluster_service_pb2_grpc
from cib_detect.errors import FieldViolation, InvalidInput
from cib_detect.privacy import Pseudonymiser
from cib_detect.service import convert, pagination
from cib_detect.service.cache import ClusterCache, ClusterParts
from cib_detect.service.calls import Deadline, Readiness, streaming, unary
from cib_detect.store import clusters as reads
from cib_detect.store.graph_store import GraphStore

MAX_PAGE = 1000


def _malformed() -> InvalidInput:
    return InvalidInput(
        "page_token: malformed", violations=[FieldViolation("page_token", "malformed")]
    )


class ClusterServicer(cluster_service_pb2_grpc.ClusterServiceServicer):
    def __init__(
        self,
        store: GraphStore,
        readiness: Readiness,
        default_s: float,
        cache: ClusterCache | None = None,
        pseudonymiser: Pseudonymiser | None = None,
    ) -> None:
        self.store = store
        self.readiness = readiness
        self.default_s = default_s
        self.cache = cache or ClusterCache()
        self.pseudonymiser = pseudonymiser or Pseudonymiser(None)

    def _detail(
        self, run_id: str, cluster_id: str, context: grpc.ServicerContext
    ) -> tuple[reads.ClusterSummary, ClusterParts]:
        """The cluster's current node and its (cached) members, targets and evidence."""
        run_id = convert.optional_id(run_id, "run_id")
        cluster_id = convert.required_id(cluster_id, "cluster_id")
        deadline = Deadline(context, self.default_s)
        if not run_id:
            run_id = reads.resolve_run(self.store, run_id, timeout_s=deadline.timeout_s())
        summary = reads.cluster_summary(
            self.store, run_id, cluster_id, timeout_s=deadline.timeout_s()
        )
        parts = self.cache.get(run_id, cluster_id)
        if parts is None or parts.version != summary.erasures:
            d = reads.get_cluster(self.store, run_id, cluster_id, timeout_s=deadline.timeout_s())
            parts = ClusterParts(
                members=d.members,
                top_targets=tuple(convert.top_target(t) for t in d.top_targets),
                evidence=tuple(convert.evidence_edge(e) for e in d.evidence),
                version=d.summary.erasures,
            )
            self.cache.put(run_id, cluster_id, parts)
        return summary, parts

    @unary
    def ListClusters(
        self, request: pb.ListClustersRequest, context: grpc.ServicerContext
    ) -> pb.ListClustersResponse:
        run_id = convert.optional_id(request.run_id, "run_id")
        size = convert.page_size(request.page_size, "page_size", 50, MAX_PAGE)
        if not request.min_score >= 0.0:  # also rejects NaN
            raise InvalidInput(
                "min_score: must be >= 0", violations=[FieldViolation("min_score", "must be >= 0")]
            )
        deadline = Deadline(context, self.default_s)
        if not run_id:
            run_id = reads.resolve_run(self.store, run_id, timeout_s=deadline.timeout_s())
        listing = {"run": run_id, "min_score": request.min_score}
        pos = pagination.decode(request.page_token, "clusters", listing, (int,))
        after = pos[0] if pos is not None else 0
        total, page = reads.cluster_page(
            self.store, run_id, after_rank=after, min_score=request.min_score, limit=size + 1,
            timeout_s=deadline.timeout_s(),
        )  # fmt: skip
        token = ""
        if len(page) > size:
            page = page[:size]
            token = pagination.encode("clusters", listing, [page[-1].rank])
        return pb.ListClustersResponse(
            run_id=run_id,
            clusters=[convert.cluster_summary(c) for c in page],
            next_page_token=token,
            total_size=total,
        )

    @unary
    def GetCluster(
        self, request: pb.GetClusterRequest, context: grpc.ServicerContext
    ) -> pb.GetClusterResponse:
        limit = convert.page_size(request.evidence_limit, "evidence_limit", 50, MAX_PAGE)
        summary, parts = self._detail(request.run_id, request.cluster_id, context)
        return pb.GetClusterResponse(
            cluster=convert.cluster_summary(summary),
            members=parts.members,
            top_targets=parts.top_targets,
            evidence=parts.evidence[:limit],
            evidence_total=len(parts.evidence),
        )

    @streaming
    def StreamClusterEvidence(
        self, request: pb.StreamClusterEvidenceRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.StreamClusterEvidenceResponse]:
        chunk = convert.page_size(request.chunk_size, "chunk_size", 100, MAX_PAGE)
        _, parts = self._detail(request.run_id, request.cluster_id, context)
        for lo in range(0, len(parts.evidence), chunk):
            if not context.is_active():
                return
            yield pb.StreamClusterEvidenceResponse(evidence=parts.evidence[lo : lo + chunk])

    @unary
    def ExplainAccount(
        self, request: pb.ExplainAccountRequest, context: grpc.ServicerContext
    ) -> pb.ExplainAccountResponse:
        given = convert.required_id(request.account_id, "account_id")
        account = self.pseudonymiser.account(given)
        run_id = convert.optional_id(request.run_id, "run_id")
        limit = convert.page_size(request.evidence_limit, "evidence_limit", 10, 100)
        deadline = Deadline(context, self.default_s)
        run_id = reads.resolve_run(self.store, run_id, timeout_s=deadline.timeout_s())
        rows = reads.investigate(
            self.store, "why_flagged", {"accountId": account, "runId": run_id, "limit": limit},
            timeout_s=deadline.timeout_s(),
        )  # fmt: skip
        order: list[str] = []
        for r in rows:
            if r["clusterId"] not in order:
                order.append(str(r["clusterId"]))
        summaries = reads.clusters_by_id(self.store, run_id, order, timeout_s=deadline.timeout_s())
        out = []
        for cid in order:
            out.append(
                pb.AccountCluster(
                    cluster=convert.cluster_summary(summaries[cid]),
                    evidence=[
                        pb.AccountEvidence(
                            partner=str(r["partner"]), edge=convert.explained_edge(account, r)
                        )
                        for r in rows
                        if r["clusterId"] == cid
                    ],
                )
            )
        return pb.ExplainAccountResponse(
            run_id=run_id, account_id=account, flagged=bool(out), clusters=out
        )

    @unary
    def TargetAmplifiers(
        self, request: pb.TargetAmplifiersRequest, context: grpc.ServicerContext
    ) -> pb.TargetAmplifiersResponse:
        target = convert.required_id(request.target, "target")
        since, until = convert.time_range(request.time_range)
        run_id = convert.optional_id(request.run_id, "run_id")
        limit = convert.page_size(request.limit, "limit", 100, 10_000)
        deadline = Deadline(context, self.default_s)
        if run_id:
            reads.resolve_run(self.store, run_id, timeout_s=deadline.timeout_s())
        rows = reads.investigate(
            self.store, "target_amplifiers",
            {"targetId": target, "since": since, "until": until, "runId": run_id or None,
             "limit": limit},
            timeout_s=deadline.timeout_s(),
        )  # fmt: skip
        used = next((str(r["runId"]) for r in rows if r["runId"]), "")
        return pb.TargetAmplifiersResponse(
            run_id=used,
            amplifiers=[
                pb.Amplifier(
                    account_id=str(r["account"]),
                    events=int(r["events"]),
                    first_unix_millis=int(r["firstTs"]),
                    last_unix_millis=int(r["lastTs"]),
                    actions=list(r["actions"]),
                    cluster_id=str(r["clusterId"] or ""),
                    cluster_rank=int(r["clusterRank"] or 0),
                    cluster_score=float(r["clusterScore"] or 0.0),
                )
                for r in rows
            ],
        )

    @unary
    def SetClusterStatus(
        self, request: pb.SetClusterStatusRequest, context: grpc.ServicerContext
    ) -> pb.SetClusterStatusResponse:
        run_id = convert.optional_id(request.run_id, "run_id")
        cluster_id = convert.required_id(request.cluster_id, "cluster_id")
        status = convert.REVIEW_FROM_PROTO.get(request.status)
        if status is None:
            raise InvalidInput(
                "status: must be OPEN, UNDER_REVIEW, ACTIONED or DISMISSED",
                violations=[FieldViolation("status", "unset or unknown review status")],
            )
        deadline = Deadline(context, self.default_s)
        run_id = reads.resolve_run(self.store, run_id, timeout_s=deadline.timeout_s())
        summary = reads.set_review(
            self.store, run_id, cluster_id, status, request.note, request.analyst,
            timeout_s=deadline.timeout_s(),
        )  # fmt: skip
        return pb.SetClusterStatusResponse(cluster=convert.cluster_summary(summary))
