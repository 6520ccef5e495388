"""Status codes with field violations, deadlines passed down to Neo4j, health
transitions (Neo4j down -> up -> down, graceful shutdown) and reflection."""

from __future__ import annotations

import contextlib
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from service_helpers import Running, service_settings
from tcp_proxy import TcpProxy

from cib_detect._proto.cib.v1 import cluster_service_pb2 as cpb
from cib_detect._proto.cib.v1 import common_pb2 as pb
from cib_detect._proto.cib.v1 import ingest_service_pb2 as ipb
from cib_detect.client import CibClient, event_message
from cib_detect.config import DetectParams, Neo4jSettings
from cib_detect.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    InvalidInput,
    NotFound,
    Unavailable,
)
from cib_detect.model import DetectionResult
from cib_detect.service.server import create_server
from cib_detect.store import local_neo4j
from cib_detect.store.runs import new_run_id, write_run

pytestmark = pytest.mark.neo4j
T0 = 1_767_225_600_000


def _fields(exc: pytest.ExceptionInfo[InvalidInput]) -> list[str]:
    return [v.field for v in exc.value.violations]


def test_ingest_statuses_per_event(running: Running) -> None:
    c = running.client
    good = [event_message(f"ev-{i}", f"acct-{i % 3}", "stream", "trk-1", T0 + i) for i in range(4)]
    bad_ts = pb.Event(event_id="ev-bad-ts", account_id="a", action="stream", target="t",
                      iso8601="2026-01-01T00:00:00")  # fmt: skip
    no_time = pb.Event(event_id="ev-no-time", account_id="a", action="stream", target="t")
    old = event_message("ev-old", "a", "stream", "t", 5_000)
    nul = event_message("ev-nul", "a\x00b", "stream", "t", T0)
    empty_id = event_message("", "a", "stream", "t", T0)
    again = event_message("ev-1", "acct-1", "stream", "trk-1", T0 + 1)
    resp = c.ingest_events([*good, bad_ts, no_time, old, nul, empty_id, again])
    statuses = [r.status for r in resp.results]
    assert statuses == [ipb.EVENT_STATUS_NEW] * 4 + [ipb.EVENT_STATUS_INVALID] * 5 + [
        ipb.EVENT_STATUS_DUPLICATE
    ]
    fields = {r.index: [v.field for v in r.violations] for r in resp.results if r.violations}
    assert fields == {
        4: ["events[4].iso8601"],
        5: ["events[5].time"],
        6: ["events[6].unix_millis"],
        7: ["events[7].account_id"],
        8: ["events[8].event_id"],
    }
    assert "time zone" in resp.results[4].violations[0].description
    assert (resp.counts.new, resp.counts.duplicate, resp.counts.invalid) == (4, 1, 5)
    # the same batch again: the valid events are duplicates now, nothing double-counts
    again_resp = c.ingest_events([*good])
    assert again_resp.counts.duplicate == 4 and again_resp.counts.new == 0
    # a streamed batch is acknowledged with its sequence number
    acks = list(c.stream_batches([[event_message("ev-s1", "a", "stream", "t", T0)], good]))
    assert [a.sequence for a in acks] == [0, 1]
    assert acks[0].counts.new == 1 and acks[1].counts.duplicate == 4


def test_bad_requests_get_invalid_argument_with_field_violations(running: Running) -> None:
    c = running.client
    too_many = [event_message(f"x-{i}", "a", "stream", "t", T0) for i in range(1001)]
    with pytest.raises(InvalidInput) as exc:
        c.ingest_events(too_many)
    assert _fields(exc) == ["events"]
    with pytest.raises(InvalidInput) as exc:
        c.start_detection(pb.DetectionParams(windows_seconds=[-5], fdr=2.0))
    assert sorted(_fields(exc)) == ["params.fdr", "params.windows_seconds"]
    with pytest.raises(InvalidInput) as exc:
        c.start_detection(since_ms=T0, until_ms=T0)
    assert _fields(exc) == ["time_range.until_unix_millis"]
    with pytest.raises(InvalidInput) as exc:
        c.get_run("")
    assert _fields(exc) == ["run_id"]
    with pytest.raises(InvalidInput) as exc:
        c.list_clusters(page_size=5000)
    assert _fields(exc) == ["page_size"]
    with pytest.raises(InvalidInput) as exc:
        c.explain_account("")
    assert _fields(exc) == ["account_id"]
    with pytest.raises(NotFound):
        c.get_run("r-nope")
    with pytest.raises(NotFound):
        c.get_cluster("c-nope", "r-nope")


def test_reading_an_unfinished_run_is_a_failed_precondition(running: Running) -> None:
    rid = new_run_id()
    running.store.write(
        "CREATE (:DetectionRun {runId: $r, status: 'running', createdAt: 1})", {"r": rid}
    )
    with pytest.raises(FailedPrecondition):
        running.client.list_clusters(rid)
    with pytest.raises(FailedPrecondition):
        running.client.diff_runs(rid)


def test_deadline_is_passed_down_to_neo4j(running: Running) -> None:
    """A review write blocked by another transaction's lock ends at the caller's deadline:
    Neo4j's transaction timeout comes from the deadline, so the server's transaction is
    gone when the client gives up, and nothing was written."""
    store = running.store
    rid = new_run_id()
    write_run(store, DetectionResult(clusters=[], stats={}, timings={}), DetectParams(), run_id=rid)
    store.write("CREATE (:Cluster {key: $k, runId: $r, clusterId: 'c-lock', rank: 1, score: 0.5,"
                " size: 3, nEdges: 0})", {"k": f"{rid}/c-lock", "r": rid})  # fmt: skip
    with store.driver.session(database=store.database) as session:
        blocker = session.begin_transaction()
        blocker.run("MATCH (c:Cluster {key: $k}) SET c.locked = true", {"k": f"{rid}/c-lock"})
        t0 = time.perf_counter()
        with pytest.raises(DeadlineExceeded):
            running.client._call(
                running.client.clusters.SetClusterStatus,
                cpb.SetClusterStatusRequest(run_id=rid, cluster_id="c-lock",
                                            status=pb.REVIEW_STATUS_ACTIONED),
                timeout_s=1.0,
            )  # fmt: skip
        assert time.perf_counter() - t0 < 5
        # the server-side transaction ended with the deadline: no review query is waiting
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            waiting = [
                r
                for r in store.read("SHOW TRANSACTIONS YIELD currentQuery RETURN currentQuery")
                if "ClusterReview" in (r["currentQuery"] or "")
            ]
            if not waiting:
                break
            time.sleep(0.1)
        assert not waiting
        blocker.rollback()
    rows = store.read(
        "MATCH (c:Cluster {key: $k}) RETURN c.reviewStatus AS s", {"k": f"{rid}/c-lock"}
    )
    assert rows[0]["s"] is None


def test_reflection_lists_the_services(running: Running) -> None:
    with grpc.insecure_channel(running.target) as channel:
        db = ProtoReflectionDescriptorDatabase(channel)
        services = set(db.get_services())
    assert {
        "cib.v1.IngestService",
        "cib.v1.DetectionService",
        "cib.v1.ClusterService",
        "grpc.health.v1.Health",
    } <= services


def _health(channel: grpc.Channel, service: str = "") -> str:
    stub = health_pb2_grpc.HealthStub(channel)
    resp = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status))


def _wait_for(fn: object, want: str, timeout_s: float = 60) -> str:
    end = time.monotonic() + timeout_s
    got = ""
    while time.monotonic() < end:
        got = fn()  # type: ignore[operator]
        if got == want:
            return got
        time.sleep(0.1)
    return got


def test_health_follows_neo4j_and_shutdown(neo4j_settings: Neo4jSettings, store: object) -> None:
    """NOT_SERVING while Neo4j is unreachable (calls: UNAVAILABLE), SERVING once it answers,
    NOT_SERVING when the link is cut, and NOT_SERVING to watchers on shutdown."""
    backend = int(local_neo4j.bolt_uri(neo4j_settings).rsplit(":", 1)[1])
    proxy = TcpProxy(backend)
    proxy.cut()  # Neo4j "down" before the service starts
    settings = service_settings(neo4j_settings, f"bolt://127.0.0.1:{proxy.port}")
    settings.service.neo4j_acquire_s = 2.0
    settings.service.neo4j_retry_s = 1.0
    service, port = create_server(settings)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    client = CibClient(f"127.0.0.1:{port}", timeout_s=10, channel=channel)
    try:
        assert _health(channel) == "NOT_SERVING"
        assert _health(channel, "cib.v1.ClusterService") == "NOT_SERVING"
        with pytest.raises(Unavailable):
            client.list_clusters()
        proxy.resume()
        assert _wait_for(lambda: _health(channel), "SERVING") == "SERVING"
        assert _health(channel, "cib.v1.IngestService") == "SERVING"
        proxy.cut()
        assert _wait_for(lambda: _health(channel), "NOT_SERVING", 30) == "NOT_SERVING"
        with pytest.raises(Unavailable):
            client.list_clusters()
        proxy.resume()
        assert _wait_for(lambda: _health(channel), "SERVING") == "SERVING"
        # graceful shutdown: a watcher sees NOT_SERVING
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=""), timeout=30
        )
        seen = [health_pb2.HealthCheckResponse.ServingStatus.Name(next(watch).status)]
        stopper = threading.Thread(target=service.stop, kwargs={"grace_s": 2})
        stopper.start()
        with contextlib.suppress(grpc.RpcError):
            seen.append(health_pb2.HealthCheckResponse.ServingStatus.Name(next(watch).status))
        stopper.join(30)
        assert seen == ["SERVING", "NOT_SERVING"]
    finally:
        channel.close()
        service.stop(grace_s=1)
        proxy.close()


def test_metrics_endpoint_counts_calls(neo4j_settings: Neo4jSettings, store: object) -> None:
    import urllib.request

    settings = service_settings(neo4j_settings)
    settings.service.metrics_port = 0
    service, port = create_server(settings)
    client = CibClient(f"127.0.0.1:{port}", timeout_s=10)
    try:
        client.wait_until_serving(120)
        with pytest.raises(NotFound):
            client.get_run("r-metrics")
        client.ingest_events([event_message("m-1", "a", "stream", "t", T0)])
        url = f"http://127.0.0.1:{service.metrics_port}/metrics"
        text = urllib.request.urlopen(url, timeout=5).read().decode()
        assert (
            'cib_rpc_total{code="NOT_FOUND",method="/cib.v1.DetectionService/GetDetectionRun"}'
            in text
        )
        assert 'cib_ingest_events_total{status="' in text
        assert "cib_rpc_seconds_bucket" in text
    finally:
        client.close()
        service.stop(grace_s=1)
