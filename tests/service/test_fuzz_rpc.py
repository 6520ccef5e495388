"""Property-based fuzzing of every RPC against a real server on 127.0.0.1.

Requests are built as raw protobuf wire bytes, so they can carry what the Python
protobuf library refuses to build: invalid UTF-8 in string fields, NUL bytes, huge,
negative and non-numeric timestamps, empty and oversize ids, unknown enum values,
garbage bytes and deeply nested fields. Properties:

* ingest: every event gets a result; exactly the events a simple independent reference
  calls valid are NEW (first occurrence) or DUPLICATE (repeat), and they are stored;
  every other event is INVALID with a violation naming ``events[i].<field>``;
* every other RPC answers OK, INVALID_ARGUMENT (with BadRequest field violations),
  NOT_FOUND or FAILED_PRECONDITION — never INTERNAL or UNKNOWN;
* the service stays SERVING.

The number of cases tried is written to ``test-artifacts/fuzz-cases.json``.
"""

from __future__ import annotations

import json
import re
import secrets
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_helpers import Running

from cib_detect._proto.cib.v1 import ingest_service_pb2 as ipb
from cib_detect.io.validate import MAX_TS_MS, MIN_TS_MS
from cib_detect.service import guard
from cib_detect.service.guard import encode_int, encode_len, encode_varint

pytestmark = pytest.mark.neo4j
CASES: Counter[str] = Counter()
REPO = Path(__file__).resolve().parents[2]
FUZZ = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# --------------------------------------------------------------------------- wire format


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    ints=st.lists(st.integers(-(2**63), 2**64 - 1), max_size=4),
    blobs=st.lists(st.binary(max_size=300), max_size=4),
)
def test_wire_encoders_round_trip(ints: list[int], blobs: list[bytes]) -> None:
    """The encoders the fuzzing (and benchmarks/load_bench.py) build requests with write
    what ``guard.fields`` reads back: varint fields (negative ones as 64-bit two's
    complement) and length-delimited ones."""
    wire = b"".join(encode_int(1, v) for v in ints) + b"".join(encode_len(2, x) for x in blobs)
    got = list(guard.fields(wire))
    assert got == [(1, guard.VARINT, v % 2**64) for v in ints] + [(2, guard.LEN, x) for x in blobs]
    assert encode_varint(300) == bytes([0xAC, 0x02])  # the protobuf documentation's example


# --------------------------------------------------------------------------- events

GOOD_ID = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_.:", min_size=1, max_size=40)
BAD_BYTES = st.sampled_from(
    [b"", b"   ", b"\t\n", b"a\x00b", b"x" * 600, b"\xff\xfe\xfd", b"ok\xc3\x28", b"\xed\xa0\x80"]
)
UNICODE = st.text(min_size=1, max_size=20).filter(
    lambda s: "\x00" not in s and not re.fullmatch(r"[ \t\n\r\f\v]*", s)
)
FIELD = st.one_of(GOOD_ID.map(str.encode), UNICODE.map(lambda s: s.encode("utf-8")), BAD_BYTES)

GOOD_MS = st.integers(MIN_TS_MS, MAX_TS_MS - 1)
BAD_MS = st.one_of(
    st.integers(-(2**63), MIN_TS_MS - 1),
    st.integers(MAX_TS_MS, 2**63 - 1),
    st.just(0),
)
GOOD_ISO = GOOD_MS.map(
    lambda ms: datetime.fromtimestamp(ms / 1000).astimezone().isoformat(timespec="milliseconds")
)
BAD_ISO = st.one_of(
    st.sampled_from(["", "yesterday", "2026-13-45T99:00:00Z", "NaN", "inf", "12:00"]),
    GOOD_MS.map(lambda ms: datetime.utcfromtimestamp(ms / 1000).isoformat()),  # no zone
    st.text("abcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=12),
)
TIME = st.one_of(
    st.tuples(st.just(5), GOOD_MS),
    st.tuples(st.just(5), BAD_MS),
    st.tuples(st.just(6), GOOD_ISO.map(str.encode)),
    st.tuples(st.just(6), BAD_ISO.map(str.encode)),
    st.tuples(st.just(6), BAD_BYTES),
    st.just(None),
)
TEXT = st.one_of(
    st.none(), st.text(max_size=60).filter(lambda s: "\x00" not in s).map(str.encode), BAD_BYTES
)


def _ok_id(raw: bytes) -> bool:
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return (
        bool(s) and not re.fullmatch(r"[ \t\n\r\f\v]*", s) and "\x00" not in s and len(raw) <= 512
    )


def _ok_time(time: tuple[int, Any] | None) -> bool:
    if time is None:
        return False
    num, value = time
    if num == 5:
        return MIN_TS_MS <= value < MAX_TS_MS
    try:
        s = value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if s in {"", "   ", "\t\n", "NaN", "inf"} or "\x00" in s:
        return False
    try:
        dt = datetime.fromisoformat(s.strip())
    except ValueError:
        return False
    return dt.tzinfo is not None and MIN_TS_MS <= dt.timestamp() * 1000 < MAX_TS_MS


def _ok_text(raw: bytes | None) -> bool:
    if raw is None:
        return True
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return "\x00" not in s and len(raw) <= 65536


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    ev = {name: draw(FIELD) for name in ("event_id", "account_id", "action", "target")}
    if draw(st.booleans()):  # mostly plausible ids, so that many events are valid
        ev["event_id"] = draw(GOOD_ID).encode()
    ev["time"] = draw(TIME)
    ev["text"] = draw(TEXT)
    return ev


def _encode(ev: dict[str, Any], prefix: bytes) -> bytes:
    eid = prefix + ev["event_id"] if ev["event_id"] else ev["event_id"]
    body = (
        encode_len(1, eid)
        + encode_len(2, ev["account_id"])
        + encode_len(3, ev["action"])
        + encode_len(4, ev["target"])
    )
    if ev["time"] is not None:
        num, value = ev["time"]
        body += encode_int(5, value) if num == 5 else encode_len(6, value)
    if ev["text"] is not None:
        body += encode_len(7, ev["text"])
    return body


def _valid(ev: dict[str, Any], prefix: bytes) -> bool:
    eid = prefix + ev["event_id"] if ev["event_id"] else b""
    return (
        _ok_id(eid)
        and all(_ok_id(ev[k]) for k in ("account_id", "action", "target"))
        and _ok_time(ev["time"])
        and _ok_text(ev["text"])
    )


# --------------------------------------------------------------------------- helpers


def _raw_call(running: Running, method: str, payload: bytes, stream: bool = False) -> Any:
    """Call ``method`` with raw bytes; returns (code name, response bytes or BadRequest)."""
    channel = running.client.channel
    try:
        if stream:
            call = channel.unary_stream(method, request_serializer=None, response_deserializer=None)
            return "OK", list(call(payload, timeout=30))
        call_u = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        return "OK", call_u(payload, timeout=30)
    except grpc.RpcError as exc:
        assert isinstance(exc, grpc.Call)
        status = rpc_status.from_call(exc)
        fields: list[str] = []
        for detail in status.details if status is not None else []:
            bad = error_details_pb2.BadRequest()
            if detail.Unpack(bad):
                fields += [v.field for v in bad.field_violations]
        return exc.code().name, fields


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    out = REPO / "test-artifacts"
    out.mkdir(exist_ok=True)
    (out / "fuzz-cases.json").write_text(json.dumps(dict(sorted(CASES.items())), indent=1))


# --------------------------------------------------------------------------- ingest


@FUZZ
@given(batch=st.lists(events(), min_size=0, max_size=25), repeat=st.booleans())
def test_fuzzed_ingest_batches(running: Running, batch: list[dict[str, Any]], repeat: bool) -> None:
    CASES["IngestEvents"] += 1
    prefix = f"fz{secrets.token_hex(4)}-".encode()
    if repeat and batch:
        batch = [*batch, batch[0]]  # the same event id again in the same batch
    payload = b"".join(encode_len(1, _encode(ev, prefix)) for ev in batch)
    code, resp = _raw_call(running, "/cib.v1.IngestService/IngestEvents", payload)
    assert code == "OK", resp
    out = ipb.IngestEventsResponse.FromString(resp)
    assert [r.index for r in out.results] == list(range(len(batch)))
    seen: set[bytes] = set()
    expect_new: set[str] = set()
    for i, (ev, r) in enumerate(zip(batch, out.results, strict=True)):
        if _valid(ev, prefix):
            eid = prefix + ev["event_id"]
            want = ipb.EVENT_STATUS_DUPLICATE if eid in seen else ipb.EVENT_STATUS_NEW
            assert r.status == want, (i, ev, r)
            if eid not in seen:
                expect_new.add(eid.decode())
            seen.add(eid)
        else:
            assert r.status == ipb.EVENT_STATUS_INVALID, (i, ev, r)
            assert r.violations and all(
                v.field.startswith(f"events[{i}].") for v in r.violations
            ), r
    assert out.counts.new == len(expect_new)
    stored = running.store.read(
        "MATCH ()-[e:ACTED]->() WHERE e.eventId STARTS WITH $p RETURN e.eventId AS id",
        {"p": prefix.decode()},
    )
    assert {r["id"] for r in stored} == expect_new


def test_oversize_batch_and_message(running: Running) -> None:
    CASES["IngestEvents"] += 2
    small = {"event_id": b"x", "account_id": b"a", "action": b"s", "target": b"t",
             "time": (5, MIN_TS_MS + 1), "text": None}  # fmt: skip
    one = encode_len(1, _encode(small, b"big-"))
    code, fields = _raw_call(running, "/cib.v1.IngestService/IngestEvents", one * 1001)
    assert code == "INVALID_ARGUMENT" and fields == ["events"]
    huge = encode_len(1, encode_len(7, b"x" * (20 * 1024 * 1024)))
    code, _ = _raw_call(running, "/cib.v1.IngestService/IngestEvents", huge)
    assert code == "RESOURCE_EXHAUSTED"  # larger than the server's message limit
    assert running.client.health() == "SERVING"


# --------------------------------------------------------------------------- other RPCs

#: (method, server-streaming?, string fields, int fields, enum fields) of the requests.
RPCS = [
    ("/cib.v1.DetectionService/GetDetectionRun", False, [1], [], []),
    ("/cib.v1.DetectionService/CancelDetection", False, [1], [], []),
    ("/cib.v1.DetectionService/ListDetectionRuns", False, [2], [1], []),
    ("/cib.v1.DetectionService/DiffRuns", False, [1, 2], [], []),
    ("/cib.v1.ClusterService/ListClusters", False, [1, 3], [2], []),
    ("/cib.v1.ClusterService/GetCluster", False, [1, 2], [3], []),
    ("/cib.v1.ClusterService/StreamClusterEvidence", True, [1, 2], [3], []),
    ("/cib.v1.ClusterService/ExplainAccount", False, [1, 2], [3], []),
    ("/cib.v1.ClusterService/TargetAmplifiers", False, [1, 3], [4], []),
    ("/cib.v1.ClusterService/SetClusterStatus", False, [1, 2, 4, 5], [], [3]),
    ("/cib.v1.AdminService/EraseAccount", False, [1], [], []),
    ("/cib.v1.AdminService/ApplyRetention", False, [], [1, 2], []),
]
INT = st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(-5, 2000))
ALLOWED = {"OK", "INVALID_ARGUMENT", "NOT_FOUND", "FAILED_PRECONDITION"}


def _nested(depth: int) -> bytes:
    inner = b""
    for _ in range(depth):
        inner = encode_len(99, inner)  # an unknown field, nested
    return inner


@st.composite
def requests(draw: st.DrawFn, strings: list[int], ints: list[int], enums: list[int]) -> bytes:
    kind = draw(st.sampled_from(["fields", "fields", "fields", "garbage", "nested", "groups"]))
    if kind == "garbage":
        return draw(st.binary(max_size=64))
    if kind == "nested":
        return _nested(draw(st.integers(1, 3000)))
    if kind == "groups":
        depth = draw(st.integers(1, 300))
        return encode_varint(99 << 3 | 3) * depth + encode_varint(99 << 3 | 4) * depth
    body = b""
    for num in strings:
        if draw(st.booleans()):
            body += encode_len(num, draw(FIELD))
    for num in ints:
        if draw(st.booleans()):
            body += encode_int(num, draw(INT))
    for num in enums:
        body += encode_int(num, draw(st.integers(0, 10_000)))
    return body


@pytest.mark.parametrize("method,stream,strings,ints,enums", RPCS, ids=[r[0] for r in RPCS])
def test_fuzzed_rpcs_never_fail_internally(
    running: Running, method: str, stream: bool, strings: list[int], ints: list[int],
    enums: list[int],
) -> None:  # fmt: skip
    @settings(max_examples=40, deadline=None)
    @given(payload=requests(strings, ints, enums))
    def check(payload: bytes) -> None:
        CASES[method.rsplit("/", 1)[1]] += 1
        code, detail = _raw_call(running, method, payload, stream)
        assert code in ALLOWED, (code, detail, payload[:80])
        if code == "INVALID_ARGUMENT":
            assert detail, "INVALID_ARGUMENT without field violations"

    check()
    assert running.client.health() == "SERVING"
