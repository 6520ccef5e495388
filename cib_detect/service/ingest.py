"""``cib.v1.IngestService``: validate -> store (ack after commit) -> per-event statuses."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from cib_detect._proto.cib.v1 import common_pb2, ingest_service_pb2_grpc
from cib_detect._proto.cib.v1 import ingest_service_pb2 as pb
from cib_detect.errors import FieldViolation, InvalidInput
from cib_detect.privacy import Pseudonymiser
from cib_detect.service import metrics
from cib_detect.service.calls import Deadline, Readiness, streaming, unary
from cib_detect.service.events import DUPLICATE, INVALID, NEW, BatchOutcome, ingest_events
from cib_detect.service.guard import LenientBatch, as_batch
from cib_detect.store.graph_store import GraphStore

_STATUS = {
    NEW: pb.EVENT_STATUS_NEW,
    DUPLICATE: pb.EVENT_STATUS_DUPLICATE,
    INVALID: pb.EVENT_STATUS_INVALID,
}


def _results(
    batch: LenientBatch, outcome: BatchOutcome
) -> tuple[list[pb.EventResult], pb.IngestCounts]:
    results = [
        pb.EventResult(
            index=i,
            event_id=e.event_id if e is not None else "",
            status=_STATUS[outcome.status[i]],
            violations=[
                common_pb2.FieldViolation(field=v.field, description=v.reason)
                for v in outcome.violations.get(i, [])
            ],
        )
        for i, e in enumerate(batch.events)
    ]
    counts = pb.IngestCounts(
        new=outcome.count(NEW), duplicate=outcome.count(DUPLICATE), invalid=outcome.count(INVALID)
    )
    metrics.INGESTED.labels(NEW).inc(counts.new)
    metrics.INGESTED.labels(DUPLICATE).inc(counts.duplicate)
    metrics.INGESTED.labels(INVALID).inc(counts.invalid)
    return results, counts


class IngestServicer(ingest_service_pb2_grpc.IngestServiceServicer):
    """Requests arrive decoded event by event (:mod:`cib_detect.service.guard`), so an
    event that does not even decode is one INVALID result, not a failed batch."""

    def __init__(
        self,
        store: GraphStore,
        readiness: Readiness,
        max_batch: int,
        default_s: float,
        pseudonymiser: Pseudonymiser | None = None,
    ) -> None:
        self.store = store
        self.readiness = readiness
        self.max_batch = max_batch
        self.default_s = default_s
        self.pseudonymiser = pseudonymiser

    def _store(self, batch: LenientBatch, peer: str, deadline: Deadline) -> BatchOutcome:
        if len(batch.events) > self.max_batch:
            raise InvalidInput(
                f"a batch holds at most {self.max_batch} events, got {len(batch.events)}",
                violations=[FieldViolation("events", f"more than {self.max_batch} events")],
            )
        return ingest_events(
            self.store, batch.events, source=f"grpc:{peer}", undecodable=batch.bad,
            pseudonymiser=self.pseudonymiser, timeout_s=deadline.timeout_s(),
        )  # fmt: skip

    @unary
    def IngestEvents(
        self, request: pb.IngestEventsRequest | LenientBatch, context: grpc.ServicerContext
    ) -> pb.IngestEventsResponse:
        batch = as_batch(request)
        outcome = self._store(batch, context.peer(), Deadline(context, self.default_s))
        results, counts = _results(batch, outcome)
        return pb.IngestEventsResponse(results=results, counts=counts)

    @streaming
    def StreamEvents(
        self,
        request_iterator: Iterator[pb.StreamEventsRequest | LenientBatch],
        context: grpc.ServicerContext,
    ) -> Iterator[pb.StreamEventsResponse]:
        peer = context.peer()
        deadline = Deadline(context, self.default_s)  # per batch when the stream has none
        for request in request_iterator:
            batch = as_batch(request)
            self.readiness.require()
            outcome = self._store(batch, peer, deadline)
            results, counts = _results(batch, outcome)
            yield pb.StreamEventsResponse(sequence=batch.sequence, results=results, counts=counts)
