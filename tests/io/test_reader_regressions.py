"""Regression tests for reader bugs found by ``test_reader_fuzz.py`` (one test per bug).

The contract: ``read_events`` returns ``(EventTable, InputInfo)`` or raises
:class:`~cib_detect.errors.InvalidInput`; a bad row is rejected (once, naming row, field
and reason) and never costs a good row of the same file.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from reader_helpers import small_parquet_bytes

from cib_detect.errors import InvalidInput
from cib_detect.io import read_events
from cib_detect.model import EventTable, InputInfo

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
GOOD = {"account_id": "a", "action": "s", "target": "t", "timestamp": T0}
UTF8 = "not valid UTF-8"
ABSURD = "absurd timestamp (before 1990-01-01 or after 2100-01-01)"


def examples(info: InputInfo) -> list[tuple[int | None, str, str]]:
    return [(v.row, v.field, v.reason) for v in info.rejects.examples]


def accounts(events: EventTable) -> list[str]:
    return [events.accounts[int(c)] for c in events.account]


def write_jsonl(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def good_line(**over: Any) -> bytes:
    return json.dumps(dict(GOOD, **over)).encode()


def unchecked_string(values: list[bytes | None], large: bool = False) -> pa.Array:
    """A string-typed array holding any bytes (as other Parquet writers may store)."""
    raw = pa.array(values, pa.large_binary() if large else pa.binary())
    return raw.view(pa.large_string() if large else pa.string())


def parquet(path: Path, columns: dict[str, Any], **kw: Any) -> Path:
    data = {"account_id": ["a1", "a2"], "action": ["s", "s"], "target": ["t", "t"]}
    data["timestamp"] = [T0, T0 + 1]  # type: ignore[list-item]
    data.update(columns)
    pq.write_table(pa.table(data), path, **kw)
    return path


# ------------------------------------------------------------------- 1. deep JSON


@pytest.mark.parametrize("key", ["account_id", "meta"])
@pytest.mark.parametrize("open_, close", [(b"[", b"]"), (b'{"k":', b"}")])
def test_jsonl_deeply_nested_value_rejects_only_its_line(
    tmp_path: Path, key: str, open_: bytes, close: bytes
) -> None:
    depth = 5000  # beyond the interpreter's recursion limit
    nested = open_ * depth + b"1" + close * depth
    head = json.dumps({k: v for k, v in GOOD.items() if k != key})
    line = head[:-1].encode() + b', "' + key.encode() + b'": ' + nested + b"}"
    path = write_jsonl(tmp_path / "e.jsonl", [good_line(account_id="ok"), line, good_line()])
    events, info = read_events(path)
    assert (info.rows, info.accepted, info.rejected) == (3, 2, 1)
    assert [(r, f) for r, f, _ in examples(info)] == [(2, "<row>")]
    assert accounts(events) == ["ok", "a"]


# ------------------------------------------------------------ 2. lone surrogates


@pytest.mark.parametrize("field", ["account_id", "target", "timestamp", "event_id", "text"])
def test_jsonl_escaped_lone_surrogate_is_not_valid_utf8(tmp_path: Path, field: str) -> None:
    row: dict[str, Any] = dict(GOOD, event_id="e2", text="x")
    row[field] = "a\ud800"
    lines = [good_line(event_id="e1", text="y", account_id="ok"), json.dumps(row).encode()]
    events, info = read_events(write_jsonl(tmp_path / "e.jsonl", lines))
    assert (info.rows, info.accepted, info.rejected) == (2, 1, 1)
    assert examples(info) == [(2, field, UTF8)]
    assert accounts(events) == ["ok"]


def test_jsonl_lone_surrogate_strict_names_field_and_row(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "e.jsonl", [good_line(), good_line(target="\udfff")])
    with pytest.raises(InvalidInput) as exc:
        read_events(path, strict=True)
    assert [(v.row, v.field) for v in exc.value.violations] == [(2, "target")]


# ------------------------------------------------------- 3. rows counted once


def test_jsonl_row_with_several_wrong_typed_fields_counts_once(tmp_path: Path) -> None:
    bad = json.dumps(dict(GOOD, account_id=["x"], action={"y": 1}, target=True)).encode()
    _, info = read_events(write_jsonl(tmp_path / "e.jsonl", [good_line(), bad]))
    assert (info.rows, info.accepted, info.rejected) == (2, 1, 1)
    assert {(r, f) for r, f, _ in examples(info)} == {
        (2, "account_id"),
        (2, "action"),
        (2, "target"),
    }
    with pytest.raises(InvalidInput, match=r"^1 invalid row"):
        read_events(tmp_path / "e.jsonl", strict=True)


# -------------------------------------------- 4. CSV malformed + invalid UTF-8


@pytest.mark.parametrize("gz", [False, True])
def test_csv_malformed_line_with_invalid_utf8_is_rejected(tmp_path: Path, gz: bool) -> None:
    body = (
        b"account_id,action,target,timestamp\n"
        b"a1,s,t,1767225600\n"
        b"\x80\n"  # wrong field count, not UTF-8
        b"a\xff2,s,t,1767225600\n"  # right field count, account_id not UTF-8
        b"a3,s,t\xf4\x8f\xbf\xbf,1767225600\n"  # a valid (private use) character
        b'"a4\xfe",x,y,z,w\n'  # wrong field count, not UTF-8, quoted
        b"a5,s,t,1767225600\n"
    )
    path = tmp_path / "e.csv"
    path.write_bytes(body)
    if gz:
        path = tmp_path / "e.csv.gz"
        path.write_bytes(gzip.compress(body))
    events, info = read_events(path)
    assert (info.rows, info.accepted, info.rejected) == (6, 3, 3)
    assert examples(info) == [
        (2, "<row>", "expected 4 fields, found 1"),
        (3, "account_id", UTF8),
        (5, "<row>", "expected 4 fields, found 5"),
    ]
    assert accounts(events) == ["a1", "a3", "a5"]
    assert events.targets == ["t", "t\U0010ffff"]


def test_csv_unreadable_file_is_invalid_input(tmp_path: Path) -> None:
    path = tmp_path / "e.csv.gz"
    path.write_bytes(gzip.compress(b"account_id,action,target,timestamp\na,s,t,1\n")[:-12])
    with pytest.raises(InvalidInput):
        read_events(path)


# ---------------------------------------------- 5. null-only Parquet row group


def test_parquet_null_only_row_group(tmp_path: Path) -> None:
    path = parquet(tmp_path / "e.parquet", {"target": ["t1", None]}, row_group_size=1)
    events, info = read_events(path)
    assert (info.rows, info.accepted, info.rejected) == (2, 1, 1)
    assert examples(info) == [(2, "target", "missing")]
    assert events.targets == ["t1"]


def test_parquet_null_only_first_row_group(tmp_path: Path) -> None:
    path = parquet(tmp_path / "e.parquet", {"action": [None, "s"]}, row_group_size=1)
    events, info = read_events(path)
    assert examples(info) == [(1, "action", "missing")]
    assert events.actions == ["s"] and accounts(events) == ["a2"]


# ------------------------------------------------------- 6. sub-ms timestamps


@pytest.mark.parametrize(("unit", "scale"), [("us", 10**3), ("ns", 10**6)])
def test_parquet_sub_millisecond_timestamps_floor_to_ms(
    tmp_path: Path, unit: str, scale: int
) -> None:
    ticks = [T0 * 1000 * scale + scale - 1, T0 * 1000 * scale + 7 * scale + 1]
    ts = pa.array(ticks, pa.timestamp(unit, tz="UTC"))
    events, info = read_events(parquet(tmp_path / "e.parquet", {"timestamp": ts}))
    assert info.rejected == 0
    assert events.ts.tolist() == [T0 * 1000, T0 * 1000 + 7]


def test_parquet_timestamp_far_out_of_range(tmp_path: Path) -> None:
    ts = pa.array([T0, 9 * 10**15], pa.timestamp("s"))
    events, info = read_events(parquet(tmp_path / "e.parquet", {"timestamp": ts}))
    assert examples(info) == [(2, "timestamp", ABSURD)]
    assert events.ts.tolist() == [T0 * 1000]


# ------------------------------------------------------------- 7. uint64


def test_parquet_uint64_timestamp_above_int64_is_absurd(tmp_path: Path) -> None:
    ts = pa.array([T0, 2**64 - 1], pa.uint64())
    events, info = read_events(parquet(tmp_path / "e.parquet", {"timestamp": ts}))
    assert (info.accepted, info.rejected) == (1, 1)
    assert examples(info) == [(2, "timestamp", ABSURD)]
    assert events.ts.tolist() == [T0 * 1000]


# -------------------------------------------------------- 8. nested types


@pytest.mark.parametrize(
    ("column", "values"),
    [
        ("account_id", pa.array([["a"], ["b"]])),
        ("event_id", pa.array([{"s": "e"}, {"s": "f"}])),
        ("timestamp", pa.array([{"s": T0}, {"s": T0}])),
        ("timestamp", pa.array([[T0], [T0]])),
        ("text", pa.array([["x"], []])),
    ],
)
def test_parquet_nested_column_is_invalid_input(
    tmp_path: Path, column: str, values: pa.Array
) -> None:
    path = parquet(tmp_path / "e.parquet", {column: values})
    with pytest.raises(InvalidInput, match=f"{column} has type") as exc:
        read_events(path)
    assert [v.field for v in exc.value.violations] == [column]


# ---------------------------------------------------------- 9. large_string


@pytest.mark.parametrize("column", ["event_id", "text", "account_id", "timestamp"])
def test_parquet_large_string_columns(tmp_path: Path, column: str) -> None:
    values = {"event_id": ["e1", "e2"], "text": ["x", None], "account_id": ["a1", "a2"]}
    values["timestamp"] = [str(T0), str(T0 + 1)]
    path = parquet(tmp_path / "e.parquet", {column: pa.array(values[column], pa.large_string())})
    events, info = read_events(path)
    assert (info.accepted, info.rejected) == (2, 0)
    if column == "event_id":
        assert events.event_id is not None and events.event_id.to_pylist() == ["e1", "e2"]
    if column == "text":
        assert events.text is not None and events.text.to_pylist() == ["x", None]


# ------------------------------------------ 10. invalid UTF-8 in string columns


@pytest.mark.parametrize("column", ["account_id", "action", "target", "timestamp", "event_id"])
@pytest.mark.parametrize("large", [False, True])
def test_parquet_string_column_with_invalid_utf8(tmp_path: Path, column: str, large: bool) -> None:
    good = {"account_id": b"a1", "action": b"s", "target": b"t", "event_id": b"e1"}
    ok = str(T0).encode() if column == "timestamp" else good[column]
    values = unchecked_string([ok, b"\xff" + ok], large=large)
    columns: dict[str, Any] = {column: values}
    if column != "event_id":
        columns["event_id"] = ["e1", "e2"]
    events, info = read_events(parquet(tmp_path / "e.parquet", columns, row_group_size=1))
    assert (info.accepted, info.rejected) == (1, 1)
    assert examples(info) == [(2, column, UTF8)]
    assert accounts(events) == ["a1"]
    with pytest.raises(InvalidInput) as exc:
        read_events(tmp_path / "e.parquet", strict=True)
    assert [(v.row, v.field) for v in exc.value.violations] == [(2, column)]


def test_parquet_text_with_invalid_utf8_among_many_rows(tmp_path: Path) -> None:
    n = 1000
    raw: list[bytes | None] = [f"x{i}".encode() for i in range(n)]
    for i in (3, 500, 501, 999):
        raw[i] = b"\xe2\x82" if i != 501 else b"\xac"  # split '€' over two rows: both bad
    columns: dict[str, Any] = {
        "account_id": [f"a{i}" for i in range(n)],
        "action": ["s"] * n,
        "target": ["t"] * n,
        "timestamp": [T0 + i for i in range(n)],
        "text": unchecked_string(raw),
    }
    path = tmp_path / "e.parquet"
    pq.write_table(pa.table(columns), path)
    events, info = read_events(path)
    assert sorted(r for r, _, _ in examples(info)) == [4, 501, 502, 1000]
    assert {(f, why) for _, f, why in examples(info)} == {("text", UTF8)}
    assert events.n == n - 4


# ---------------------------------------------------------- 11. damaged files


def test_parquet_damaged_bytes_never_escape(tmp_path: Path) -> None:
    data = small_parquet_bytes()
    rng = random.Random(11)
    path = tmp_path / "e.parquet"
    outcomes = set()
    for _ in range(300):
        body = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            body[rng.randrange(len(body))] = rng.randrange(256)
        path.write_bytes(bytes(body))
        for strict in (False, True):
            try:
                read_events(path, strict=strict)
                outcomes.add("read")
            except InvalidInput:
                outcomes.add("invalid")
    assert outcomes == {"read", "invalid"}


@pytest.mark.parametrize("cut", [0, 4, 100, -8, -1])
def test_parquet_truncated_is_invalid_input(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "e.parquet"
    path.write_bytes(small_parquet_bytes()[:cut])
    with pytest.raises(InvalidInput, match="Parquet"):
        read_events(path)


def test_parquet_dictionary_index_out_of_range_is_invalid_input(tmp_path: Path) -> None:
    # A damaged data page can hold dictionary indices past the dictionary (pyarrow does
    # not check them); setting a byte of the first pages to 28 makes some.
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({c: [v] * 4 for c, v in GOOD.items()}), sink)
    data = sink.getvalue().to_pybytes()
    path = tmp_path / "e.parquet"
    messages = []
    for i in range(4, 200):
        path.write_bytes(data[:i] + bytes([28]) + data[i + 1 :])
        try:
            read_events(path)
        except InvalidInput as exc:
            messages.append(exc.message)
    assert any("dictionary index 28 out of range" in m for m in messages)
