"""One root error type; every subclass carries the gRPC status code it maps to.

The gRPC layer (later) maps ``CibError.status`` to a ``grpc.StatusCode`` by name, so this
module has no dependency on grpc.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of one input row (mirrors ``google.rpc.BadRequest.FieldViolation``)."""

    field: str
    reason: str
    row: int | None = None

    def describe(self) -> str:
        where = f"row {self.row}: " if self.row is not None else ""
        return f"{where}{self.field}: {self.reason}"


class CibError(Exception):
    """Root of every error cib-detect raises on purpose."""

    status: str = "INTERNAL"

    def __init__(self, message: str, *, violations: list[FieldViolation] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.violations: list[FieldViolation] = list(violations or [])


class InvalidInput(CibError):
    """Input data or parameters are malformed (INVALID_ARGUMENT)."""

    status = "INVALID_ARGUMENT"


class NotFound(CibError):
    """A run, cluster, account or file does not exist (NOT_FOUND)."""

    status = "NOT_FOUND"


class FailedPrecondition(CibError):
    """The system is not in a state that allows the call (FAILED_PRECONDITION)."""

    status = "FAILED_PRECONDITION"


class Unavailable(CibError):
    """A dependency (Neo4j) cannot be reached; the call may be retried (UNAVAILABLE)."""

    status = "UNAVAILABLE"


class DeadlineExceeded(CibError):
    """The caller's deadline passed before the work finished (DEADLINE_EXCEEDED)."""

    status = "DEADLINE_EXCEEDED"


class Cancelled(CibError):
    """The work was cancelled on request (CANCELLED)."""

    status = "CANCELLED"


@dataclass
class RejectReport:
    """Counts and first examples of rejected input rows (kept bounded)."""

    max_examples: int = 1000
    count: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    examples: list[FieldViolation] = field(default_factory=list)

    def add(self, violation: FieldViolation) -> None:
        self.count += 1
        key = f"{violation.field}: {violation.reason}"
        self.by_reason[key] = self.by_reason.get(key, 0) + 1
        if len(self.examples) < self.max_examples:
            self.examples.append(violation)
