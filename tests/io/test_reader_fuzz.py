"""Property-based fuzzing of ``read_events`` on hostile CSV, JSONL and Parquet files.

Every generated row is either clearly valid or clearly invalid by the independent
reference below (the rules of ``cib_detect.io.validate``: ids non-empty after ASCII
whitespace, no NUL, at most 512 UTF-8 bytes, valid UTF-8; text no NUL, at most 65536
bytes; timestamps epoch seconds, epoch milliseconds (from 1e11 on) or ISO-8601 with a
zone, in [1990-01-01, 2100-01-01) UTC). The properties:

* ``read_events`` returns or raises :class:`~cib_detect.errors.InvalidInput`, never
  anything else;
* without ``strict``: every valid row is kept (in order, with its account, action,
  target, timestamp, event id and text), duplicates of an earlier valid row's event id
  are dropped, ``info.rejected`` is the number of invalid rows, and every reject example
  names a 1-based row that is invalid and one of the fields that make it so;
* with ``strict`` and at least one invalid row: ``InvalidInput`` whose violations name
  invalid rows (the first one among them) and their bad fields.

Examples tried per run (``max_examples``, derandomized like the other property tests):

==============================================  =====
test_csv_rows                                     250
test_jsonl_rows                                   250
test_parquet_rows                                 250
test_text_file_garbage[csv]                       120
test_text_file_garbage[jsonl]                     120
test_jsonl_deeply_nested_values                    40
test_parquet_column_types                         150
test_parquet_corrupted_bytes                      100
total                                            1280
==============================================  =====

Most examples read their file twice (without and with ``strict``).
"""

from __future__ import annotations

import gzip
import json
import string
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from reader_helpers import small_parquet_bytes

from cib_detect.errors import InvalidInput
from cib_detect.io import read_events
from cib_detect.io.formats import KNOWN_COLUMNS, REQUIRED_COLUMNS
from cib_detect.model import EventTable, InputInfo

MIN_TS_MS = 631_152_000_000  # 1990-01-01T00:00:00Z, first accepted instant
MAX_TS_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z, first rejected instant
MIN_S = MIN_TS_MS // 1000
MAX_S = MAX_TS_MS // 1000
MS_FROM = 100_000_000_000  # numbers at or above this magnitude are milliseconds
MAX_ID_BYTES = 512
MAX_TEXT_BYTES = 65_536
ID_COLUMNS = ("event_id", "account_id", "action", "target")
#: Fields a reject example may name: the known columns, or the whole row.
NAMED_FIELDS = frozenset(KNOWN_COLUMNS) | {"<row>"}
ASCII_WS = " \t\n\r\x0b\x0c"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Out-of-range float timestamps (1e300) overflow numpy's float -> int64 cast in the
# reader, which warns; the result is still rejected as absurd.
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")


def _settings(n: int) -> settings:
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        # no explain phase: after a failure it re-runs the test many times (minutes here)
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


class _Absent:
    """A key left out of a JSONL object."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = _Absent()


@dataclass(frozen=True)
class Cell:
    """One field of one row: what is written, and what the reader must make of it."""

    raw: Any  # str, bytes, int, float, bool, list, dict, None (null) or ABSENT
    value: Any  # canonical value when ``ok`` (str; int epoch ms for timestamps)
    ok: bool


@dataclass(frozen=True)
class Rec:
    """One record of a file: a row of cells, a raw line (rejected as a whole) or, in
    JSONL, a blank line (skipped, not a row)."""

    cells: dict[str, Cell] | None = None
    line: bytes | None = None  # JSONL: a line that is not a JSON object
    fields: tuple[str, ...] | None = None  # CSV: a line with the wrong number of fields
    blank: bool = False
    extra: dict[str, Any] | None = None  # JSONL: keys that are not columns


@dataclass
class Expect:
    rows: int
    bad: dict[int, set[str]]  # invalid row -> the fields that make it invalid
    kept: list[tuple[str, str, str, int]]  # (account, action, target, ts ms)
    event_ids: list[str] | None  # None: no event_id column
    texts: list[str | None] | None  # None: no text column
    duplicates: int
    missing_columns: list[str]  # read_events must raise InvalidInput naming these


# --------------------------------------------------------------------------- cells


def _not_blank(s: str) -> bool:
    return s.strip(ASCII_WS) != ""


def _alphabet(fmt: str) -> st.SearchStrategy[str]:
    # no surrogates (not UTF-8) and no NUL; in CSV no line breaks either (a quoted line
    # break joins two physical lines into one row, and row numbers then shift)
    extra = "\n\r" if fmt == "csv" else ""
    return st.characters(codec="utf-8", exclude_characters="\x00" + extra)


BAD_UTF8 = [b"\xff", b"\xfe", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xf8\x88"]


@st.composite
def _insert(draw: Any, base: st.SearchStrategy[str], piece: str) -> str:
    s: str = draw(base)
    i = draw(st.integers(0, len(s)))
    return s[:i] + piece + s[i:]


@st.composite
def _bad_utf8(draw: Any, base: st.SearchStrategy[str]) -> bytes:
    s: str = draw(base)
    i = draw(st.integers(0, len(s)))
    out: bytes = s[:i].encode() + draw(st.sampled_from(BAD_UTF8)) + s[i:].encode()
    try:
        out.decode("utf-8")
    except UnicodeDecodeError:
        return out
    raise AssertionError(out)  # pragma: no cover


def _nested(depth: int, as_list: bool) -> Any:
    v: Any = "x"
    for _ in range(depth):
        v = [v] if as_list else {"k": v}
    return v


NESTED = st.builds(_nested, st.integers(1, 40), st.booleans())
#: Escaped lone surrogates: valid JSON syntax, not Unicode text.
LONE_SURROGATE = st.sampled_from(["\ud800", "a\udfff", "\udc80b", "x\ud83d"])
#: Valid ids at the byte limit (one per UTF-8 width) and with odd but valid characters.
EDGE_IDS = ["a" * 512, "é" * 256, "€" * 170 + "ab", "𝄞" * 128, "\u3000", "\x85", "\ufeff"]
OVERSIZE_IDS = ["a" * 513, "é" * 257, "€" * 171, "𝄞" * 129, " " * 600 + "a"]
EDGE_TEXTS = ["x" * MAX_TEXT_BYTES, "é" * (MAX_TEXT_BYTES // 2), "𝄞" * (MAX_TEXT_BYTES // 4)]
OVERSIZE_TEXTS = ["x" * (MAX_TEXT_BYTES + 1), "é" * (MAX_TEXT_BYTES // 2 + 1), "\x85" * 40_000]
assert all(len(s.encode()) <= MAX_ID_BYTES for s in EDGE_IDS)
assert all(len(s.encode()) > MAX_ID_BYTES for s in OVERSIZE_IDS)
assert all(len(s.encode()) <= MAX_TEXT_BYTES for s in EDGE_TEXTS)
assert all(len(s.encode()) > MAX_TEXT_BYTES for s in OVERSIZE_TEXTS)


def _ok(v: str) -> Cell:
    return Cell(v, v, True)


def _bad(raw: Any) -> Cell:
    return Cell(raw, None, False)


def valid_id(fmt: str, pool: list[str]) -> st.SearchStrategy[Cell]:
    text = st.text(_alphabet(fmt), min_size=1, max_size=12).filter(_not_blank)
    opts = [st.sampled_from(pool).map(_ok), text.map(_ok), st.sampled_from(EDGE_IDS).map(_ok)]
    if fmt == "jsonl":  # numbers are ids too, as their text
        opts.append(st.integers(-(10**20), 10**20).map(lambda v: Cell(v, str(v), True)))
        opts.append(st.floats().map(lambda v: Cell(v, str(v), True)))
    return st.one_of(opts)


def invalid_id(fmt: str) -> st.SearchStrategy[Cell]:
    blanks = [" ", "\t", " \t ", "\x0b", "\x0c"] + ([] if fmt == "csv" else ["\n", " \r\n"])
    text = st.text(_alphabet(fmt), max_size=8)
    opts = [
        st.sampled_from(["", *blanks]).map(_bad),
        _insert(text, "\x00").map(_bad),
        st.sampled_from(OVERSIZE_IDS).map(_bad),
    ]
    if fmt in ("csv", "parquet"):
        opts.append(_bad_utf8(text).map(_bad))
    if fmt == "parquet":
        opts.append(st.just(_bad(None)))
    if fmt == "jsonl":
        opts += [
            st.sampled_from([ABSENT, None, True, False]).map(_bad),
            NESTED.map(_bad),
            LONE_SURROGATE.map(_bad),
        ]
    return st.one_of(opts)


def valid_text(fmt: str) -> st.SearchStrategy[Cell]:
    opts = [
        st.text(_alphabet(fmt), max_size=16).map(_ok),
        st.sampled_from(EDGE_TEXTS).map(_ok),
    ]
    if fmt in ("jsonl", "parquet"):
        opts.append(st.just(Cell(None, None, True)))
    if fmt == "jsonl":
        opts.append(st.just(Cell(ABSENT, None, True)))
        opts.append(st.integers(-(10**6), 10**6).map(lambda v: Cell(v, str(v), True)))
    return st.one_of(opts)


def invalid_text(fmt: str) -> st.SearchStrategy[Cell]:
    text = st.text(_alphabet(fmt), max_size=8)
    opts = [_insert(text, "\x00").map(_bad), st.sampled_from(OVERSIZE_TEXTS).map(_bad)]
    if fmt in ("csv", "parquet"):
        opts.append(_bad_utf8(text).map(_bad))
    if fmt == "jsonl":
        opts += [st.booleans().map(_bad), NESTED.map(_bad), LONE_SURROGATE.map(_bad)]
    return st.one_of(opts)


# ----------------------------------------------------------------------- timestamps

VALID_MS = st.one_of(
    st.integers(MIN_TS_MS, MAX_TS_MS - 1),
    st.integers(MIN_S, MAX_S - 1).map(lambda s: s * 1000),
    st.sampled_from([MIN_TS_MS, MAX_TS_MS - 1, MAX_TS_MS - 1000, 1_767_225_600_000]),
)


def _iso(ms: int, offset_min: int | None, sep: str, zulu: bool) -> str:
    instant = EPOCH + timedelta(milliseconds=ms)
    spec = "milliseconds" if ms % 1000 else "seconds"
    if offset_min is None:  # naive: the wall clock of UTC, without a zone
        return instant.replace(tzinfo=None).isoformat(sep=sep, timespec=spec)
    s = instant.astimezone(timezone(timedelta(minutes=offset_min))).isoformat(sep, spec)
    return s[:-6] + "Z" if zulu and offset_min == 0 else s


@st.composite
def valid_ts_text(draw: Any) -> tuple[str, int]:
    ms = draw(VALID_MS)
    style = draw(st.sampled_from(["s", "ms", "frac", "exp", "iso", "iso", "plus", "zeros"]))
    if style == "s" and ms % 1000 == 0:
        return str(ms // 1000), ms
    if style == "frac":  # seconds with three decimals
        return f"{ms // 1000}.{ms % 1000:03d}", ms
    if style == "exp":  # seconds in scientific notation, 13 significant digits
        return f"{ms / 1000:.12e}", ms
    if style == "iso":
        offset = draw(st.one_of(st.just(0), st.integers(-(23 * 60 + 59), 23 * 60 + 59)))
        return _iso(ms, offset, draw(st.sampled_from("T ")), draw(st.booleans())), ms
    if style == "plus":
        return f"+{ms}", ms
    if style == "zeros":
        return "000" + str(ms), ms
    return str(ms), ms


#: Numbers outside the accepted range, as seconds or as milliseconds.
BAD_NUMBERS = st.one_of(
    st.integers(-(MS_FROM - 1), MIN_S - 1),
    st.integers(MAX_S, MS_FROM - 1),
    st.integers(MS_FROM, MIN_TS_MS - 1),
    st.integers(MAX_TS_MS, 10**18),
    st.integers(10**18, 10**60),
    st.integers(-(10**40), -MS_FROM),
)
#: The same, within int64 (Parquet integer columns).
BAD_INT64 = st.one_of(
    st.integers(-(MS_FROM - 1), MIN_S - 1),
    st.integers(MAX_S, MS_FROM - 1),
    st.integers(MS_FROM, MIN_TS_MS - 1),
    st.integers(MAX_TS_MS, 2**63 - 1),
    st.integers(-(2**63), -MS_FROM),
)
BAD_TS_WORDS = [
    "",
    " ",
    "yesterday",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "1e400",
    "-1e400",
    "1e-400",
    "0",
    "-0",
    "0x6953b100",
    "1,767,225,600",
    "1_767_225_600",
    "2026-13-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-01-01T25:00:00Z",
    "2026-01-01T00:00:00+24:00",
    "2026-01-01T00:00:00 UTC",
    "2026-01-01",  # a date has no zone
    "T",
    "Z",
    "+",
    ".",
    "e5",
    "9" * 400,
]
OUT_OF_RANGE_DT = st.one_of(
    st.datetimes(datetime(1, 1, 2), datetime(1989, 12, 30)),
    st.datetimes(datetime(2100, 1, 2), datetime(9999, 12, 30)),
)


@st.composite
def _iso_out_of_range(draw: Any) -> str:
    dt: datetime = draw(OUT_OF_RANGE_DT).replace(microsecond=0)
    offset = draw(st.integers(-(23 * 60 + 59), 23 * 60 + 59))
    return dt.replace(tzinfo=timezone(timedelta(minutes=offset))).isoformat()


@st.composite
def _naive_iso(draw: Any) -> str:
    return _iso(draw(VALID_MS), None, draw(st.sampled_from("T ")), False)


def valid_ts(fmt: str, kind: str) -> st.SearchStrategy[Cell]:
    """Valid timestamps; ``kind`` is the Parquet column type (``text`` elsewhere)."""
    text = valid_ts_text().map(lambda p: Cell(p[0], p[1], True))
    seconds = st.integers(MIN_S, MAX_S - 1)
    if kind == "int64":
        return st.one_of(
            seconds.map(lambda s: Cell(s, s * 1000, True)),
            VALID_MS.map(lambda ms: Cell(ms, ms, True)),
        )
    if kind == "float64":
        return st.one_of(
            st.tuples(seconds, st.integers(0, 3)).map(
                lambda p: Cell(p[0] + p[1] / 4, p[0] * 1000 + 250 * p[1], True)
            ),
            VALID_MS.map(lambda ms: Cell(float(ms), ms, True)),
        )
    if kind == "ts_ms":
        return VALID_MS.map(lambda ms: Cell(ms, ms, True))
    if fmt == "jsonl":  # numbers and strings
        return st.one_of(text, valid_ts("parquet", "int64"), valid_ts("parquet", "float64"))
    return text


def invalid_ts(fmt: str, kind: str) -> st.SearchStrategy[Cell]:
    if kind == "int64":
        return st.one_of(
            st.just(_bad(None)),
            BAD_INT64.map(_bad),
            st.sampled_from([-(2**63), 2**63 - 1, 0, -1]).map(_bad),
        )
    if kind == "float64":
        specials = [float("nan"), float("inf"), float("-inf"), 1e300, -1e300, -0.0]
        return st.one_of(
            st.just(_bad(None)),
            st.sampled_from(specials).map(_bad),
            BAD_NUMBERS.map(lambda v: _bad(float(v))),
        )
    if kind == "ts_ms":
        return st.one_of(
            st.just(_bad(None)),
            st.integers(-(2**63) + 1, MIN_TS_MS - 1).map(_bad),
            st.integers(MAX_TS_MS, 2**63 - 1).map(_bad),
        )
    text = valid_ts_text().map(lambda p: p[0])
    opts = [
        st.sampled_from(BAD_TS_WORDS).map(_bad),
        BAD_NUMBERS.map(lambda v: _bad(str(v))),
        _iso_out_of_range().map(_bad),
        _naive_iso().map(_bad),
        _insert(text, "\x00").map(_bad),
        st.text(st.sampled_from(string.ascii_letters), min_size=1).map(lambda s: _bad("q" + s)),
    ]
    if fmt in ("csv", "parquet"):
        opts.append(_bad_utf8(text).map(_bad))
    if fmt == "parquet":
        opts.append(st.just(_bad(None)))
    if fmt == "jsonl":
        opts += [
            st.sampled_from([ABSENT, None, True, False]).map(_bad),
            NESTED.map(_bad),
            BAD_NUMBERS.map(_bad),
            BAD_NUMBERS.map(lambda v: _bad(float(v))),
            st.sampled_from([float("nan"), float("inf"), float("-inf")]).map(_bad),
        ]
    return st.one_of(opts)


# ----------------------------------------------------------------------- rows


ACCOUNTS = ["a1", "a2", "acc é", "𝄞"]
ACTIONS = ["stream", "like", "share"]
TARGETS = ["t1", "t2", "https://example.org/x?y=1"]
EVENT_IDS = ["e1", "e2", "e3", "E1", "e1 ", "é1"]
POOLS = {"account_id": ACCOUNTS, "action": ACTIONS, "target": TARGETS, "event_id": EVENT_IDS}


def _cell(fmt: str, column: str, ts_kind: str, good: bool) -> st.SearchStrategy[Cell]:
    if column == "timestamp":
        return valid_ts(fmt, ts_kind) if good else invalid_ts(fmt, ts_kind)
    if column == "text":
        return valid_text(fmt) if good else invalid_text(fmt)
    return valid_id(fmt, POOLS[column]) if good else invalid_id(fmt)


@st.composite
def row(draw: Any, fmt: str, ts_kind: str = "text") -> Rec:
    """A row whose cells are all valid, or with one or more invalid cells."""
    bad: set[str] = set()
    if draw(st.booleans()):
        bad = draw(st.sets(st.sampled_from(KNOWN_COLUMNS), min_size=1, max_size=3))
    cells = {c: draw(_cell(fmt, c, ts_kind, c not in bad)) for c in KNOWN_COLUMNS}
    return Rec(cells=cells)


@st.composite
def columns(draw: Any, fmt: str) -> tuple[str, ...]:
    optional = [c for c in ("event_id", "text") if draw(st.booleans())]
    required = list(REQUIRED_COLUMNS)
    if draw(st.integers(0, 24)) == 0:  # rarely: a required column is missing
        required.remove(draw(st.sampled_from(REQUIRED_COLUMNS)))
    cols = required + optional + (["lang"] if draw(st.booleans()) else [])
    return tuple(draw(st.permutations(cols)))


# ------------------------------------------------------------------ the reference


def _nested_value(v: Any) -> bool:
    return isinstance(v, (dict, list, bool))


def expect(fmt: str, cols: tuple[str, ...], recs: list[Rec]) -> Expect:
    """What ``read_events`` must report, computed from the cells' own verdicts."""
    table: list[tuple[int, dict[str, Cell]]] = []
    bad: dict[int, set[str]] = {}
    number = 0
    for rec in recs:
        if fmt == "jsonl":
            number += 1  # JSONL rows are line numbers (blank lines count)
        if rec.blank:
            continue
        if fmt != "jsonl":
            number += 1
        if rec.line is not None or rec.fields is not None:
            bad[number] = {"<row>"}
            continue
        assert rec.cells is not None
        cells = {c: v for c, v in rec.cells.items() if c in cols}
        if fmt == "jsonl":  # a key left out is a column missing from this row only
            cells = {c: v for c, v in cells.items() if v.raw is not ABSENT}
            nested = {c for c, v in cells.items() if _nested_value(v.raw)}
            if nested:  # rejected by the JSONL parser, before the columns are known
                bad[number] = nested
                continue
        table.append((number, cells))
    if fmt == "jsonl":
        present = {c for _, cells in table for c in cells}
        rows = len(recs) - sum(r.blank for r in recs)
    else:
        present = set(cols)
        rows = number
    missing = [c for c in REQUIRED_COLUMNS if c not in present]
    if fmt == "jsonl" and not table:
        missing = []  # no object was read: the columns are not checked
    if missing:
        return Expect(rows, bad, [], None, None, 0, missing)
    known = [c for c in KNOWN_COLUMNS if c in present]
    kept: list[tuple[str, str, str, int]] = []
    ids: list[str] = []
    texts: list[str | None] = []
    seen: set[str] = set()
    duplicates = 0
    for number, cells in table:
        fields = set()
        for c in known:
            cell = cells.get(c, Cell(ABSENT, None, c == "text"))
            if not cell.ok:
                fields.add(c)
        if fields:
            bad[number] = fields
            continue
        if "event_id" in present:
            eid = cells["event_id"].value
            if eid in seen:
                duplicates += 1
                continue
            seen.add(eid)
            ids.append(eid)
        kept.append(
            (
                cells["account_id"].value,
                cells["action"].value,
                cells["target"].value,
                cells["timestamp"].value,
            )
        )
        if "text" in present:
            texts.append(cells["text"].value if "text" in cells else None)
    return Expect(
        rows=rows,
        bad=bad,
        kept=kept,
        event_ids=ids if "event_id" in present else None,
        texts=texts if "text" in present else None,
        duplicates=duplicates,
        missing_columns=missing,
    )


# ----------------------------------------------------------------------- writers


def _quote(v: Any) -> bytes:
    b = v if isinstance(v, bytes) else str(v).encode("utf-8")
    return b'"' + b.replace(b'"', b'""') + b'"'


def write_csv(path: Path, cols: tuple[str, ...], recs: list[Rec], eol: bytes) -> None:
    sep = b"\t" if ".tsv" in path.suffixes else b","
    lines = [sep.join(c.encode() for c in cols)]
    for rec in recs:
        if rec.fields is not None:
            lines.append(sep.join(_quote(f) for f in rec.fields))
        else:
            assert rec.cells is not None
            lines.append(sep.join(_quote(rec.cells[c].raw if c != "lang" else "en") for c in cols))
    path.write_bytes(eol.join(lines) + eol)


def _json_line(obj: Any, ascii_only: bool) -> bytes:
    text = json.dumps(obj, ensure_ascii=ascii_only)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: write it escaped
        return json.dumps(obj, ensure_ascii=True).encode("utf-8")


def write_jsonl(
    path: Path, cols: tuple[str, ...], recs: list[Rec], eol: bytes, ascii_only: bool
) -> None:
    lines = []
    for rec in recs:
        if rec.blank:
            lines.append(b" \t")
        elif rec.line is not None:
            lines.append(rec.line)
        else:
            assert rec.cells is not None
            obj = {c: v.raw for c, v in rec.cells.items() if c in cols and v.raw is not ABSENT}
            obj.update(rec.extra or {})
            lines.append(_json_line(obj, ascii_only))
    path.write_bytes(eol.join(lines) + eol)


def _parquet_column(values: list[Any], kind: str, binary: bool) -> pa.Array:
    if kind == "int64":
        return pa.array(values, pa.int64())
    if kind == "float64":
        return pa.array(values, pa.float64())
    if kind == "ts_ms":
        return pa.array(values, pa.timestamp("ms", tz="UTC"))
    if binary or any(isinstance(v, bytes) for v in values):
        return pa.array([v.encode() if isinstance(v, str) else v for v in values], pa.binary())
    return pa.array(values, pa.string())


def write_parquet(
    path: Path,
    cols: tuple[str, ...],
    recs: list[Rec],
    ts_kind: str,
    binary: frozenset[str],
    row_group: int,
) -> None:
    data: dict[str, pa.Array] = {}
    for c in cols:
        if c == "lang":
            data[c] = pa.array([["en"]] * len(recs), pa.list_(pa.string()))
            continue
        values = [None if r.cells[c].raw is ABSENT else r.cells[c].raw for r in recs if r.cells]
        data[c] = _parquet_column(values, ts_kind if c == "timestamp" else "text", c in binary)
    pq.write_table(pa.table(data), path, row_group_size=max(1, row_group))


# ------------------------------------------------------------------------ checks


@contextmanager
def scratch() -> Iterator[Path]:
    """A fresh directory per example (the function-scoped ``tmp_path`` is shared by all
    examples of a test)."""
    with tempfile.TemporaryDirectory(prefix="cib-fuzz-") as d:
        yield Path(d)


def read_or_invalid(path: Path, **kw: Any) -> tuple[EventTable, InputInfo] | InvalidInput:
    """The result, or the InvalidInput raised; any other exception propagates (a bug)."""
    try:
        return read_events(path, **kw)
    except InvalidInput as exc:
        return exc


def decoded(events: EventTable) -> list[tuple[str, str, str, int]]:
    return [
        (events.accounts[a], events.actions[c], events.targets[t], int(ts))
        for a, c, t, ts in zip(
            events.account.tolist(),
            events.action.tolist(),
            events.target.tolist(),
            events.ts.tolist(),
            strict=True,
        )
    ]


def check(path: Path, exp: Expect, *, fmt: str | None, keep_event_ids: bool) -> None:
    got = read_or_invalid(path, fmt=fmt, keep_event_ids=keep_event_ids)
    if exp.missing_columns:
        assert isinstance(got, InvalidInput), f"missing {exp.missing_columns}, read anyway"
        assert {(v.field, v.row) for v in got.violations} == {
            (c, None) for c in exp.missing_columns
        }
        strict = read_or_invalid(path, fmt=fmt, strict=True)
        assert isinstance(strict, InvalidInput)
        return
    assert not isinstance(got, InvalidInput), f"unexpected InvalidInput: {got.message}"
    events, info = got
    examples = [(v.row, v.field, v.reason) for v in info.rejects.examples]
    for row_no, field, reason in examples:
        assert row_no is not None and row_no >= 1, (row_no, field, reason)
        assert field in NAMED_FIELDS, (row_no, field, reason)
        assert field in exp.bad.get(row_no, set()), (
            f"row {row_no} rejected for {field} ({reason}); expected {exp.bad.get(row_no)}"
        )
    assert {r for r, _, _ in examples} == set(exp.bad), examples
    assert info.rejected == len(exp.bad), (info.rejected, exp.bad, examples)
    assert info.rows == exp.rows
    assert info.duplicates == exp.duplicates
    assert info.accepted == events.n == len(exp.kept)
    assert decoded(events) == exp.kept
    if exp.event_ids is None or not keep_event_ids:
        assert events.event_id is None
    else:
        assert events.event_id.to_pylist() == exp.event_ids
    if exp.texts is None:
        assert events.text is None
    else:
        assert events.text.to_pylist() == exp.texts

    strict = read_or_invalid(path, fmt=fmt, strict=True, keep_event_ids=keep_event_ids)
    if not exp.bad:
        assert not isinstance(strict, InvalidInput), strict.message
        assert decoded(strict[0]) == exp.kept
        return
    assert isinstance(strict, InvalidInput), "strict read of a file with invalid rows"
    assert strict.violations
    for v in strict.violations:
        assert v.row is not None and v.field in exp.bad.get(v.row, set()), v
    assert min(exp.bad) in {v.row for v in strict.violations}
    assert f"row {min(exp.bad)}" in strict.message


def _path(d: Path, fmt: str, explicit: bool, tsv: bool = False) -> Path:
    """``events.<fmt>``, or ``events.dat`` when the format is passed explicitly."""
    suffix = ".dat" if explicit else {"csv": ".tsv" if tsv else ".csv"}.get(fmt, f".{fmt}")
    return d / ("events" + suffix)


def _gzipped(plain: Path) -> Path:
    path = plain.with_name(plain.name + ".gz")
    path.write_bytes(gzip.compress(plain.read_bytes(), mtime=0))
    return path


# --------------------------------------------------------------------------- CSV


@st.composite
def csv_line(draw: Any, ncols: int) -> Rec:
    """A line with the wrong number of fields (truncated, or with extra fields)."""
    k = draw(st.integers(1, 2 * ncols + 1).filter(lambda k: k != ncols))
    cells = draw(st.lists(st.text(_alphabet("csv"), max_size=6), min_size=k, max_size=k))
    return Rec(fields=tuple(cells))


@given(data=st.data())
@_settings(250)
def test_csv_rows(data: st.DataObject) -> None:
    cols = data.draw(columns("csv"), "columns")
    recs = data.draw(
        st.lists(st.one_of(row("csv"), row("csv"), csv_line(len(cols))), max_size=24), "rows"
    )
    explicit, gz, tsv = data.draw(st.tuples(st.booleans(), st.booleans(), st.booleans()))
    eol = data.draw(st.sampled_from([b"\n", b"\r\n"]))
    keep = data.draw(st.booleans(), "keep_event_ids")
    with scratch() as d:
        plain = _path(d, "csv", explicit, tsv=tsv and not explicit)
        write_csv(plain, cols, recs, eol)
        path = _gzipped(plain) if gz else plain
        check(path, expect("csv", cols, recs), fmt="csv" if explicit else None, keep_event_ids=keep)


# --------------------------------------------------------------------------- JSONL

_GOOD_OBJECT = {"account_id": "a", "action": "s", "target": "t", "timestamp": 1_767_225_600}


@st.composite
def jsonl_line(draw: Any) -> Rec:
    """A line that is not a JSON object: truncated, not UTF-8, NUL bytes, other JSON."""
    obj = dict(_GOOD_OBJECT, account_id=draw(st.text(_alphabet("jsonl"), max_size=6)))
    full = _json_line(obj, draw(st.booleans()))
    how = draw(st.sampled_from(["truncate", "utf8", "nul", "json", "junk"]))
    if how == "truncate":
        return Rec(line=full[: draw(st.integers(1, len(full) - 1))])
    if how in ("utf8", "nul"):
        i = draw(st.integers(0, len(full)))
        piece = draw(st.sampled_from(BAD_UTF8)) if how == "utf8" else b"\x00"
        return Rec(line=full[:i] + piece + full[i:])
    if how == "json":
        other = draw(st.sampled_from(["[1, 2]", '"s"', "1", "null", "true", "[]", "[{}]"]))
        return Rec(line=other.encode())
    junk = draw(st.binary(max_size=40).filter(lambda b: b"\n" not in b and b"\r" not in b))
    return Rec(line=b"#" + junk)


JSON_EXTRA = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=8,
)


@st.composite
def jsonl_row(draw: Any) -> Rec:
    rec = draw(row("jsonl"))
    extra = draw(st.dictionaries(st.sampled_from(["lang", "meta", "Account_ID"]), JSON_EXTRA))
    return Rec(cells=rec.cells, extra=extra)


@given(data=st.data())
@_settings(250)
def test_jsonl_rows(data: st.DataObject) -> None:
    cols = data.draw(columns("jsonl"), "columns")
    rec = st.one_of(jsonl_row(), jsonl_row(), jsonl_line(), st.just(Rec(blank=True)))
    recs = data.draw(st.lists(rec, max_size=24), "rows")
    explicit, gz, ascii_only = data.draw(st.tuples(st.booleans(), st.booleans(), st.booleans()))
    eol = data.draw(st.sampled_from([b"\n", b"\r\n"]))
    keep = data.draw(st.booleans(), "keep_event_ids")
    with scratch() as d:
        plain = _path(d, "jsonl", explicit)
        write_jsonl(plain, cols, recs, eol, ascii_only)
        path = _gzipped(plain) if gz else plain
        check(
            path,
            expect("jsonl", cols, recs),
            fmt="jsonl" if explicit else None,
            keep_event_ids=keep,
        )


# ------------------------------------------------------------------------- Parquet


@given(data=st.data())
@_settings(250)
def test_parquet_rows(data: st.DataObject) -> None:
    cols = data.draw(columns("parquet"), "columns")
    ts_kind = data.draw(st.sampled_from(["text", "int64", "float64", "ts_ms"]), "ts_kind")
    recs = data.draw(st.lists(row("parquet", ts_kind), max_size=24), "rows")
    binary = data.draw(st.frozensets(st.sampled_from((*ID_COLUMNS, "text", "timestamp"))))
    row_group = data.draw(st.integers(1, 8), "row_group_size")
    keep = data.draw(st.booleans(), "keep_event_ids")
    with scratch() as d:
        path = _path(d, "parquet", explicit=False)
        write_parquet(path, cols, recs, ts_kind, binary, row_group)
        check(path, expect("parquet", cols, recs), fmt=None, keep_event_ids=keep)


# ------------------------------------------------------- crash-only properties


def _never_crashes(path: Path, **kw: Any) -> InputInfo | None:
    """Read with and without strict; return the non-strict info (None: InvalidInput)."""
    for strict in (True, False):
        got = read_or_invalid(path, strict=strict, **kw)
        if isinstance(got, InvalidInput):
            assert isinstance(got.message, str)
            for v in got.violations:
                assert v.field in NAMED_FIELDS, v
            continue
        events, info = got
        assert info.rows == info.accepted + info.rejected + info.duplicates
        assert events.n == info.accepted
        for v in info.rejects.examples:
            assert v.row is not None and v.row >= 1 and v.field in NAMED_FIELDS, v
        if not strict:
            return info
    return None


_HEADER = {"csv": b"event_id,account_id,action,target,timestamp,text", "jsonl": b""}
_GOOD_LINE = {
    "csv": b'e1,a1,stream,t1,1767225600,"hi, there"',
    "jsonl": json.dumps(dict(_GOOD_OBJECT, event_id="e1", text="hi")).encode(),
}


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
@given(data=st.data())
@_settings(120)
def test_text_file_garbage(fmt: str, data: st.DataObject) -> None:
    """Arbitrary bytes: random lines among good ones, then random splices of the file
    (cut anywhere, bytes inserted anywhere: quotes, line breaks, NUL, invalid UTF-8)."""
    junk = st.binary(max_size=60) | st.sampled_from([b'"', b'"a', b"\r", b"\x00", b"\xff{", b"{"])
    lines = data.draw(st.lists(st.just(_GOOD_LINE[fmt]) | junk, max_size=12))
    body = b"\n".join(([_HEADER[fmt]] if fmt == "csv" else []) + lines) + b"\n"
    for _ in range(data.draw(st.integers(0, 3))):
        i = data.draw(st.integers(0, len(body)))
        body = body[:i] + data.draw(junk) + body[i:]
    if data.draw(st.booleans()):
        body = body[: data.draw(st.integers(0, len(body)))]
    with scratch() as d:
        path = d / f"events.{fmt}"
        path.write_bytes(body)
        _never_crashes(path)


@given(
    depth=st.one_of(st.integers(1, 3000), st.sampled_from([999, 1000, 5000, 100_000])),
    as_list=st.booleans(),
    key=st.sampled_from(["account_id", "timestamp", "text", "meta"]),
)
@_settings(40)
def test_jsonl_deeply_nested_values(depth: int, as_list: bool, key: str) -> None:
    """``{"account_id": [[[[...]]]]}`` and nested objects, up to 100,000 levels: the row
    is rejected naming the field or the whole row (or kept, when the key is not a
    column); the good row before it is kept either way."""
    inner = (
        b"[" * depth + b"1" + b"]" * depth if as_list else b'{"k":' * depth + b"1" + b"}" * depth
    )
    good = dict(_GOOD_OBJECT, event_id="e1")
    head = json.dumps({k: v for k, v in dict(good, event_id="e2").items() if k != key})
    line = head[:-1].encode() + b', "' + key.encode() + b'": ' + inner + b"}"
    with scratch() as d:
        path = d / "events.jsonl"
        path.write_bytes(json.dumps(good).encode() + b"\n" + line + b"\n")
        got = read_or_invalid(path)
        assert not isinstance(got, InvalidInput), got.message
        events, info = got
        assert info.rows == 2 and info.accepted + info.rejected == 2
        assert events.accounts == ["a"]
        if key == "meta" and info.rejected == 0:
            return  # not a column: the row may be kept
        assert info.rejected == 1
        assert [(v.row, v.field in (key, "<row>")) for v in info.rejects.examples] == [(2, True)]


# ------------------------------------------------------------------ Parquet schemas

T0 = 1_767_225_600


def _ts_types() -> list[tuple[str, pa.DataType, Callable[[int], Any]]]:
    """(name, type, value of row i) for timestamp columns of every Arrow type."""
    out: list[tuple[str, pa.DataType, Callable[[int], Any]]] = [
        ("int32", pa.int32(), lambda i: T0 + i),
        ("int64", pa.int64(), lambda i: (T0 + i) * 1000),
        ("uint32", pa.uint32(), lambda i: T0 + i),
        ("uint64", pa.uint64(), lambda i: 2**64 - 1 - i),
        ("float32", pa.float32(), lambda i: float(T0 + 128 * i)),
        ("float64", pa.float64(), lambda i: T0 + i / 8),
        ("decimal", pa.decimal128(20, 3), lambda i: T0 + i),
        ("bool", pa.bool_(), lambda i: bool(i % 2)),
        ("date32", pa.date32(), lambda i: i),
        ("string", pa.string(), lambda i: f"{T0 + i}"),
        ("large_string", pa.large_string(), lambda i: f"{T0 + i}"),
        ("string_view", pa.string_view(), lambda i: f"{T0 + i}"),
        ("binary_view", pa.binary_view(), lambda i: f"{T0 + i}".encode()),
        ("list", pa.list_(pa.int64()), lambda i: [T0 + i]),
        ("struct", pa.struct([("s", pa.int64())]), lambda i: {"s": T0 + i}),
        ("null", pa.null(), lambda i: None),
    ]
    for unit, scale in (("ms", 10**3), ("us", 10**6), ("ns", 10**9)):
        for tz in ("UTC", "Asia/Kolkata", None):
            # sub-millisecond parts in us/ns: exact instants, just finer than ms
            out.append((f"ts_{unit}_{tz}", pa.timestamp(unit, tz=tz), _ticks(scale)))
    return out


def _ticks(scale: int) -> Callable[[int], int]:
    return lambda i: T0 * scale + i * 7


def _id_types() -> list[tuple[str, pa.DataType, Callable[[int], Any]]]:
    return [
        ("string", pa.string(), lambda i: f"v{i % 3}"),
        ("large_string", pa.large_string(), lambda i: f"v{i % 3}"),
        ("string_view", pa.string_view(), lambda i: f"v{i % 3}"),
        ("binary", pa.binary(), lambda i: f"v{i % 3}".encode()),
        ("large_binary", pa.large_binary(), lambda i: f"v{i % 3}".encode()),
        ("binary_view", pa.binary_view(), lambda i: f"v{i % 3}".encode()),
        ("dictionary", pa.dictionary(pa.int32(), pa.string()), lambda i: f"v{i % 3}"),
        ("int64", pa.int64(), lambda i: i % 3),
        ("uint8", pa.uint8(), lambda i: i % 3),
        ("float64", pa.float64(), lambda i: (i % 3) / 2),
        ("bool", pa.bool_(), lambda i: i % 2 == 0),
        ("date32", pa.date32(), lambda i: i),
        ("list", pa.list_(pa.string()), lambda i: [f"v{i}"]),
        ("struct", pa.struct([("s", pa.string())]), lambda i: {"s": f"v{i}"}),
        ("null", pa.null(), lambda i: None),
    ]


TS_TYPES = _ts_types()
ID_TYPES = _id_types()


def _unvalidated_string(values: list[bytes | None], typ: pa.DataType) -> pa.Array:
    """A string-typed array holding arbitrary bytes (Arrow does not validate a view), as
    a Parquet file written by another tool may."""
    large = typ in (pa.large_string(), pa.large_binary())
    raw = pa.array(values, pa.large_binary() if large else pa.binary())
    return raw.view(pa.large_string() if large else pa.string())


@given(data=st.data())
@_settings(150)
def test_parquet_column_types(data: st.DataObject) -> None:
    """Every column of any Arrow type Parquet stores (ids as numbers, dictionaries,
    large/view strings, nested types; timestamps as integers of any width, floats,
    decimals, dates, timestamps of any unit and zone, strings), some with invalid UTF-8
    inside string-typed columns. Never a crash; bad UTF-8 rows are rejected."""
    n = data.draw(st.integers(1, 6), "rows")
    table: dict[str, pa.Array] = {}
    bad_rows: set[int] = set()
    for c in KNOWN_COLUMNS:
        if c in ("event_id", "text") and not data.draw(st.booleans()):
            continue
        types = TS_TYPES if c == "timestamp" else ID_TYPES
        _name, typ, value = data.draw(st.sampled_from(types), c)
        values = [value(i) for i in range(n)]
        table[c] = pa.array(values, typ)
        utf8_typed = pa.types.is_string(typ) or pa.types.is_large_string(typ)
        if utf8_typed and data.draw(st.booleans(), f"{c} invalid UTF-8"):
            rows = data.draw(st.sets(st.integers(0, n - 1), min_size=1), f"{c} bad rows")
            raw: list[bytes | None] = [
                b"\xff" + str(v).encode() if i in rows else str(v).encode()
                for i, v in enumerate(values)
            ]
            table[c] = _unvalidated_string(raw, typ)
            bad_rows |= {i + 1 for i in rows}
    with scratch() as d:
        path = d / "events.parquet"
        pq.write_table(pa.table(table), path, row_group_size=data.draw(st.integers(1, 4)))
        info = _never_crashes(path)
        if info is not None:
            assert bad_rows <= {v.row for v in info.rejects.examples}


PARQUET_BYTES = small_parquet_bytes()


@given(
    flips=st.lists(
        st.tuples(st.integers(0, len(PARQUET_BYTES) - 1), st.integers(0, 255)),
        min_size=1,
        max_size=8,
    ),
    cut=st.none() | st.integers(0, len(PARQUET_BYTES)),
)
@_settings(100)
def test_parquet_corrupted_bytes(flips: list[tuple[int, int]], cut: int | None) -> None:
    """A valid Parquet file with bytes overwritten (and maybe cut short)."""
    body = bytearray(PARQUET_BYTES)
    for i, v in flips:
        body[i] = v
    with scratch() as d:
        path = d / "events.parquet"
        path.write_bytes(bytes(body[:cut] if cut is not None else body))
        _never_crashes(path)
