"""Inputs of ``cib-detect network``: the toolkit's own CSV layout, our event files, and
CooRTweet's columns.

**coordination-network-toolkit CSV** (``--layout cnt``): the file its ``preprocess``
command reads (``preprocess.py:13-46``). Columns are positional, the header row is
skipped whatever it says: ``message_id, user_id, username, repost_id, reply_id,
message, timestamp, urls``. It is parsed exactly as the toolkit's ``csv.reader`` over a
UTF-8 text file opened with universal newlines: ``\\r\\n`` and lone ``\\r`` become
``\\n`` (also inside quoted fields), excel dialect, quoted fields may span lines. The
parse runs in Arrow; a property test holds it to CPython's ``csv`` module. Where the
toolkit crashes we stop with an error: a row without exactly 8 fields (a blank line
included), invalid UTF-8, a field over 131,072 characters, a ``timestamp`` Python's
``float()`` rejects, an empty file.

**Events** (``--layout events``): ``account_id, action, target, timestamp`` and optional
``event_id``, ``text`` (see the README). Read with :func:`cib_detect.io.read_events`.

**CooRTweet** (``--profile coortweet``): ``account_id``, ``object_id`` (or ``target``),
``content_id`` (or ``event_id``, else the row number) and ``timestamp_share`` (or
``timestamp``), validated like event files (bad rows named and skipped).
"""

from __future__ import annotations

import csv
import mmap
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from cib_detect.errors import FieldViolation, InvalidInput, RejectReport

# Nothing here imports Numba at module level (``cib_detect.io`` does): the toolkit CSV is
# parsed while another thread imports Numba and loads the kernels.

F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]

#: The toolkit's CSV columns, in order (``preprocess.py:93``).
CNT_COLUMNS = (
    "message_id",
    "user_id",
    "username",
    "repost_id",
    "reply_id",
    "message",
    "timestamp",
    "urls",
)
#: CPython's ``csv.field_size_limit()`` default: longer fields make ``csv.reader`` raise.
CSV_FIELD_LIMIT = 131_072
#: Decimal numbers Arrow parses exactly as Python's ``float()`` (both correctly rounded).
_PLAIN_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
LAYOUTS = ("auto", "events", "cnt")
EVENT_COLUMNS = ("account_id", "action", "target", "timestamp")


def detect_layout(path: Path, layout: str) -> str:
    """``events`` or ``cnt``: ``auto`` picks ``events`` when the file is not CSV or its
    header names our event columns, ``cnt`` otherwise."""
    if layout not in LAYOUTS:
        raise InvalidInput(f"unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    if layout != "auto":
        return layout
    suffixes = {s.lower() for s in path.suffixes}
    if suffixes & {".jsonl", ".ndjson", ".json", ".parquet", ".pq"}:
        return "events"
    with path.open("rb") as fh:
        head = fh.read(1 << 16).decode("utf-8", errors="replace")
    first = head.splitlines()[0] if head else ""
    names = {n.strip().lstrip("\ufeff") for n in next(csv.reader([first]), [])}
    return "events" if all(c in names for c in EVENT_COLUMNS) else "cnt"


_LINE_END = re.compile(rb"\r\n|\r|\n")
_CR = re.compile(rb"\r")


def _header_end(data: bytes | pa.Buffer) -> int:
    """Byte offset just past the first CSV record, as ``next(csv.reader(file))`` reads
    it from a text-mode file (universal newlines)."""
    view = memoryview(data)
    pos = 0

    def lines() -> Iterator[str]:
        nonlocal pos
        while pos < len(view):
            chunk = bytes(view[pos : pos + (1 << 16)])
            m = _LINE_END.search(chunk)
            while m is None and pos + len(chunk) < len(view):
                chunk = bytes(view[pos : pos + 2 * len(chunk)])
                m = _LINE_END.search(chunk)
            if m is None:
                line, pos = chunk, len(view)
            else:
                # a \r at the chunk's end may be the first half of \r\n
                if m.group() == b"\r" and m.end() == len(chunk) and pos + len(chunk) < len(view):
                    chunk = bytes(view[pos : pos + len(chunk) + 1])
                    m = _LINE_END.search(chunk)
                    assert m is not None
                line, pos = chunk[: m.start()] + b"\n", pos + m.end()
            yield line.decode("utf-8")

    try:
        next(csv.reader(lines()))
    except StopIteration:
        raise InvalidInput("the file is empty: the toolkit needs a header row") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"header row: not valid UTF-8 ({exc.reason})") from None
    except csv.Error as exc:
        raise InvalidInput(f"header row: {exc}") from None
    return pos


def _parse_cnt(source: pa.Buffer) -> pa.Table:
    bad: list[str] = []

    def on_invalid(row: Any) -> str:
        bad.append(f"expected 8 fields, found {row.actual_columns}: {str(row.text)[:60]!r}")
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.BufferReader(source),
            read_options=pacsv.ReadOptions(
                column_names=list(CNT_COLUMNS), block_size=1 << 30, use_threads=False
            ),
            parse_options=pacsv.ParseOptions(
                newlines_in_values=True, ignore_empty_lines=False, invalid_row_handler=on_invalid
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in CNT_COLUMNS},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise InvalidInput(str(exc)) from None
    if bad:
        raise InvalidInput(
            f"{len(bad)} row(s) without exactly 8 fields (the toolkit stops there); first: "
            + "; ".join(bad[:3])
        )
    return table


def read_cnt_table(path: Path) -> pa.Table:
    """The toolkit CSV's data rows as 8 string columns, parsed as the toolkit parses it."""
    try:
        data = pa.memory_map(str(path)).read_buffer()
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot open: {exc}") from exc
    start = _header_end(data)
    if start >= data.size:
        return pa.table({c: pa.array([], pa.string()) for c in CNT_COLUMNS})
    table = _parse_cnt(data.slice(start))
    # Arrow ends lines at \r\n, \r and \n as universal newlines do; only a \r inside a
    # quoted field differs (Python reads it as \n): then translate and parse again.
    if _file_has_cr(path) and any(_has_cr(b) for b in _value_buffers(table)):
        raw = data.to_pybytes().replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        table = _parse_cnt(pa.py_buffer(raw).slice(_header_end(raw)))
    for name in CNT_COLUMNS:
        col = table[name]
        if (pc.max(pc.binary_length(col)).as_py() or 0) > CSV_FIELD_LIMIT:
            too_long = pc.greater(pc.utf8_length(col), CSV_FIELD_LIMIT)
            if pc.any(too_long).as_py():
                raise InvalidInput(
                    f"{name}: a field is longer than {CSV_FIELD_LIMIT} characters "
                    "(Python's csv module, and so the toolkit, stops there)"
                )
    return table


def _file_has_cr(path: Path) -> bool:
    """Whether the file holds a \r anywhere (``mmap.find``: memchr, no copy)."""
    with path.open("rb") as fh:
        try:
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                return mm.find(b"\r") >= 0
        except ValueError:  # empty file
            return False


def _has_cr(buf: pa.Buffer | None) -> bool:
    """Whether an Arrow buffer holds a \r (searched in place)."""
    return buf is not None and _CR.search(memoryview(buf)) is not None


def _value_buffers(table: pa.Table) -> Iterator[pa.Buffer | None]:
    for col in table.columns:
        for chunk in col.chunks:
            yield chunk.buffers()[2]


def string_buffers(arr: pa.Array) -> tuple[npt.NDArray[np.uint8], I64]:
    """(UTF-8 bytes, int64 offsets) of a string array, without copying the bytes:
    ``cib_detect.io.validate.string_buffers``, here without importing ``cib_detect.io``
    (its readers import Parquet, file systems and Numba)."""
    bufs = arr.buffers()
    width = np.int32 if pa.types.is_string(arr.type) else np.int64
    offsets = np.frombuffer(bufs[1], dtype=width)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    return data, offsets.astype(np.int64)


def encode_sorted(arr: pa.Array) -> tuple[npt.NDArray[np.int32], list[str]]:
    """Codes into the bytewise-sorted distinct values: ``cib_detect.io.readers.encode_sorted``
    for one array, here without importing Numba (the reader's package does)."""
    enc = pc.dictionary_encode(arr)
    dictionary = enc.dictionary
    order = np.asarray(pc.sort_indices(dictionary).to_numpy(), dtype=np.int64)
    rank = np.empty(order.size, dtype=np.int32)
    rank[order] = np.arange(order.size, dtype=np.int32)
    codes = rank[np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)]
    values: list[str] = pc.take(dictionary, pa.array(order)).to_pylist()
    return codes, values


def python_floats(col: pa.Array | pa.ChunkedArray, field: str = "timestamp") -> F64:
    """``float(s)`` of every string, as Python computes it; an error names the first row
    Python rejects (1-based data row)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if len(col) == 0:
        return np.zeros(0, dtype=np.float64)
    if (pc.max(pc.binary_length(col)).as_py() or 0) <= 15 and pc.all(
        pc.ascii_is_decimal(col)
    ).as_py():
        # every string is 1 to 15 ASCII digits: exact as int64, and so as float64. In
        # Arrow, without Numba: this runs while the kernels are still being loaded.
        return np.asarray(pc.cast(col, pa.int64()).to_numpy(), dtype=np.float64)
    from cib_detect.kernels.compat import parse_plain_ints

    parsed, done = parse_plain_ints(*string_buffers(col))
    out: F64 = np.asarray(parsed, dtype=np.float64)
    if done.all():
        return out
    plain = ~done & np.asarray(
        pc.match_substring_regex(col, _PLAIN_NUMBER).to_numpy(zero_copy_only=False),
        dtype=np.bool_,
    )
    if plain.any():
        mask = pa.array(plain)
        out[plain] = np.asarray(pc.cast(pc.filter(col, mask), pa.float64()).to_numpy())
    if not (plain | done).all():
        idx = np.flatnonzero(~(plain | done))
        for i, s in zip(idx.tolist(), pc.take(col, pa.array(idx)).to_pylist(), strict=True):
            try:
                out[i] = float(s)
            except ValueError:
                raise InvalidInput(
                    f"data row {i + 1}: {field}: {s[:40]!r} is not a number for Python's "
                    "float() (the toolkit stops there)",
                    violations=[FieldViolation(field, "not a number", row=i + 1)],
                ) from None
    return out


@dataclass
class CoorInput:
    """CooRTweet's input columns in input order (after validation)."""

    account: I32  # codes into ``accounts`` (bytewise sorted)
    accounts: list[str]
    object_code: I64  # code of the object id in the shared id dictionary
    content_code: I64  # code of the content id in the shared id dictionary
    n_ids: int  # size of the shared dictionary of object and content ids
    ts: I64  # epoch milliseconds
    rows: int
    rejected: int
    rejects: RejectReport


def _load_any(path: Path, fmt: str | None) -> pa.Table:
    from cib_detect.io.formats import detect_format

    kind = detect_format(path, fmt)
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path)
        if kind == "jsonl":
            import pyarrow.json as pajson

            return pajson.read_json(path)
        delimiter = "\t" if ".tsv" in [x.lower() for x in path.suffixes] else ","
        return pacsv.read_csv(
            path,
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                strings_can_be_null=False, quoted_strings_can_be_null=False
            ),
            read_options=pacsv.ReadOptions(block_size=1 << 23),
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(f"{path}: cannot read: {exc}") from None


def _pick(table: pa.Table, names: tuple[str, ...]) -> pa.ChunkedArray | None:
    for n in names:
        if n in table.column_names:
            return table[n]
    return None


def _as_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t):
        return col
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return col
    return pc.cast(col, pa.string())


def read_coortweet(
    path: Path, *, fmt: str | None = None, strict: bool = False, actions: list[str] | None = None
) -> CoorInput:
    """Read CooRTweet's columns (or our event columns) and validate every row."""
    from cib_detect.io.formats import SequentialRows
    from cib_detect.io.readers import encode_sorted
    from cib_detect.io.validate import validate

    if not path.exists():
        raise InvalidInput(f"input file not found: {path}")
    table = _load_any(path, fmt)
    account = _pick(table, ("account_id",))
    obj = _pick(table, ("object_id", "target"))
    ts = _pick(table, ("timestamp_share", "timestamp"))
    missing = [
        n
        for n, c in (("account_id", account), ("object_id", obj), ("timestamp_share", ts))
        if c is None
    ]
    if missing:
        raise InvalidInput(
            f"required column(s) missing: {', '.join(missing)}",
            violations=[FieldViolation(c, "column is missing") for c in missing],
        )
    assert account is not None and obj is not None and ts is not None
    n = table.num_rows
    content = _pick(table, ("content_id", "event_id"))
    if content is None:
        content = pa.chunked_array([pa.array([str(i) for i in range(1, n + 1)], pa.string())])
    cols: dict[str, Any] = {
        "account_id": _as_text(account),
        "action": pa.chunked_array([pa.array(["share"] * n, pa.string())]),
        "target": _as_text(obj),
        "timestamp": ts,
        "event_id": _as_text(content),
    }
    if actions and "action" in table.column_names:
        cols["action"] = _as_text(table["action"])
    report = RejectReport()
    clean = validate(pa.table(cols), SequentialRows(1, n), report, strict=strict)
    account_a = clean.account_id
    target_a: Any = clean.target
    content_a: Any = clean.event_id
    ts_ms = clean.ts_ms
    if actions and "action" in table.column_names:
        mask = pc.is_in(pc.cast(clean.action, pa.string()), pa.array(actions, pa.string()))
        keep = np.asarray(mask.to_numpy(zero_copy_only=False), dtype=np.bool_)
        account_a = pc.filter(account_a, mask)
        target_a = pc.filter(target_a, mask)
        content_a = pc.filter(content_a, mask)
        ts_ms = ts_ms[keep]
    acc, accounts = encode_sorted(account_a)
    objs = pc.cast(target_a, pa.string())
    if isinstance(objs, pa.ChunkedArray):
        objs = objs.combine_chunks()
    cont = content_a.combine_chunks() if isinstance(content_a, pa.ChunkedArray) else content_a
    cont = pc.cast(cont, pa.string())
    shared = pc.dictionary_encode(pa.concat_arrays([cont, objs]))
    codes = np.asarray(shared.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    m = len(cont)
    return CoorInput(
        account=acc,
        accounts=accounts,
        object_code=codes[m:],
        content_code=codes[:m],
        n_ids=len(shared.dictionary),
        ts=np.asarray(ts_ms, dtype=np.int64),
        rows=n,
        rejected=report.count,
        rejects=report,
    )
