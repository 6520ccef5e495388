"""Request decoding that never fails a call with INTERNAL.

gRPC's generated deserializers raise on malformed bytes (invalid UTF-8 in a string
field, broken framing, runaway nesting), which grpc turns into INTERNAL. Here:

* every request is decoded by :func:`safe_deserializer`; a message that does not parse
  becomes :class:`Malformed`, which the servicers answer with INVALID_ARGUMENT naming the
  field (found by walking the wire format against the message's descriptor, e.g.
  ``account_id: not valid UTF-8``);
* ingest batches are decoded event by event (:func:`decode_batch`): an event that does
  not parse is reported INVALID with its field, and the other events of the batch are
  stored as usual — one bad event never costs the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError

from cib_detect._proto.cib.v1 import common_pb2 as pb
from cib_detect.errors import FieldViolation, InvalidInput

#: Wire types.
VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5
MAX_DEPTH = 64


@dataclass
class Malformed:
    """A request that could not be decoded, with what is wrong."""

    violations: list[FieldViolation]

    def error(self) -> InvalidInput:
        return InvalidInput(
            "malformed request: " + "; ".join(v.describe() for v in self.violations),
            violations=self.violations,
        )


@dataclass
class LenientBatch:
    """An ingest batch decoded event by event. ``events[i]`` is None where event ``i``
    did not decode; ``bad[i]`` says why."""

    events: list[pb.Event | None]
    bad: dict[int, list[FieldViolation]] = field(default_factory=dict)
    sequence: int = 0


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated or overlong varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def encode_varint(value: int) -> bytes:
    """``value`` as a protobuf varint (negative numbers as their 64-bit two's complement)."""
    v = value & ((1 << 64) - 1)
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def encode_len(number: int, data: bytes) -> bytes:
    """A length-delimited field: key, length, bytes (the inverse of :func:`fields`)."""
    return encode_varint(number << 3 | LEN) + encode_varint(len(data)) + data


def encode_int(number: int, value: int) -> bytes:
    """A varint field."""
    return encode_varint(number << 3 | VARINT) + encode_varint(value)


def fields(buf: bytes, depth: int = 0) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of a message's wire bytes; LEN values are bytes.
    Raises ValueError on broken framing."""
    if depth > MAX_DEPTH:
        raise ValueError("nested too deeply")
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError("field number 0")
        value: Any
        if wire == VARINT:
            value, pos = _varint(buf, pos)
        elif wire == I64:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == I32:
            value, pos = buf[pos : pos + 4], pos + 4
        elif wire == LEN:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        elif wire == SGROUP:
            raise ValueError("groups are not used by this API")
        else:
            raise ValueError(f"unexpected wire type {wire}")
        if pos > len(buf):
            raise ValueError("truncated message")
        yield number, wire, value


def find_problem(
    buf: bytes, descriptor: Descriptor, path: str = "", depth: int = 0
) -> FieldViolation:
    """The first field of ``buf`` that makes it undecodable as ``descriptor``."""
    counts: dict[int, int] = {}
    try:
        for number, wire, value in fields(buf, depth):
            f = descriptor.fields_by_number.get(number)
            if f is None:
                continue
            name = f"{path}.{f.name}" if path else f.name
            if f.is_repeated:
                i = counts.get(number, 0)
                counts[number] = i + 1
                name = f"{name}[{i}]"
            if wire != LEN:
                continue
            if f.type == FieldDescriptor.TYPE_STRING:
                try:
                    bytes(value).decode("utf-8")
                except UnicodeDecodeError:
                    return FieldViolation(name, "not valid UTF-8")
            elif f.type == FieldDescriptor.TYPE_MESSAGE and f.message_type is not None:
                inner = find_problem(bytes(value), f.message_type, name, depth + 1)
                if inner.field != (name or "(request)"):
                    return inner
    except ValueError as exc:
        return FieldViolation(path or "(request)", f"malformed: {exc}")
    return FieldViolation(path or "(request)", "malformed message")


Deserializer = Callable[[bytes], Any]


def safe_deserializer(des: Deserializer, descriptor: Descriptor) -> Deserializer:
    """``des`` (a generated ``FromString``) returning :class:`Malformed` instead of
    raising."""

    def decode(raw: bytes) -> Any:
        try:
            return des(raw)
        except (DecodeError, RecursionError, ValueError):
            return Malformed([find_problem(raw, descriptor)])

    return decode


def decode_batch(raw: bytes) -> LenientBatch | Malformed:
    """An ``IngestEventsRequest`` / ``StreamEventsRequest`` (events = field 1, sequence =
    field 2), decoded event by event."""
    batch = LenientBatch(events=[])
    try:
        for number, wire, value in fields(raw):
            if number == 1 and wire == LEN:
                i = len(batch.events)
                try:
                    batch.events.append(pb.Event.FromString(bytes(value)))
                except (DecodeError, RecursionError, ValueError):
                    batch.events.append(None)
                    batch.bad[i] = [find_problem(bytes(value), pb.Event.DESCRIPTOR, f"events[{i}]")]
            elif number == 2 and wire == VARINT:
                batch.sequence = value - (1 << 64) if value >= 1 << 63 else value
    except ValueError as exc:
        return Malformed([FieldViolation("(request)", f"malformed: {exc}")])
    return batch


def as_batch(request: Any) -> LenientBatch:
    """A decoded request (lenient or a plain message) as a :class:`LenientBatch`."""
    if isinstance(request, Malformed):
        raise request.error()
    if isinstance(request, LenientBatch):
        return request
    return LenientBatch(events=list(request.events), sequence=getattr(request, "sequence", 0))
