"""Server bootstrap: servicers, health, reflection, readiness and graceful shutdown.

:func:`create_server` returns ``(service, port)``; :func:`serve` runs it until SIGTERM or
SIGINT (``cib-detect serve``).

Health (``grpc.health.v1``, overall ``""`` and each service) is NOT_SERVING until Neo4j
answers, the schema is applied and the Numba kernels are warm; a monitor thread then
pings Neo4j and flips health (and the readiness gate every RPC checks) while Neo4j is
down. On shutdown health goes NOT_SERVING first, new calls are refused, in-flight calls
get ``shutdown_grace_s`` to finish, and open detection runs are cancelled.
"""

from __future__ import annotations

import ipaddress
import signal
import socket
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from cib_detect._proto.cib.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    cluster_service_pb2,
    cluster_service_pb2_grpc,
    detection_service_pb2,
    detection_service_pb2_grpc,
    ingest_service_pb2,
    ingest_service_pb2_grpc,
)
from cib_detect.config import Settings
from cib_detect.errors import CibError, FailedPrecondition, Unavailable
from cib_detect.privacy import Pseudonymiser
from cib_detect.service import metrics
from cib_detect.service.admin import AdminServicer
from cib_detect.service.cache import ClusterCache
from cib_detect.service.calls import Readiness
from cib_detect.service.clusters import ClusterServicer
from cib_detect.service.detection import DetectionServicer
from cib_detect.service.ingest import IngestServicer
from cib_detect.service.security import AuditLog, SecurityInterceptor, TokenStore
from cib_detect.service.worker import DetectionWorker
from cib_detect.store import run_lifecycle
from cib_detect.store.graph_store import GraphStore, StoreTimeouts
from cib_detect.store.schema import ensure_schema

log = structlog.get_logger("cib_detect.server")

SERVICE_NAMES = (
    admin_service_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
    ingest_service_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name,
    detection_service_pb2.DESCRIPTOR.services_by_name["DetectionService"].full_name,
    cluster_service_pb2.DESCRIPTOR.services_by_name["ClusterService"].full_name,
)
#: How often the monitor pings Neo4j once the service is up.
MONITOR_INTERVAL_S = 2.0


@dataclass
class CibService:
    """A started server with its store, worker and health; :meth:`stop` ends it."""

    server: grpc.Server
    port: int
    store: GraphStore
    worker: DetectionWorker
    health: health.HealthServicer
    readiness: Readiness
    settings: Settings
    instance: str
    audit: AuditLog | None = None
    metrics_server: Any = None
    metrics_port: int = 0
    _stopped: threading.Event = field(default_factory=threading.Event)
    _ready_once: threading.Event = field(default_factory=threading.Event)

    def set_serving(self, serving: bool, reason: str = "") -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *SERVICE_NAMES):
            self.health.set(name, status)
        self.readiness.set(serving, reason)

    def wait_ready(self, timeout_s: float) -> bool:
        return self._ready_once.wait(timeout_s)

    def _bootstrap(self) -> None:
        """Neo4j up -> schema -> abandoned runs -> kernels warm -> SERVING; then monitor."""
        warmed = False
        while not self._stopped.is_set():
            try:
                self.store.ping()
                if not self._ready_once.is_set():
                    created = ensure_schema(self.store)
                    abandoned = run_lifecycle.abandon_runs(self.store, self.instance)
                    log.info("schema_ready", created=created, abandoned_runs=abandoned)
                    if not warmed:
                        from cib_detect.detect.warm import warm_up
                        from cib_detect.memory import freeze_startup_objects

                        log.info("kernels_warm", seconds=round(warm_up(), 3))
                        freeze_startup_objects()  # later full GC passes skip start-up's
                        warmed = True
                    self._ready_once.set()
                if not self.readiness.is_set():
                    self.set_serving(True)
                    log.info("serving", port=self.port)
                wait = MONITOR_INTERVAL_S
            except CibError as exc:
                if self.readiness.is_set() or not self._ready_once.is_set():
                    log.warning("neo4j_unavailable", error=exc.message[:300])
                self.set_serving(False, f"Neo4j is not available: {exc.message}")
                wait = self.settings.service.startup_poll_s
            self._stopped.wait(wait)

    def stop(self, grace_s: float | None = None) -> None:
        """Graceful shutdown (idempotent)."""
        if self._stopped.is_set():
            return
        grace = self.settings.service.shutdown_grace_s if grace_s is None else grace_s
        log.info("shutting_down", grace_s=grace)
        self.health.enter_graceful_shutdown()
        self.readiness.set(False, "the service is shutting down")
        self._stopped.set()
        self.worker.stop(timeout_s=grace)
        self.server.stop(grace).wait()
        self.store.close()
        if self.audit is not None:
            self.audit.close()
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
        log.info("stopped")


def instance_name(settings: Settings, port: int) -> str:
    return settings.service.instance or f"{socket.gethostname()}:{port}"


def _is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _security(settings: Settings) -> tuple[TokenStore | None, AuditLog | None]:
    sec = settings.security
    tokens: TokenStore | None = None
    if sec.auth == "tokens":
        tokens = TokenStore.from_settings(sec)
        if not len(tokens):
            raise FailedPrecondition(
                "security.auth is 'tokens' but no token is configured "
                "(CIB_SECURITY__TOKENS or security.tokens_file)"
            )
    elif not _is_loopback(settings.service.host):
        raise FailedPrecondition(
            f"refusing to serve on {settings.service.host} without authentication: set "
            "CIB_SECURITY__AUTH=tokens (and TLS), or listen on a loopback address"
        )
    audit = None
    if sec.audit_log is not None:
        try:
            audit = AuditLog(sec.audit_log, fsync=sec.audit_fsync)
        except OSError as exc:
            raise FailedPrecondition(f"cannot open the audit log {sec.audit_log}: {exc}") from None
    return tokens, audit


def _credentials(settings: Settings) -> grpc.ServerCredentials | None:
    sec = settings.security
    if sec.tls_cert_file is None or sec.tls_key_file is None:
        return None
    try:
        chain = sec.tls_cert_file.read_bytes()
        key = sec.tls_key_file.read_bytes()
        ca = sec.tls_client_ca_file.read_bytes() if sec.tls_client_ca_file else None
    except OSError as exc:
        raise FailedPrecondition(f"cannot read the TLS files: {exc}") from None
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=ca, require_client_auth=ca is not None
    )


def create_server(settings: Settings) -> tuple[CibService, int]:
    """Build and start the server on ``settings.service.host:port``; returns at once
    (health NOT_SERVING) while a thread brings the service up."""
    svc = settings.service
    tokens, audit = _security(settings)
    credentials = _credentials(settings)
    store = GraphStore.open(
        settings.neo4j,
        timeouts=StoreTimeouts(
            connect_s=min(5.0, svc.neo4j_acquire_s),
            acquire_s=svc.neo4j_acquire_s,
            retry_s=svc.neo4j_retry_s,
            tx_s=600.0,
        ),
        verify=False,
        pool_size=svc.neo4j_pool_size,
    )
    options = [
        ("grpc.max_receive_message_length", svc.max_message_bytes),
        ("grpc.max_send_message_length", svc.max_message_bytes),
        ("grpc.so_reuseport", 0),
    ]
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=svc.max_workers, thread_name_prefix="rpc"),
        options=options,
        interceptors=[SecurityInterceptor(tokens, audit)],
    )
    address = f"{svc.host}:{svc.port}"
    try:
        port = (
            server.add_secure_port(address, credentials)
            if credentials is not None
            else server.add_insecure_port(address)
        )
    except RuntimeError:
        port = 0
    if port == 0:
        store.close()
        raise Unavailable(f"cannot listen on {address}")
    readiness = Readiness()
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    name = instance_name(settings, port)
    worker = DetectionWorker(store, owner=name)
    service = CibService(server, port, store, worker, health_servicer, readiness, settings, name)
    service.audit = audit
    service.set_serving(False, "the service is starting (waiting for Neo4j)")
    default_s = svc.default_deadline_s
    pseudonymiser = Pseudonymiser.from_settings(settings.security)
    cache = ClusterCache()
    ingest_service_pb2_grpc.add_IngestServiceServicer_to_server(
        IngestServicer(store, readiness, svc.max_batch_events, default_s, pseudonymiser), server
    )
    detection_service_pb2_grpc.add_DetectionServiceServicer_to_server(
        DetectionServicer(store, worker, readiness, default_s), server
    )
    cluster_service_pb2_grpc.add_ClusterServiceServicer_to_server(
        ClusterServicer(store, readiness, default_s, cache, pseudonymiser), server
    )
    admin_service_pb2_grpc.add_AdminServiceServicer_to_server(
        AdminServicer(store, readiness, cache, pseudonymiser), server
    )
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    server.start()
    if svc.metrics_port is not None:
        service.metrics_server, service.metrics_port = metrics.serve_metrics(
            svc.host, svc.metrics_port
        )
    threading.Thread(target=service._bootstrap, name="bootstrap", daemon=True).start()
    log.info("listening", host=svc.host, port=port, instance=name, tls=credentials is not None,
             mtls=settings.security.tls_client_ca_file is not None,
             auth=settings.security.auth, audit=str(settings.security.audit_log or ""))  # fmt: skip
    return service, port


def serve(settings: Settings, ready_file: str | None = None) -> None:
    """Run the service until SIGTERM/SIGINT, then shut down gracefully."""
    from cib_detect.memory import no_hugepage_advice, return_large_blocks_to_os

    return_large_blocks_to_os()  # detection runs free large arrays back to the system
    no_hugepage_advice()
    service, port = create_server(settings)
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal", signum=signum)
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if ready_file:
        with open(ready_file, "w") as fh:
            fh.write(f"{port}\n")
    while not done.wait(0.5):
        pass
    t0 = time.perf_counter()
    service.stop()
    log.info("shutdown_complete", seconds=round(time.perf_counter() - t0, 3))
