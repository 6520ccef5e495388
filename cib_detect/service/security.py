"""Authentication, authorisation, the audit log, request decoding and call metrics, all in
one server interceptor.

* **Tokens with roles.** A call carries ``authorization: Bearer <token>``; the token's
  SHA-256 is looked up among the configured tokens (from the environment or a TOML
  file, never from a command line). Roles: ``ingest`` (IngestService), ``investigate``
  (reads, detection runs, analyst decisions), ``admin`` (everything, and AdminService).
* **Deny by default.** :data:`METHOD_ROLES` lists every RPC and who may call it; a
  method that is not listed is refused to everyone. Health stays open; reflection needs
  any valid token.
* **Audit.** Every call but health appends one JSON line — time, principal, roles,
  method, peer (and client certificate name under mTLS), the run / cluster / account /
  target it names, and whether it was allowed — *before* the call runs. When the line
  cannot be written the call fails (UNAVAILABLE) and does nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.descriptor import Descriptor

from cib_detect._proto.cib.v1 import (
    admin_service_pb2,
    cluster_service_pb2,
    detection_service_pb2,
    ingest_service_pb2,
)
from cib_detect.config import SecuritySettings, TokenEntry
from cib_detect.errors import InvalidInput
from cib_detect.service import metrics
from cib_detect.service.guard import decode_batch, safe_deserializer

INGEST, INVESTIGATE, ADMIN = "ingest", "investigate", "admin"

_READ = frozenset({INVESTIGATE, ADMIN})
#: Who may call what. Anything not listed here is denied.
METHOD_ROLES: dict[str, frozenset[str]] = {
    "/cib.v1.IngestService/IngestEvents": frozenset({INGEST, ADMIN}),
    "/cib.v1.IngestService/StreamEvents": frozenset({INGEST, ADMIN}),
    "/cib.v1.DetectionService/StartDetection": _READ,
    "/cib.v1.DetectionService/GetDetectionRun": _READ,
    "/cib.v1.DetectionService/CancelDetection": _READ,
    "/cib.v1.DetectionService/ListDetectionRuns": _READ,
    "/cib.v1.DetectionService/DiffRuns": _READ,
    "/cib.v1.ClusterService/ListClusters": _READ,
    "/cib.v1.ClusterService/GetCluster": _READ,
    "/cib.v1.ClusterService/StreamClusterEvidence": _READ,
    "/cib.v1.ClusterService/ExplainAccount": _READ,
    "/cib.v1.ClusterService/TargetAmplifiers": _READ,
    "/cib.v1.ClusterService/SetClusterStatus": _READ,
    "/cib.v1.AdminService/EraseAccount": frozenset({ADMIN}),
    "/cib.v1.AdminService/ApplyRetention": frozenset({ADMIN}),
}
OPEN_PREFIXES = ("/grpc.health.v1.Health/",)
ANY_PRINCIPAL_PREFIXES = ("/grpc.reflection.",)
#: Request fields copied into the audit record when the request has them.
AUDIT_FIELDS = ("run_id", "base_run_id", "cluster_id", "account_id", "target")


@dataclass(frozen=True)
class Principal:
    name: str
    roles: frozenset[str]


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenStore:
    """Token digests -> principals."""

    def __init__(self, entries: list[TokenEntry]) -> None:
        self._by_digest: dict[str, Principal] = {}
        for e in entries:
            digest = token_digest(e.token.get_secret_value()) if e.token else str(e.sha256)
            self._by_digest[digest] = Principal(e.name, frozenset(e.roles))

    @classmethod
    def from_settings(cls, security: SecuritySettings) -> TokenStore:
        entries = list(security.tokens)
        if security.tokens_file is not None:
            try:
                doc = tomllib.loads(security.tokens_file.read_text(encoding="utf-8"))
                entries += [TokenEntry(**t) for t in doc.get("tokens", [])]
            except (OSError, tomllib.TOMLDecodeError, TypeError, ValueError) as exc:
                raise InvalidInput(f"tokens_file {security.tokens_file}: {exc}") from None
        return cls(entries)

    def __len__(self) -> int:
        return len(self._by_digest)

    def principal(self, token: str) -> Principal | None:
        return self._by_digest.get(token_digest(token))


class AuditLog:
    """Append-only JSON lines (opened with O_APPEND, mode 0600)."""

    def __init__(self, path: Path, fsync: bool = False) -> None:
        self.path = path
        self.fsync = fsync
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode("utf-8")
        with self._lock:
            written = os.write(self._fd, line)
            if written != len(line):
                raise OSError(f"short write to the audit log ({written} of {len(line)} bytes)")
            if self.fsync:
                os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


def _bearer(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


class SecurityInterceptor(grpc.ServerInterceptor):
    """Authorises every call and writes its audit record before it runs."""

    def __init__(self, tokens: TokenStore | None, audit: AuditLog | None) -> None:
        self.tokens = tokens
        self.audit = audit

    def _decide(self, method: str, metadata: Any) -> tuple[Principal | None, str, str]:
        """(principal, verdict, reason); verdict: allow / unauthenticated / denied."""
        if self.tokens is None:
            return Principal("anonymous", frozenset({ADMIN})), "allow", "auth off"
        token = _bearer(metadata)
        principal = self.tokens.principal(token) if token else None
        if principal is None:
            return None, "unauthenticated", "missing or unknown bearer token"
        if method.startswith(ANY_PRINCIPAL_PREFIXES):
            return principal, "allow", ""
        allowed = METHOD_ROLES.get(method)
        if allowed is None:
            return principal, "denied", f"{method} is not open to any role"
        if not principal.roles & allowed:
            need = " or ".join(sorted(allowed))
            return principal, "denied", f"{method} needs role {need}"
        return principal, "allow", ""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(details)
        method = details.method
        if handler is None or method.startswith(OPEN_PREFIXES):
            return handler
        des = request_decoder(method, handler.request_deserializer)
        if self.tokens is None and self.audit is None:
            return _wrap(handler, None, des, method)
        principal, verdict, reason = self._decide(method, details.invocation_metadata)
        return _wrap(handler, lambda request, context: self._gate(
            method, principal, verdict, reason, request, context), des, method)  # fmt: skip

    def _gate(
        self,
        method: str,
        principal: Principal | None,
        verdict: str,
        reason: str,
        request: Any,
        context: grpc.ServicerContext,
    ) -> None:
        """Audit, then refuse the call unless it is allowed."""
        if self.audit is not None:
            record: dict[str, Any] = {
                "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
                + f".{int(time.time() * 1000) % 1000:03d}Z",
                "principal": principal.name if principal else None,
                "roles": sorted(principal.roles) if principal else [],
                "method": method,
                "peer": context.peer(),
                "verdict": verdict,
            }
            auth = context.auth_context()
            names: Any = [n for n in auth.get("x509_common_name", []) if n] or [
                n for n in auth.get("x509_subject_alternative_name", []) if n
            ]
            if names:
                record["client_cert"] = bytes(names[0]).decode("utf-8", "replace")
            if request is not None:
                for name in AUDIT_FIELDS:
                    value = getattr(request, name, None)
                    if isinstance(value, str) and value:
                        record[name] = value[:512]
                events = getattr(request, "events", None)
                if events is not None:
                    record["events"] = len(events)
            try:
                self.audit.write(record)
            except OSError as exc:
                context.abort(
                    grpc.StatusCode.UNAVAILABLE,
                    f"the audit log cannot be written ({exc.strerror or exc}); "
                    "no call is served without its audit record",
                )
        if verdict == "unauthenticated":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, reason)
        if verdict == "denied":
            context.abort(grpc.StatusCode.PERMISSION_DENIED, reason)


Gate = Callable[[Any, grpc.ServicerContext], None]


def _no_gate(request: Any, context: grpc.ServicerContext) -> None:
    return None


#: Input message descriptors of the API's methods, by full method name.
_INPUTS: dict[str, Descriptor] = {
    f"/{svc.full_name}/{m.name}": m.input_type
    for module in (
        ingest_service_pb2,
        detection_service_pb2,
        cluster_service_pb2,
        admin_service_pb2,
    )
    for svc in module.DESCRIPTOR.services_by_name.values()
    for m in svc.methods
}
_BATCH_METHODS = ("/cib.v1.IngestService/IngestEvents", "/cib.v1.IngestService/StreamEvents")


def request_decoder(
    method: str, des: Callable[[bytes], Any] | None
) -> Callable[[bytes], Any] | None:
    """The decoder of ``method``'s requests: lenient per event for ingest batches, and
    :class:`Malformed` instead of an exception for every other API method."""
    if method in _BATCH_METHODS:
        return decode_batch
    descriptor = _INPUTS.get(method)
    if des is None or descriptor is None:
        return des
    return safe_deserializer(des, descriptor)


def _timed(
    inner: Callable[[Any, grpc.ServicerContext], Any],
    check: Gate,
    method: str,
    unary_request: bool,
) -> Callable[[Any, grpc.ServicerContext], Any]:
    """``inner`` (unary response) behind ``check``, with its metrics recorded."""

    def call(arg: Any, context: grpc.ServicerContext) -> Any:
        t0, failed = time.perf_counter(), True
        try:
            check(arg if unary_request else None, context)
            out = inner(arg, context)
            failed = False
            return out
        finally:
            metrics.observe(method, time.perf_counter() - t0, context, failed)

    return call


def _timed_stream(
    inner: Callable[[Any, grpc.ServicerContext], Iterator[Any]],
    check: Gate,
    method: str,
    unary_request: bool,
) -> Callable[[Any, grpc.ServicerContext], Iterator[Any]]:
    """As :func:`_timed`, for a response stream (timed over the stream's whole life)."""

    def call(arg: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        t0, failed = time.perf_counter(), True
        try:
            check(arg if unary_request else None, context)
            yield from inner(arg, context)
            failed = False
        finally:
            metrics.observe(method, time.perf_counter() - t0, context, failed)

    return call


def _wrap(
    handler: grpc.RpcMethodHandler[Any, Any],
    gate: Gate | None,
    des: Callable[[bytes], Any] | None,
    method: str,
) -> grpc.RpcMethodHandler[Any, Any]:
    """The same handler decoding with ``des``, running ``gate`` first (with the request,
    or None for a request stream), and recording the call's metrics."""
    ser = handler.response_serializer
    check = gate or _no_gate
    if handler.unary_unary is not None:
        uu = _timed(handler.unary_unary, check, method, True)
        return grpc.unary_unary_rpc_method_handler(uu, des, ser)
    if handler.unary_stream is not None:
        us = _timed_stream(handler.unary_stream, check, method, True)
        return grpc.unary_stream_rpc_method_handler(us, des, ser)
    if handler.stream_unary is not None:
        su = _timed(handler.stream_unary, check, method, False)
        return grpc.stream_unary_rpc_method_handler(su, des, ser)
    assert handler.stream_stream is not None
    ss = _timed_stream(handler.stream_stream, check, method, False)
    return grpc.stream_stream_rpc_method_handler(ss, des, ser)
