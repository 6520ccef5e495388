"""``read_events``: every bad row named by 1-based row, field and reason; good rows kept.

Rows are numbered from 1 over data rows (the CSV header is not a row); for JSONL the row
is the line number; for Parquet the row index + 1.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cib_detect.errors import InvalidInput
from cib_detect.io import read_events
from cib_detect.model import EventTable, InputInfo

COLUMNS = ("event_id", "account_id", "action", "target", "timestamp", "text")
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
T0_MS = T0 * 1000
ABSENT = object()  # key left out (JSONL), null (Parquet), empty cell (CSV)
UNPARSABLE = "not epoch seconds, epoch milliseconds or ISO-8601"
ABSURD = "absurd timestamp (before 1990-01-01 or after 2100-01-01)"
NUL = "contains a NUL byte"
NAIVE = "ISO-8601 timestamp has no time zone"


class Raw:
    """A line written to the file as is (CSV / JSONL only)."""

    def __init__(self, line: bytes) -> None:
        self.line = line


def good(i: int, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "event_id": f"e{i}",
        "account_id": f"a{i}",
        "action": "stream",
        "target": "t1",
        "timestamp": str(T0 + i),
        "text": f"text {i}",
    }
    row.update(over)
    return row


def _cell(v: Any) -> bytes:
    if v is ABSENT or v is None:
        return b""
    if isinstance(v, bytes):
        return v
    return str(v).encode("utf-8")


def write(fmt: str, path: Path, rows: list[Any], columns: tuple[str, ...] = COLUMNS) -> Path:
    if fmt == "csv":
        lines = [",".join(columns).encode()]
        for r in rows:
            lines.append(r.line if isinstance(r, Raw) else b",".join(_cell(r[c]) for c in columns))
        path.write_bytes(b"\n".join(lines) + b"\n")
    elif fmt == "jsonl":
        out = []
        for r in rows:
            if isinstance(r, Raw):
                out.append(r.line)
            else:
                obj = {c: r[c] for c in columns if c in r and r[c] is not ABSENT}
                obj.update({k: v for k, v in r.items() if k not in COLUMNS})
                out.append(json.dumps(obj).encode())
        path.write_bytes(b"\n".join(out) + b"\n")
    elif fmt == "parquet":
        data = {c: [None if r[c] is ABSENT else r[c] for r in rows] for c in columns}
        pq.write_table(pa.table(data), path)
    else:  # pragma: no cover
        raise AssertionError(fmt)
    return path


def read(path: Path, **kw: Any) -> tuple[EventTable, InputInfo]:
    return read_events(path, **kw)


def violations(info: InputInfo) -> set[tuple[int | None, str, str]]:
    return {(v.row, v.field, v.reason) for v in info.rejects.examples}


def accounts_in_order(events: EventTable) -> list[str]:
    return [events.accounts[int(c)] for c in events.account]


# --------------------------------------------------------------------------- bad rows

# (case id, formats, overrides of row 3, field, reason)
BAD_ROWS: list[tuple[str, tuple[str, ...], dict[str, Any], str, str]] = [
    ("missing_account", ("jsonl", "parquet"), {"account_id": ABSENT}, "account_id", "missing"),
    ("missing_action", ("jsonl", "parquet"), {"action": ABSENT}, "action", "missing"),
    ("missing_target", ("jsonl", "parquet"), {"target": ABSENT}, "target", "missing"),
    ("missing_timestamp", ("jsonl", "parquet"), {"timestamp": ABSENT}, "timestamp", "missing"),
    ("empty_cell_account", ("csv",), {"account_id": ""}, "account_id", "empty"),
    ("empty_cell_timestamp", ("csv",), {"timestamp": ""}, "timestamp", UNPARSABLE),
    ("empty_event_id", ("csv", "jsonl", "parquet"), {"event_id": ""}, "event_id", "empty"),
    ("empty_account", ("jsonl", "parquet"), {"account_id": ""}, "account_id", "empty"),
    ("empty_target", ("csv", "jsonl", "parquet"), {"target": ""}, "target", "empty"),
    ("blank_account", ("csv", "jsonl", "parquet"), {"account_id": "   "}, "account_id", "empty"),
    ("tab_target", ("csv", "jsonl", "parquet"), {"target": "\t"}, "target", "empty"),
    ("blank_action", ("csv", "jsonl", "parquet"), {"action": " "}, "action", "empty"),
    ("blank_event_id", ("csv", "jsonl", "parquet"), {"event_id": "  "}, "event_id", "empty"),
    ("nul_account", ("csv", "jsonl", "parquet"), {"account_id": "a\x00b"}, "account_id", NUL),
    ("nul_target", ("csv", "jsonl", "parquet"), {"target": "t\x001"}, "target", NUL),
    ("nul_text", ("csv", "jsonl", "parquet"), {"text": "hi\x00there"}, "text", NUL),
    ("nul_event_id", ("csv", "jsonl", "parquet"), {"event_id": "e\x003"}, "event_id", NUL),
    (
        "long_account",
        ("csv", "jsonl", "parquet"),
        {"account_id": "a" * 513},
        "account_id",
        "longer than 512 bytes",
    ),
    ("ts_words", ("csv", "jsonl", "parquet"), {"timestamp": "yesterday"}, "timestamp", UNPARSABLE),
    (
        "ts_bad_date",
        ("csv", "jsonl", "parquet"),
        {"timestamp": "2026-13-45T00:00:00Z"},
        "timestamp",
        UNPARSABLE,
    ),
    (
        "ts_1973_seconds",
        ("csv", "jsonl", "parquet"),
        {"timestamp": "100000000"},
        "timestamp",
        ABSURD,
    ),
    (
        "ts_1975_iso",
        ("csv", "jsonl", "parquet"),
        {"timestamp": "1975-06-01T00:00:00Z"},
        "timestamp",
        ABSURD,
    ),
    (
        "ts_2200_iso",
        ("csv", "jsonl", "parquet"),
        {"timestamp": "2200-01-01T00:00:00Z"},
        "timestamp",
        ABSURD,
    ),
    (
        "ts_2200_seconds",
        ("csv", "jsonl", "parquet"),
        {"timestamp": "7258118400"},
        "timestamp",
        ABSURD,
    ),
    (
        "ts_2200_millis",
        ("csv", "jsonl", "parquet"),
        {"timestamp": "7258118400000"},
        "timestamp",
        ABSURD,
    ),
    ("ts_zero", ("csv", "jsonl", "parquet"), {"timestamp": "0"}, "timestamp", ABSURD),
    (
        "ts_iso_naive",
        ("csv", "jsonl", "parquet"),
        {"timestamp": "2026-01-01T00:00:00"},
        "timestamp",
        NAIVE,
    ),
    ("ts_date_only", ("csv", "jsonl", "parquet"), {"timestamp": "2026-01-01"}, "timestamp", NAIVE),
    (
        "ts_inf",
        ("csv", "jsonl", "parquet"),
        {"timestamp": "1e400"},
        "timestamp",
        "not a finite number",
    ),
    ("utf8_text", ("csv",), {"text": b"caf\xe9"}, "text", "not valid UTF-8"),
    ("utf8_timestamp", ("csv",), {"timestamp": b"17672\xff"}, "timestamp", "not valid UTF-8"),
    (
        "nested_account",
        ("jsonl",),
        {"account_id": {"id": 1}},
        "account_id",
        "expected a string or number",
    ),
    ("nested_target", ("jsonl",), {"target": ["t1"]}, "target", "expected a string or number"),
    ("bool_timestamp", ("jsonl",), {"timestamp": True}, "timestamp", "expected a string or number"),
]

BAD_ROW_PARAMS = [
    pytest.param(fmt, over, field, reason, id=f"{case}-{fmt}")
    for case, fmts, over, field, reason in BAD_ROWS
    for fmt in fmts
]

#: The invalid UTF-8 cases of the dictionary-encoded id columns (see the xfail reason).
UTF8_ID_PARAMS = [
    pytest.param("csv", {col: b"\xff\xfe"}, col, "not valid UTF-8", id=f"utf8_{col}-csv")
    for col in ("account_id", "action", "target")
]


def _check_one_bad_row(
    tmp_path: Path, fmt: str, over: dict[str, Any], field: str, reason: str
) -> None:
    rows = [good(1), good(2), good(3, **over), good(4)]
    events, info = read(write(fmt, tmp_path / f"events.{fmt}", rows))
    assert violations(info) == {(3, field, reason)}
    assert info.rejected == 1
    assert info.rows == 4
    assert info.accepted == 3
    assert accounts_in_order(events) == ["a1", "a2", "a4"]
    assert events.ts.tolist() == [(T0 + 1) * 1000, (T0 + 2) * 1000, (T0 + 4) * 1000]
    assert info.rejects.by_reason == {f"{field}: {reason}": 1}


@pytest.mark.parametrize(("fmt", "over", "field", "reason"), BAD_ROW_PARAMS)
def test_bad_row_is_named_and_good_rows_kept(
    tmp_path: Path, fmt: str, over: dict[str, Any], field: str, reason: str
) -> None:
    _check_one_bad_row(tmp_path, fmt, over, field, reason)


@pytest.mark.parametrize(("fmt", "over", "field", "reason"), UTF8_ID_PARAMS)
def test_invalid_utf8_id_reported_once(
    tmp_path: Path, fmt: str, over: dict[str, Any], field: str, reason: str
) -> None:
    _check_one_bad_row(tmp_path, fmt, over, field, reason)


EVENT_ID_PARAMS = [
    pytest.param("jsonl", {"event_id": ABSENT}, "event_id", "missing", id="missing-jsonl"),
    pytest.param("parquet", {"event_id": ABSENT}, "event_id", "missing", id="missing-parquet"),
    pytest.param("csv", {"event_id": b"e\xff"}, "event_id", "not valid UTF-8", id="utf8-csv"),
]


@pytest.mark.parametrize(("fmt", "over", "field", "reason"), EVENT_ID_PARAMS)
def test_bad_event_id_reported_once(
    tmp_path: Path, fmt: str, over: dict[str, Any], field: str, reason: str
) -> None:
    _check_one_bad_row(tmp_path, fmt, over, field, reason)


@pytest.mark.parametrize(("fmt", "over", "field", "reason"), EVENT_ID_PARAMS + UTF8_ID_PARAMS)
def test_bad_id_row_rejected_with_its_reason(
    tmp_path: Path, fmt: str, over: dict[str, Any], field: str, reason: str
) -> None:
    """Whatever extra reasons come along, the row is rejected once with the right one."""
    rows = [good(1), good(2), good(3, **over), good(4)]
    events, info = read(write(fmt, tmp_path / f"events.{fmt}", rows))
    assert (3, field, reason) in violations(info)
    assert {v.row for v in info.rejects.examples} == {3}
    assert info.rejected == 1
    assert accounts_in_order(events) == ["a1", "a2", "a4"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"e3,a3,stream", "expected 6 fields, found 3"),
        (b"e3,a3,stream,t1,1767225603,x,extra", "expected 6 fields, found 7"),
    ],
)
def test_malformed_csv_row(tmp_path: Path, line: bytes, reason: str) -> None:
    rows = [good(1), good(2), Raw(line), good(4)]
    events, info = read(write("csv", tmp_path / "e.csv", rows))
    assert violations(info) == {(3, "<row>", reason)}
    assert info.rejected == 1 and info.rows == 4
    assert accounts_in_order(events) == ["a1", "a2", "a4"]


def test_rows_after_malformed_csv_rows_keep_their_numbers(tmp_path: Path) -> None:
    rows = [
        good(1),
        Raw(b"e2,a2"),
        good(3, timestamp="nope"),  # right after a skipped line
        good(4),
        Raw(b"e5,a5,stream,t1,1,2,3,4"),
        good(6, target=""),
        good(7),
        Raw(b"e8"),
        Raw(b"e9,a9,stream"),
        good(10, account_id=" "),
        good(11),
    ]
    events, info = read(write("csv", tmp_path / "e.csv", rows))
    assert violations(info) == {
        (2, "<row>", "expected 6 fields, found 2"),
        (3, "timestamp", UNPARSABLE),
        (5, "<row>", "expected 6 fields, found 8"),
        (6, "target", "empty"),
        (8, "<row>", "expected 6 fields, found 1"),
        (9, "<row>", "expected 6 fields, found 3"),
        (10, "account_id", "empty"),
    }
    assert accounts_in_order(events) == ["a1", "a4", "a7", "a11"]
    assert info.rows == 11 and info.rejected == 7 and info.accepted == 4


@pytest.mark.parametrize(
    ("line", "reason_start"),
    [
        (b'{"event_id": "e3", "account_id": ', "invalid JSON"),
        (b"not json at all", "invalid JSON"),
        (b"[1, 2, 3]", "not a JSON object"),
        (b'"just a string"', "not a JSON object"),
    ],
)
def test_bad_json_line(tmp_path: Path, line: bytes, reason_start: str) -> None:
    rows = [good(1), good(2), Raw(line), good(4)]
    events, info = read(write("jsonl", tmp_path / "e.jsonl", rows))
    [(row, field, reason)] = violations(info)
    assert (row, field) == (3, "<row>")
    assert reason.startswith(reason_start)
    assert accounts_in_order(events) == ["a1", "a2", "a4"]


def test_jsonl_rows_are_line_numbers_blank_lines_skipped(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    lines = [
        json.dumps(good(1)),
        "",
        "   ",
        json.dumps(good(4, timestamp="never")),
        json.dumps(good(5)),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    events, info = read(path)
    assert violations(info) == {(4, "timestamp", UNPARSABLE)}
    assert accounts_in_order(events) == ["a1", "a5"]


def test_jsonl_invalid_utf8_line(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    bad = b'{"account_id": "a\xff", "action": "stream", "target": "t1", "timestamp": 1}'
    path.write_bytes(json.dumps(good(1)).encode() + b"\n" + bad + b"\n")
    events, info = read(path)
    assert violations(info) == {(2, "<row>", "not valid UTF-8")}
    assert accounts_in_order(events) == ["a1"]


def test_jsonl_numbers_as_ids_are_text(tmp_path: Path) -> None:
    rows = [good(1, account_id=12345, target=7, timestamp=T0 + 1)]
    events, info = read(write("jsonl", tmp_path / "e.jsonl", rows))
    assert info.rejected == 0
    assert events.accounts == ["12345"] and events.targets == ["7"]


# --------------------------------------------------------------------------- columns


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
@pytest.mark.parametrize("missing", ["account_id", "action", "target", "timestamp"])
def test_missing_required_column_raises(tmp_path: Path, fmt: str, missing: str) -> None:
    cols = tuple(c for c in COLUMNS if c != missing)
    path = write(fmt, tmp_path / f"e.{fmt}", [good(1), good(2)], columns=cols)
    with pytest.raises(InvalidInput) as exc:
        read(path)
    assert missing in exc.value.message
    assert [(v.field, v.reason) for v in exc.value.violations] == [(missing, "column is missing")]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_optional_columns_may_be_absent(tmp_path: Path, fmt: str) -> None:
    cols = ("account_id", "action", "target", "timestamp")
    events, info = read(write(fmt, tmp_path / f"e.{fmt}", [good(1), good(2)], columns=cols))
    assert info.rejected == 0 and events.n == 2
    assert events.event_id is None and events.text is None


def test_extra_columns_ignored(tmp_path: Path) -> None:
    csv_path = tmp_path / "e.csv"
    csv_path.write_text(
        "lang,account_id,score,action,target,timestamp\n"
        f"en,a1,0.5,stream,t1,{T0}\n"
        f"de,a2,,stream,t1,{T0}\n",
        encoding="utf-8",
    )
    events, info = read(csv_path)
    assert info.rejected == 0 and accounts_in_order(events) == ["a1", "a2"]

    jl = tmp_path / "e.jsonl"
    rows = [good(1, meta={"nested": [1, 2]}, flag=True), good(2, extra=None)]
    events, info = read(write("jsonl", jl, rows))
    assert info.rejected == 0 and accounts_in_order(events) == ["a1", "a2"]

    pqp = tmp_path / "e.parquet"
    table = pa.table(
        {
            "account_id": ["a1", "a2"],
            "action": ["stream", "stream"],
            "target": ["t1", "t1"],
            "timestamp": [T0, T0],
            "meta": pa.array([{"x": 1}, {"x": 2}]),
            "tags": pa.array([["p"], []]),
        }
    )
    pq.write_table(table, pqp)
    events, info = read(pqp)
    assert info.rejected == 0 and accounts_in_order(events) == ["a1", "a2"]


# --------------------------------------------------------------------------- duplicates


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_duplicate_event_ids_count_once_first_wins(tmp_path: Path, fmt: str) -> None:
    rows = [
        good(1),
        good(2),
        good(3, event_id="e1", account_id="dup1"),
        good(4),
        good(5, event_id="e2", account_id="dup2"),
        good(6, event_id="e1", account_id="dup3"),
    ]
    events, info = read(write(fmt, tmp_path / f"e.{fmt}", rows))
    assert info.duplicates == 3
    assert info.rejected == 0
    assert info.accepted == 3
    assert accounts_in_order(events) == ["a1", "a2", "a4"]
    assert events.event_id.to_pylist() == ["e1", "e2", "e4"]
    assert events.ts.tolist() == [(T0 + 1) * 1000, (T0 + 2) * 1000, (T0 + 4) * 1000]


def test_event_ids_compared_by_value_not_prefix(tmp_path: Path) -> None:
    rows = [good(1, event_id="e1"), good(2, event_id="e10"), good(3, event_id="e1 ")]
    events, info = read(write("csv", tmp_path / "e.csv", rows))
    assert info.duplicates == 0 and events.n == 3


# --------------------------------------------------------------------------- timestamps

SAME_INSTANT = [
    str(T0),
    str(T0_MS),
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:00:00+00:00",
    "2026-01-01T01:00:00+01:00",
    "2025-12-31T19:00:00-05:00",
    "2026-01-01T00:00:00.000Z",
    f"{T0}.0",
    "1.7672256e9",
]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_seconds_millis_and_iso_give_the_same_instant(tmp_path: Path, fmt: str) -> None:
    rows = [good(i, timestamp=v) for i, v in enumerate(SAME_INSTANT, start=1)]
    events, info = read(write(fmt, tmp_path / f"e.{fmt}", rows))
    assert info.rejected == 0, info.rejects.examples
    assert events.ts.tolist() == [T0_MS] * len(SAME_INSTANT)


def test_json_numbers_seconds_millis_float(tmp_path: Path) -> None:
    rows = [
        good(1, timestamp=T0),
        good(2, timestamp=T0_MS),
        good(3, timestamp=float(T0)),
        good(4, timestamp=T0 + 0.25),
        good(5, timestamp="2026-01-01T00:00:00.250Z"),
    ]
    events, info = read(write("jsonl", tmp_path / "e.jsonl", rows))
    assert info.rejected == 0
    assert events.ts.tolist() == [T0_MS, T0_MS, T0_MS, T0_MS + 250, T0_MS + 250]


def test_parquet_typed_timestamps(tmp_path: Path) -> None:
    base = {"account_id": ["a1", "a2"], "action": ["stream"] * 2, "target": ["t1"] * 2}
    variants = {
        "int_mixed": pa.array([T0, T0_MS], pa.int64()),
        "int32_secs": pa.array([T0, T0], pa.int32()),
        "float": pa.array([float(T0), float(T0_MS)], pa.float64()),
        "ts_ms_utc": pa.array([T0_MS, T0_MS], pa.timestamp("ms", tz="UTC")),
        "ts_s_utc": pa.array([T0, T0], pa.timestamp("s", tz="UTC")),
        "ts_us_paris": pa.array([T0_MS * 1000] * 2, pa.timestamp("us", tz="Europe/Paris")),
    }
    for name, col in variants.items():
        path = tmp_path / f"{name}.parquet"
        pq.write_table(pa.table({**base, "timestamp": col}), path)
        events, info = read(path)
        assert info.rejected == 0, name
        assert events.ts.tolist() == [T0_MS, T0_MS], name


def test_parquet_absurd_and_null_typed_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "e.parquet"
    ts = pa.array([T0, 100_000_000, None, 7_258_118_400_000, T0_MS], pa.int64())
    n = len(ts)
    table = pa.table(
        {
            "account_id": [f"a{i}" for i in range(1, n + 1)],
            "action": ["stream"] * n,
            "target": ["t1"] * n,
            "timestamp": ts,
        }
    )
    pq.write_table(table, path)
    events, info = read(path)
    assert violations(info) == {
        (2, "timestamp", ABSURD),
        (3, "timestamp", "missing"),
        (4, "timestamp", ABSURD),
    }
    assert accounts_in_order(events) == ["a1", "a5"]


def test_timestamp_range_bounds(tmp_path: Path) -> None:
    rows = [
        good(1, timestamp="1990-01-01T00:00:00Z"),  # first accepted instant
        good(2, timestamp="1989-12-31T23:59:59.999Z"),
        good(3, timestamp="2099-12-31T23:59:59.999Z"),
        good(4, timestamp="2100-01-01T00:00:00Z"),  # first rejected instant
    ]
    events, info = read(write("csv", tmp_path / "e.csv", rows))
    assert violations(info) == {(2, "timestamp", ABSURD), (4, "timestamp", ABSURD)}
    assert accounts_in_order(events) == ["a1", "a3"]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_whitespace_padded_epoch_timestamp(tmp_path: Path, fmt: str) -> None:
    rows = [good(1), good(2, timestamp=f" {T0} "), good(3)]
    events, info = read(write(fmt, tmp_path / f"e.{fmt}", rows))
    # either accepted as the instant it names, or rejected as a timestamp problem
    if info.rejected:
        assert {(v.row, v.field) for v in info.rejects.examples} == {(2, "timestamp")}
        assert accounts_in_order(events) == ["a1", "a3"]
    else:
        assert events.ts.tolist()[1] == T0_MS


# --------------------------------------------------------------------------- strict


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_strict_raises_naming_row_and_field(tmp_path: Path, fmt: str) -> None:
    rows = [good(1), good(2), good(3, timestamp="later"), good(4, target="")]
    path = write(fmt, tmp_path / f"e.{fmt}", rows)
    with pytest.raises(InvalidInput) as exc:
        read(path, strict=True)
    got = {(v.row, v.field) for v in exc.value.violations}
    assert got == {(3, "timestamp"), (4, "target")}
    assert "row 3" in exc.value.message and "timestamp" in exc.value.message
    # the same file is fine without strict
    events, info = read(path)
    assert info.rejected == 2 and events.n == 2


def test_strict_includes_parse_rejects(tmp_path: Path) -> None:
    path = write("csv", tmp_path / "e.csv", [good(1), Raw(b"x,y"), good(3)])
    with pytest.raises(InvalidInput) as exc:
        read(path, strict=True)
    assert [(v.row, v.field) for v in exc.value.violations] == [(2, "<row>")]


def test_strict_passes_clean_file(tmp_path: Path) -> None:
    events, info = read(write("csv", tmp_path / "e.csv", [good(1), good(2)]), strict=True)
    assert events.n == 2 and info.rejected == 0


# --------------------------------------------------------------------------- files


def test_gzip_csv_and_jsonl(tmp_path: Path) -> None:
    plain = write("csv", tmp_path / "plain.csv", [good(1), good(2, timestamp="bad"), good(3)])
    gz = tmp_path / "events.csv.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    events, info = read(gz)
    assert info.format == "csv"
    assert violations(info) == {(2, "timestamp", UNPARSABLE)}
    assert accounts_in_order(events) == ["a1", "a3"]

    jl = write("jsonl", tmp_path / "plain.jsonl", [good(1), good(2)])
    gzj = tmp_path / "events.jsonl.gz"
    gzj.write_bytes(gzip.compress(jl.read_bytes()))
    events, info = read(gzj)
    assert info.format == "jsonl" and accounts_in_order(events) == ["a1", "a2"]


def test_tsv(tmp_path: Path) -> None:
    path = tmp_path / "e.tsv"
    path.write_text(
        f"account_id\taction\ttarget\ttimestamp\na,b\tstream\tt1\t{T0}\n", encoding="utf-8"
    )
    events, info = read(path)
    assert info.rejected == 0 and events.accounts == ["a,b"]


def test_unknown_extension_needs_format(tmp_path: Path) -> None:
    path = tmp_path / "events.txt"
    write("csv", tmp_path / "x.csv", [good(1)]).rename(path)
    with pytest.raises(InvalidInput, match="format"):
        read(path)
    events, info = read(path, fmt="csv")
    assert events.n == 1 and info.format == "csv"
    with pytest.raises(InvalidInput, match="unknown format"):
        read(path, fmt="xml")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not found"):
        read(tmp_path / "nope.csv")


def test_info_records_input(tmp_path: Path) -> None:
    import hashlib

    path = write("csv", tmp_path / "e.csv", [good(1), good(2, account_id=""), good(3)])
    _, info = read(path)
    rec = info.as_record()
    assert rec["path"] == str(path)
    assert rec["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (rec["rows"], rec["accepted"], rec["rejected"]) == (3, 2, 1)
    assert rec["rejected_by_reason"] == {"account_id: empty": 1}


def test_codes_are_sorted_dictionaries(tmp_path: Path) -> None:
    rows = [good(1, account_id="zed"), good(2, account_id="amy"), good(3, account_id="zed")]
    events, _ = read(write("csv", tmp_path / "e.csv", rows))
    assert events.accounts == ["amy", "zed"]
    assert events.account.tolist() == [1, 0, 1]
    assert np.array_equal(events.ts, np.array([T0 + 1, T0 + 2, T0 + 3]) * 1000)


def test_vertical_tab_id_is_empty_in_every_id_column(tmp_path: Path) -> None:
    rows = [good(1), good(2, event_id="\x0b"), good(3, account_id="\x0b"), good(4)]
    events, info = read(write("parquet", tmp_path / "e.parquet", rows))
    assert violations(info) == {(2, "event_id", "empty"), (3, "account_id", "empty")}
    assert accounts_in_order(events) == ["a1", "a4"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_one_and_two_thread_checks_report_the_same(
    tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every bad-row case of ``fmt`` in one file, with duplicate ids: the column checks
    split over two threads name the same rows, fields and reasons, with the same counts
    and the same accepted events, as one thread."""
    from cib_detect.io import validate

    rows: list[Any] = []
    for i, (_, fmts, over, _, _) in enumerate(BAD_ROWS):
        if fmt in fmts:
            rows += [good(2 * i), good(2 * i + 1, **over)]
    rows += [good(1000), good(1000), good(1001, event_id=rows[0]["event_id"])]
    path = write(fmt, tmp_path / f"events.{fmt}", rows)
    results = []
    for parallel_rows in (1, 10**9):
        monkeypatch.setattr(validate, "PARALLEL_ROWS", parallel_rows)
        events, info = read(path)
        results.append((events, info))
    (e1, i1), (e2, i2) = results
    assert i1.rejects.examples == i2.rejects.examples
    assert i1.rejects.by_reason == i2.rejects.by_reason
    assert (i1.rejected, i1.accepted, i1.duplicates) == (i2.rejected, i2.accepted, i2.duplicates)
    assert i1.rejected >= 10 and i1.duplicates == 2
    assert accounts_in_order(e1) == accounts_in_order(e2)
    assert e1.ts.tolist() == e2.ts.tolist()
    assert e1.text is not None and e2.text is not None
    assert e1.text.to_pylist() == e2.text.to_pylist()
