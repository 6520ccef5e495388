"""Prometheus metrics of the service (``CIB_SERVICE__METRICS_PORT`` to expose them).

* ``cib_rpc_total{method, code}`` and ``cib_rpc_seconds{method}``: every API call, with
  its final status code and duration (a stream: its whole life);
* ``cib_ingest_events_total{status}``: events by outcome (new, duplicate, invalid);
* ``cib_detection_runs_total{state}``: runs that ended, by state.
"""

from __future__ import annotations

from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

REGISTRY = CollectorRegistry()
RPCS = Counter("cib_rpc", "API calls by method and status code.", ["method", "code"],
               registry=REGISTRY)  # fmt: skip
LATENCY = Histogram(
    "cib_rpc_seconds",
    "API call duration by method.",
    ["method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0),
    registry=REGISTRY,
)
INGESTED = Counter("cib_ingest_events", "Ingested events by outcome.", ["status"],
                   registry=REGISTRY)  # fmt: skip
RUNS = Counter("cib_detection_runs", "Detection runs that ended, by state.", ["state"],
               registry=REGISTRY)  # fmt: skip


def observe(method: str, seconds: float, context: grpc.ServicerContext, failed: bool) -> None:
    code = "OK"
    if failed:
        reader: Any = getattr(context, "code", None)  # grpc sets it on abort
        got: Any = reader() if callable(reader) else None
        code = got.name if isinstance(got, grpc.StatusCode) else "UNKNOWN"
    RPCS.labels(method, code).inc()
    LATENCY.labels(method).observe(seconds)


def serve_metrics(host: str, port: int) -> tuple[Any, int]:
    """Start the ``/metrics`` HTTP endpoint; returns (server, bound port)."""
    server, _thread = start_http_server(port, addr=host, registry=REGISTRY)
    return server, int(server.server_port)
