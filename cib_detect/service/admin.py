"""``cib.v1.AdminService``: erasure of one account and retention of events."""

from __future__ import annotations

import grpc

from cib_detect._proto.cib.v1 import admin_service_pb2 as pb
from cib_detect._proto.cib.v1 import admin_service_pb2_grpc
from cib_detect.privacy import Pseudonymiser
from cib_detect.service import convert
from cib_detect.service.cache import ClusterCache
from cib_detect.service.calls import Readiness, unary
from cib_detect.store.erasure import apply_retention, erase_account
from cib_detect.store.graph_store import GraphStore


class AdminServicer(admin_service_pb2_grpc.AdminServiceServicer):
    def __init__(
        self,
        store: GraphStore,
        readiness: Readiness,
        cache: ClusterCache,
        pseudonymiser: Pseudonymiser,
    ) -> None:
        self.store = store
        self.readiness = readiness
        self.cache = cache
        self.pseudonymiser = pseudonymiser

    @unary
    def EraseAccount(
        self, request: pb.EraseAccountRequest, context: grpc.ServicerContext
    ) -> pb.EraseAccountResponse:
        account = self.pseudonymiser.account(convert.required_id(request.account_id, "account_id"))
        report = erase_account(self.store, account)
        for run_id in report.runs:
            self.cache.drop_run(run_id)
        return pb.EraseAccountResponse(
            events_deleted=report.events,
            memberships_deleted=report.memberships,
            evidence_edges_deleted=report.evidence_edges,
            runs_marked=report.runs,
            found=report.found,
        )

    @unary
    def ApplyRetention(
        self, request: pb.ApplyRetentionRequest, context: grpc.ServicerContext
    ) -> pb.ApplyRetentionResponse:
        batch = request.batch_size or 10_000
        report = apply_retention(self.store, request.max_age_days, batch=batch)
        self.cache.clear()
        return pb.ApplyRetentionResponse(
            events_deleted=report.events,
            accounts_deleted=report.accounts,
            targets_deleted=report.targets,
            cutoff_unix_millis=report.cutoff_ms,
        )
