"""What every RPC shares: mapping :class:`CibError` to gRPC status codes (with
``google.rpc.BadRequest`` field violations), deadlines, and the readiness gate.

A servicer method is decorated with :func:`unary` or :func:`streaming`; inside, it raises
:class:`CibError` subclasses and never touches status codes itself.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc
import structlog
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from cib_detect.errors import CibError, DeadlineExceeded, Unavailable
from cib_detect.service.guard import Malformed

log = structlog.get_logger("cib_detect.service")

#: Time kept back from the caller's deadline for converting and sending the answer.
DEADLINE_MARGIN_S = 0.02
#: A remaining time beyond this means the client set no deadline.
NO_DEADLINE_S = 10 * 86400.0

Req = TypeVar("Req")
Resp = TypeVar("Resp")


def status_of(exc: CibError) -> grpc.Status:
    """The rich gRPC status of an error: code, message, and BadRequest details."""
    code = getattr(code_pb2, exc.status, code_pb2.INTERNAL)
    detail = status_pb2.Status(code=code, message=exc.message[:2000])
    if exc.violations:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.reason)
                for v in exc.violations[:1000]
            ]
        )
        detail.details.add().Pack(bad)
    return rpc_status.to_status(detail)


class Deadline:
    """The time a call may still take: the client's deadline, or ``default_s`` without one."""

    def __init__(self, context: grpc.ServicerContext, default_s: float) -> None:
        self._context = context
        self._default = default_s

    def timeout_s(self) -> float:
        """Seconds left for the next Neo4j transaction; raises when none are."""
        remaining = self._context.time_remaining()
        # no deadline: None, or (for some call kinds) a practically infinite number
        left = self._default if remaining is None or remaining > NO_DEADLINE_S else remaining
        left -= DEADLINE_MARGIN_S
        if left <= 0:
            raise DeadlineExceeded("the call's deadline passed before the work was done")
        return left

    def check(self) -> None:
        self.timeout_s()


class Readiness:
    """Set once Neo4j answers, the schema is applied and the kernels are warm."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self.reason = "the service is starting (waiting for Neo4j, schema, kernel warm-up)"

    def set(self, ready: bool, reason: str = "") -> None:
        if ready:
            self._ready.set()
        else:
            self.reason = reason or self.reason
            self._ready.clear()

    def is_set(self) -> bool:
        return self._ready.is_set()

    def require(self) -> None:
        if not self._ready.is_set():
            raise Unavailable(self.reason)


def _abort(context: grpc.ServicerContext, method: str, exc: BaseException) -> None:
    if isinstance(exc, CibError):
        log.info("rpc_error", method=method, code=exc.status, error=exc.message[:300])
        context.abort_with_status(status_of(exc))
    log.exception("rpc_internal_error", method=method)
    context.abort(grpc.StatusCode.INTERNAL, f"internal error in {method} (logged by the server)")


def unary(fn: Callable[[Any, Req, grpc.ServicerContext], Resp]) -> Callable[..., Resp]:
    """Unary or client-streaming method: CibError -> status; readiness required."""

    @functools.wraps(fn)
    def wrapper(self: Any, request: Req, context: grpc.ServicerContext) -> Resp:
        try:
            if isinstance(request, Malformed):
                raise request.error()
            self.readiness.require()
            return fn(self, request, context)
        except Exception as exc:
            _abort(context, fn.__name__, exc)
            raise  # unreachable: abort raises

    return wrapper


def streaming(
    fn: Callable[[Any, Req, grpc.ServicerContext], Iterator[Resp]],
) -> Callable[..., Iterator[Resp]]:
    """Server- or bidi-streaming method: as :func:`unary`, for generators."""

    @functools.wraps(fn)
    def wrapper(self: Any, request: Req, context: grpc.ServicerContext) -> Iterator[Resp]:
        try:
            if isinstance(request, Malformed):
                raise request.error()
            self.readiness.require()
            yield from fn(self, request, context)
        except Exception as exc:
            _abort(context, fn.__name__, exc)
            raise

    return wrapper
