"""``cib.v1.IngestService``: validate -> store (ack after commit) -> per-event statuses."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import grpc

from cib_detect._proto.cib.v1 import common_pb2, ingest_service_pb2_grpc
from cib_detect._proto.cib.v1 import ingest_service_pb2 as pb
from cib_detect.errors import FieldViolation, InvalidInput
from cib_detect.service.calls import Readiness, streaming, unary
from cib_detect.service.events import DUPLICATE, INVALID, NEW, BatchOutcome, ingest_events
from cib_detect.store.graph_store import GraphStore

_STATUS = {
    NEW: pb.EVENT_STATUS_NEW,
    DUPLICATE: pb.EVENT_STATUS_DUPLICATE,
    INVALID: pb.EVENT_STATUS_INVALID,
}


def _results(
    events: Sequence[common_pb2.Event], outcome: BatchOutcome
) -> tuple[list[pb.EventResult], pb.IngestCounts]:
    results = [
        pb.EventResult(
            index=i,
            event_id=e.event_id,
            status=_STATUS[outcome.status[i]],
            violations=[
                common_pb2.FieldViolation(field=v.field, description=v.reason)
                for v in outcome.violations.get(i, [])
            ],
        )
        for i, e in enumerate(events)
    ]
    counts = pb.IngestCounts(
        new=outcome.count(NEW), duplicate=outcome.count(DUPLICATE), invalid=outcome.count(INVALID)
    )
    return results, counts


class IngestServicer(ingest_service_pb2_grpc.IngestServiceServicer):
    def __init__(self, store: GraphStore, readiness: Readiness, max_batch: int) -> None:
        self.store = store
        self.readiness = readiness
        self.max_batch = max_batch

    def _store(self, events: Sequence[common_pb2.Event], peer: str) -> BatchOutcome:
        if len(events) > self.max_batch:
            raise InvalidInput(
                f"a batch holds at most {self.max_batch} events, got {len(events)}",
                violations=[FieldViolation("events", f"more than {self.max_batch} events")],
            )
        return ingest_events(self.store, events, source=f"grpc:{peer}")

    @unary
    def IngestEvents(
        self, request: pb.IngestEventsRequest, context: grpc.ServicerContext
    ) -> pb.IngestEventsResponse:
        outcome = self._store(request.events, context.peer())
        results, counts = _results(request.events, outcome)
        return pb.IngestEventsResponse(results=results, counts=counts)

    @streaming
    def StreamEvents(
        self, request_iterator: Iterator[pb.StreamEventsRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.StreamEventsResponse]:
        peer = context.peer()
        for request in request_iterator:
            self.readiness.require()
            outcome = self._store(request.events, peer)
            results, counts = _results(request.events, outcome)
            yield pb.StreamEventsResponse(sequence=request.sequence, results=results, counts=counts)
