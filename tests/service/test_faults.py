"""Fault injection: Neo4j killed mid-ingest, the service killed mid-stream, network faults
between the service and Neo4j, graceful shutdown, nested timeouts.

Everything stays on 127.0.0.1; every loop is bounded (attempt counts and wall-clock
limits) and every test stops by itself. The invariant checked after each fault: the set
of stored event ids equals the set the client sent — nothing acknowledged is lost and
nothing is stored twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from neo4j_helpers import wipe
from pydantic import ValidationError
from service_helpers import service_settings
from tcp_proxy import TcpProxy

from cib_detect._proto.cib.v1 import common_pb2 as pb
from cib_detect._proto.cib.v1 import ingest_service_pb2 as ipb
from cib_detect.client import CibClient, event_message, ingest_reliably
from cib_detect.config import Neo4jSettings, ServiceSettings
from cib_detect.errors import CibError
from cib_detect.service.server import create_server
from cib_detect.store import local_neo4j
from cib_detect.store.graph_store import GraphStore
from cib_detect.store.schema import apply_schema

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]
T0 = 1_767_225_600_000


def _batches(prefix: str, n_batches: int, size: int) -> list[list[pb.Event]]:
    return [
        [
            event_message(
                f"{prefix}-{b}-{i}",
                f"acct-{(b * size + i) % 97}",
                "stream",
                f"trk-{(b + i) % 31}",
                T0 + (b * size + i) * 1000,
            )
            for i in range(size)
        ]
        for b in range(n_batches)
    ]


def _stored_ids(store: GraphStore, prefix: str) -> list[str]:
    rows = store.read(
        "MATCH ()-[e:ACTED]->() WHERE e.eventId STARTS WITH $p RETURN e.eventId AS id",
        {"p": prefix + "-"},
        timeout_s=120,
    )
    return [r["id"] for r in rows]


def _sent_ids(batches: list[list[pb.Event]]) -> set[str]:
    return {e.event_id for b in batches for e in b}


@pytest.fixture
def empty_db(store: GraphStore) -> GraphStore:
    wipe(store)
    apply_schema(store)
    return store


class Progress:
    """Counts acknowledged batches; lets the test wait until some went through."""

    def __init__(self) -> None:
        self.acked = 0
        self.retries = 0
        self.event = threading.Event()

    def wait_for(self, n: int, timeout_s: float) -> None:
        end = time.monotonic() + timeout_s
        while self.acked < n and time.monotonic() < end:
            time.sleep(0.05)
        assert self.acked >= n, f"only {self.acked} batches acknowledged"


def _ingest_in_thread(
    client: CibClient, batches: list[list[pb.Event]], progress: Progress, **kw: Any
) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        def counted() -> Iterator[list[pb.Event]]:
            for b in batches:
                yield b
                progress.acked += 1

        def retry(i: int, exc: CibError) -> None:
            progress.retries += 1

        try:
            out["counts"] = ingest_reliably(client, counted(), on_retry=retry, **kw)
        except Exception as exc:  # reported by the test
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_neo4j_killed_mid_ingest(empty_db: GraphStore, neo4j_settings: Neo4jSettings) -> None:
    settings = service_settings(neo4j_settings)
    settings.service.neo4j_acquire_s = 2.0
    settings.service.neo4j_retry_s = 1.0
    service, port = create_server(settings)
    client = CibClient(f"127.0.0.1:{port}", timeout_s=20)
    try:
        client.wait_until_serving(120)
        batches = _batches("k9", 40, 250)
        progress = Progress()
        thread, out = _ingest_in_thread(client, batches, progress, attempts=60, backoff_s=0.2)
        progress.wait_for(5, 60)
        pid = local_neo4j.status(neo4j_settings)["pid"]
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        at_kill = progress.acked
        time.sleep(1.0)  # calls fail meanwhile (the service re-runs the batch within the
        local_neo4j.start(neo4j_settings, wait=True)  # deadline, the client re-sends it)
        thread.join(300)
        assert not thread.is_alive() and "error" not in out, out.get("error")
        assert at_kill < len(batches), "Neo4j was killed after the ingest had finished"
        counts = out["counts"]
        assert counts.invalid == 0 and counts.new + counts.duplicate == 40 * 250
        stored = _stored_ids(empty_db, "k9")
        assert len(stored) == len(set(stored)) == 40 * 250
        assert set(stored) == _sent_ids(batches)
    finally:
        client.close()
        service.stop(grace_s=1)


def _serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    cli = str(Path(sys.executable).with_name("cib-detect"))
    return subprocess.Popen(
        [cli, "serve", "--port", str(port), "--port-file", str(log.with_suffix(".port"))],
        env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def test_service_killed_mid_stream(
    empty_db: GraphStore, neo4j_settings: Neo4jSettings, tmp_path: Path
) -> None:
    env = dict(os.environ, CIB_NEO4J__URI=local_neo4j.bolt_uri(neo4j_settings),
               CIB_SERVICE__INSTANCE="kill-test")  # fmt: skip
    log = tmp_path / "serve.log"
    first = _serve(env, 0, log)
    port_file = log.with_suffix(".port")
    end = time.monotonic() + 60
    while not (port_file.exists() and port_file.read_text().strip()):
        assert first.poll() is None and time.monotonic() < end, log.read_text()[-2000:]
        time.sleep(0.1)
    port = int(port_file.read_text())
    client = CibClient(f"127.0.0.1:{port}", timeout_s=20)
    second = None
    try:
        client.wait_until_serving(120)
        batches = _batches("sk", 40, 250)
        progress = Progress()
        thread, out = _ingest_in_thread(client, batches, progress, attempts=80, backoff_s=0.2)
        progress.wait_for(5, 60)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        port_file.unlink()
        second = _serve(env, port, log)
        thread.join(300)
        assert not thread.is_alive() and "error" not in out, out.get("error")
        assert progress.retries > 0
        stored = _stored_ids(empty_db, "sk")
        assert len(stored) == len(set(stored)) == 40 * 250
        assert set(stored) == _sent_ids(batches)
    finally:
        client.close()
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)


def test_network_faults_between_service_and_neo4j(
    empty_db: GraphStore, neo4j_settings: Neo4jSettings
) -> None:
    backend = int(local_neo4j.bolt_uri(neo4j_settings).rsplit(":", 1)[1])
    proxy = TcpProxy(backend)
    settings = service_settings(neo4j_settings, f"bolt://127.0.0.1:{proxy.port}")
    settings.service.neo4j_acquire_s = 2.0
    settings.service.neo4j_retry_s = 1.0
    service, port = create_server(settings)
    client = CibClient(f"127.0.0.1:{port}", timeout_s=3)
    try:
        client.wait_until_serving(120)
        one = [event_message("nf-probe", "a", "stream", "t", T0)]
        # delay: slower than the deadline -> DEADLINE_EXCEEDED
        proxy.delay_s = 1.5
        with pytest.raises(CibError) as slow:
            client._call(client.ingest.IngestEvents, ipb.IngestEventsRequest(events=one), 1.0)
        assert slow.value.status == "DEADLINE_EXCEEDED"
        proxy.resume()
        # drop (blackhole): requests vanish -> DEADLINE_EXCEEDED, quickly
        proxy.blackhole = True
        t0 = time.monotonic()
        with pytest.raises(CibError) as dropped:
            client._call(client.clusters.ListClusters, _list_request(), 1.5)
        assert dropped.value.status in ("DEADLINE_EXCEEDED", "UNAVAILABLE")
        assert time.monotonic() - t0 < 3.0
        proxy.resume()
        # cut: connections reset and refused -> UNAVAILABLE (retryable)
        proxy.cut()
        with pytest.raises(CibError) as cut:
            client.ingest_events(one)
        assert cut.value.status in ("UNAVAILABLE", "DEADLINE_EXCEEDED")
        proxy.resume()
        # a whole ingest through a flapping link loses nothing and stores nothing twice
        batches = _batches("nf", 30, 200)
        progress = Progress()
        thread, out = _ingest_in_thread(client, batches, progress, attempts=80, backoff_s=0.1,
                                        timeout_s=2.0)  # fmt: skip
        for k in range(6):  # bounded fault schedule
            progress.wait_for(min(30, 3 * (k + 1)), 60)
            if k % 3 == 0:
                proxy.cut()
            elif k % 3 == 1:
                proxy.blackhole = True
            else:
                proxy.delay_s = 0.8
            time.sleep(1.0)
            proxy.resume()
        thread.join(300)
        assert not thread.is_alive() and "error" not in out, out.get("error")
        stored = _stored_ids(empty_db, "nf")
        assert len(stored) == len(set(stored)) == 30 * 200
        assert set(stored) == _sent_ids(batches)
        assert client.health() == "SERVING"
    finally:
        client.close()
        service.stop(grace_s=1)
        proxy.close()


def _list_request() -> Any:
    from cib_detect._proto.cib.v1 import cluster_service_pb2 as cpb

    return cpb.ListClustersRequest(run_id="r-none")


def test_graceful_shutdown_acknowledges_what_it_committed(
    empty_db: GraphStore, neo4j_settings: Neo4jSettings
) -> None:
    """SIGTERM-style stop while a stream is mid-batch: the batch in flight commits and its
    ack reaches the client; later batches are refused, not half-done."""
    backend = int(local_neo4j.bolt_uri(neo4j_settings).rsplit(":", 1)[1])
    proxy = TcpProxy(backend)
    settings = service_settings(neo4j_settings, f"bolt://127.0.0.1:{proxy.port}")
    settings.service.shutdown_grace_s = 10.0
    service, port = create_server(settings)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    client = CibClient(f"127.0.0.1:{port}", channel=channel, timeout_s=30)
    try:
        client.wait_until_serving(120)
        batches = _batches("gs", 8, 200)
        gate = threading.Semaphore(1)
        acked: list[int] = []
        failure: list[str] = []

        def requests() -> Iterator[ipb.StreamEventsRequest]:
            for i, b in enumerate(batches):
                gate.acquire()
                yield ipb.StreamEventsRequest(events=b, sequence=i)

        def consume() -> None:
            try:
                for ack in client.ingest.StreamEvents(requests(), timeout=60):
                    acked.append(ack.sequence)
                    if len(acked) == 2:
                        proxy.delay_s = 0.5  # the next batch is slow: still in flight at stop
                    gate.release()
            except grpc.RpcError as exc:
                failure.append(exc.code().name)

        reader = threading.Thread(target=consume, daemon=True)
        reader.start()
        end = time.monotonic() + 30
        while len(acked) < 2 and time.monotonic() < end:
            time.sleep(0.02)
        time.sleep(0.3)  # batch 2 is being written (through the slow link)
        stopper = threading.Thread(target=service.stop, kwargs={"grace_s": 10})
        stopper.start()
        reader.join(60)
        stopper.join(60)
        assert not reader.is_alive() and not stopper.is_alive()
        assert 2 in acked, f"the batch in flight at shutdown was not acknowledged: {acked}"
        assert failure == ["UNAVAILABLE"]  # the stream ends with a retryable status
        stored = set(_stored_ids(empty_db, "gs"))
        sent_acked = {e.event_id for i in acked for e in batches[i]}
        assert stored == sent_acked  # nothing committed without its ack, nothing acked lost
    finally:
        channel.close()
        service.stop(grace_s=1)
        proxy.close()


def test_timeouts_nest() -> None:
    with pytest.raises(ValidationError, match="below default_deadline_s"):
        ServiceSettings(neo4j_retry_s=20, neo4j_acquire_s=15, default_deadline_s=30)
    ok = ServiceSettings()
    assert ok.neo4j_retry_s + ok.neo4j_acquire_s < ok.default_deadline_s


def test_calls_end_at_their_deadline_when_neo4j_hangs(
    store: GraphStore, neo4j_settings: Neo4jSettings
) -> None:
    backend = int(local_neo4j.bolt_uri(neo4j_settings).rsplit(":", 1)[1])
    proxy = TcpProxy(backend)
    settings = service_settings(neo4j_settings, f"bolt://127.0.0.1:{proxy.port}")
    service, port = create_server(settings)
    client = CibClient(f"127.0.0.1:{port}", timeout_s=5)
    try:
        client.wait_until_serving(120)
        proxy.blackhole = True
        for deadline in (0.5, 2.0):
            t0 = time.monotonic()
            with pytest.raises(CibError) as exc:
                client._call(client.detection.GetDetectionRun, _run_request(), deadline)
            took = time.monotonic() - t0
            assert exc.value.status in ("DEADLINE_EXCEEDED", "UNAVAILABLE")
            assert took < deadline + 1.0
        proxy.resume()
        assert client.health() == "SERVING"
    finally:
        client.close()
        service.stop(grace_s=1)
        proxy.close()


def _run_request() -> Any:
    from cib_detect._proto.cib.v1 import detection_service_pb2 as dpb

    return dpb.GetDetectionRunRequest(run_id="r-none")
