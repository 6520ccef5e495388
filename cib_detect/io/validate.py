"""Row-level validation: every bad row is named with its row number, field and reason.

Valid rows pass through untouched; bad rows are dropped (or, with ``strict``, the whole
read stops with :class:`~cib_detect.errors.InvalidInput` naming the first bad rows).
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from cib_detect.errors import FieldViolation, InvalidInput, RejectReport
from cib_detect.io.formats import SequentialRows, rejected_rows
from cib_detect.kernels import ids as id_checks

#: Earliest and latest accepted instants: 1990-01-01 and 2100-01-01 UTC, in epoch ms.
MIN_TS_MS = 631_152_000_000
MAX_TS_MS = 4_102_444_800_000
#: Numbers at or above this magnitude are epoch milliseconds, below it epoch seconds.
MS_THRESHOLD = 100_000_000_000
MAX_ID_BYTES = 512
MAX_TEXT_BYTES = 65_536
#: Tables of at least this many rows check their columns on two threads.
PARALLEL_ROWS = 100_000
ID_COLUMNS = ("event_id", "account_id", "action", "target")
#: Beyond any accepted instant, and safely inside int64 (values are clipped to it).
_FAR_MS = 10**18
_ABSURD = "absurd timestamp (before 1990-01-01 or after 2100-01-01)"
_NUMERIC_RE = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"

Mask = npt.NDArray[np.bool_]


@dataclass
class CleanColumns:
    """Validated columns (only rows that passed)."""

    account_id: pa.DictionaryArray
    action: pa.DictionaryArray
    target: pa.DictionaryArray
    ts_ms: npt.NDArray[np.int64]
    event_id: pa.ChunkedArray | None
    event_hash: npt.NDArray[np.uint64] | None
    text: pa.ChunkedArray | None


class _Collector:
    def __init__(self, n: int, rows: Any, report: RejectReport) -> None:
        self.bad = np.zeros(n, dtype=np.bool_)
        self.rows = rows
        self.report = report
        self.found: list[FieldViolation] = []

    def flag(self, mask: Mask, field: str, reason: str) -> None:
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            return
        self.bad[idx] = True
        for i in idx[: self.report.max_examples]:
            self.found.append(FieldViolation(field, reason, row=int(self.rows[i])))
        extra = idx.size - min(idx.size, self.report.max_examples)
        if extra:
            key = f"{field}: {reason}"
            self.report.by_reason[key] = self.report.by_reason.get(key, 0) + extra

    def absorb(self, sub: _Collector, start: int = 0) -> None:
        """Take over what ``sub`` found; its rows are this collector's from ``start`` on.
        Counts beyond the examples are added unless ``sub`` reported into the same report."""
        self.bad[start : start + sub.bad.size] |= sub.bad
        self.found.extend(sub.found)
        if sub.report is not self.report:
            for key, extra in sub.report.by_reason.items():
                self.report.by_reason[key] = self.report.by_reason.get(key, 0) + extra


def _mask(arr: Any) -> Mask:
    """Boolean Arrow result -> numpy mask with nulls as False."""
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=np.bool_)


def _utf8_view(arr: pa.Array) -> pa.Array:
    """A string-like or bytes-like array as a (large_)string array over the same bytes,
    without checking them (dictionaries decoded, view/fixed-size layouts copied)."""
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = pc.cast(arr, t.value_type)  # indices were bounds-checked on load
        t = arr.type
    if pa.types.is_string_view(t) or pa.types.is_binary_view(t) or pa.types.is_fixed_size_binary(t):
        arr = pc.cast(arr, pa.large_binary())
        t = arr.type
    if pa.types.is_string(t) or pa.types.is_binary(t):
        return arr.view(pa.string())
    if pa.types.is_large_string(t) or pa.types.is_large_binary(t):
        return arr.view(pa.large_string())
    return pc.cast(arr, pa.string())  # numbers, dates, ...: their text


#: Rows per block below which invalid UTF-8 is located value by value in Python.
_UTF8_BLOCK = 64
#: How Arrow's full validation names the first value that is not UTF-8.
_BAD_UTF8_AT = re.compile(r"Invalid UTF8 sequence at string index (\d+)")


def _invalid_utf8(arr: pa.Array) -> Mask | None:
    """Rows of a (large_)string array whose bytes are not valid UTF-8 (None: all valid).

    Arrow checks the values in C++ and names the first bad one; checking resumes after
    it. Should its message not name the row, failing blocks are halved down to small
    ones whose values Python decodes one by one.
    """

    def valid(lo: int, hi: int) -> bool:
        try:
            arr.slice(lo, hi - lo).validate(full=True)
        except pa.ArrowInvalid:
            return False
        return True

    if valid(0, len(arr)):
        return None
    bad = np.zeros(len(arr), dtype=np.bool_)
    stack: list[tuple[int, int]] = []
    lo = 0
    while lo < len(arr):
        try:
            arr.slice(lo).validate(full=True)
            break
        except pa.ArrowInvalid as exc:
            found = _BAD_UTF8_AT.search(str(exc))
            if found is None or lo + int(found.group(1)) >= len(arr):
                stack.append((lo, len(arr)))
                break
            bad[lo + int(found.group(1))] = True
            lo += int(found.group(1)) + 1
    while stack:
        lo, hi = stack.pop()
        if hi - lo <= _UTF8_BLOCK:
            block = arr.slice(lo, hi - lo).view(
                pa.binary() if pa.types.is_string(arr.type) else pa.large_binary()
            )
            for i, v in enumerate(block.to_pylist()):
                if v is None:
                    continue
                try:
                    v.decode("utf-8")
                except UnicodeDecodeError:
                    bad[lo + i] = True
            continue
        mid = (lo + hi) // 2
        stack.extend((a, b) for a, b in ((mid, hi), (lo, mid)) if not valid(a, b))
    return bad


def _as_utf8(arr: pa.Array, field: str, col: _Collector) -> pa.Array:
    """Any supported array -> UTF-8 string array; values that are not valid UTF-8 (bytes
    or string-typed columns written without checks) are flagged and become ""."""
    s = _utf8_view(arr)
    if pa.types.is_string(s.type) or pa.types.is_large_string(s.type):
        bad = _invalid_utf8(s)
        if bad is not None:
            col.flag(bad, field, "not valid UTF-8")
            s = pc.if_else(pa.array(bad), pa.scalar("", s.type), s)
        if not pa.types.is_string(s.type):
            s = pc.cast(s, pa.string())
    return s


def _problems(flags: npt.NDArray[np.uint8]) -> list[tuple[Mask, str]]:
    """(mask, reason) pairs of the flags of ``kernels.ids.scan_ids``."""
    return [
        ((flags & id_checks.EMPTY) > 0, "empty"),
        ((flags & id_checks.NUL) > 0, "contains a NUL byte"),
        ((flags & id_checks.TOO_LONG) > 0, f"longer than {MAX_ID_BYTES} bytes"),
    ]


def _value_problems(values: pa.Array) -> list[tuple[Mask, str]]:
    """Problems of non-null string values: (mask, reason) pairs."""
    flags, _ = id_checks.scan_ids(*string_buffers(values), MAX_ID_BYTES)
    if values.null_count:
        flags = np.where(_mask(pc.is_null(values)), np.uint8(0), flags)
    return _problems(flags)


def string_buffers(arr: pa.Array) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """(UTF-8 bytes, int64 offsets) of a string array, without copying the bytes."""
    bufs = arr.buffers()
    width = np.int32 if pa.types.is_string(arr.type) else np.int64
    offsets = np.frombuffer(bufs[1], dtype=width)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    return data, offsets.astype(np.int64)


def _plain_utf8_chunks(
    column: pa.ChunkedArray | pa.Array, field: str, col: _Collector
) -> tuple[pa.ChunkedArray, Mask]:
    """The column as UTF-8 string chunks (dictionaries decoded, binary validated), and
    the rows that were not valid UTF-8."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    out = []
    invalid = np.zeros(len(column), dtype=np.bool_)
    start = 0
    for c in chunks:
        if pa.types.is_dictionary(c.type):
            c = pc.cast(c, c.type.value_type)
        sub = _Collector(len(c), col.rows[start : start + len(c)], col.report)
        c = _as_utf8(c, field, sub)
        col.absorb(sub, start)
        invalid[start : start + len(c)] = sub.bad
        out.append(c)
        start += len(c)
    arr = pa.chunked_array(out, type=pa.string()) if out else pa.chunked_array([], pa.string())
    return arr, invalid


def _check_ids(
    column: pa.ChunkedArray | pa.Array, field: str, col: _Collector
) -> tuple[pa.ChunkedArray, npt.NDArray[np.uint64]]:
    """Per-row checks of a high-cardinality id column (``event_id``); also its hashes."""
    arr, invalid = _plain_utf8_chunks(column, field, col)
    missing = _mask(pc.is_null(arr))
    col.flag(missing, field, "missing")
    already = missing | invalid
    flag_parts = []
    hash_parts = []
    for c in arr.chunks:
        data, offsets = string_buffers(c)
        f, h = id_checks.scan_ids(data, offsets, MAX_ID_BYTES)
        flag_parts.append(f)
        hash_parts.append(h)
    flags = np.concatenate(flag_parts) if flag_parts else np.zeros(0, np.uint8)
    hashes = np.concatenate(hash_parts) if hash_parts else np.zeros(0, np.uint64)
    for mask, reason in _problems(flags):
        col.flag(~already & mask, field, reason)
    return arr, hashes


def dictionary_encode(column: pa.ChunkedArray | pa.Array) -> pa.DictionaryArray:
    """One dictionary array for a (possibly chunked, possibly per-chunk dictionary)
    column, without materialising its strings row by row."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    chunks = [c if pa.types.is_dictionary(c.type) else pc.dictionary_encode(c) for c in chunks]
    if not chunks:
        return pc.dictionary_encode(pa.array([], pa.string()))
    if len(chunks) == 1:
        return chunks[0]
    # chunks read from one Parquet row group share one dictionary: merge each once
    distinct: dict[tuple[int, int, int], int] = {}
    dicts: list[pa.Array] = []
    which: list[int] = []
    for c in chunks:
        d = c.dictionary
        bufs = d.buffers()
        key = (bufs[-1].address if bufs[-1] is not None else 0, d.offset, len(d))
        if key not in distinct:
            distinct[key] = len(dicts)
            dicts.append(d)
        which.append(distinct[key])
    merged = pc.dictionary_encode(pa.concat_arrays(dicts))
    remap = np.asarray(merged.indices.to_numpy(zero_copy_only=False), dtype=np.int32)
    starts = np.concatenate(([0], np.cumsum([len(d) for d in dicts])))
    parts: list[npt.NDArray[np.int32]] = []
    valid: list[npt.NDArray[np.bool_]] = []
    for c, k in zip(chunks, which, strict=True):
        idx = np.asarray(c.indices.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
        if len(dicts[k]) == 0:  # an all-null chunk (e.g. a row group of nulls)
            parts.append(np.zeros(idx.size, np.int32))
        else:
            parts.append(remap[starts[k] + idx] if idx.size else np.zeros(0, np.int32))
        valid.append(
            ~_mask(pc.is_null(c.indices)) if c.indices.null_count else np.ones(len(c), np.bool_)
        )
    ok = np.concatenate(valid)
    indices = (
        pa.array(np.concatenate(parts), mask=~ok)
        if not ok.all()
        else pa.array(np.concatenate(parts))
    )
    return pa.DictionaryArray.from_arrays(indices, merged.dictionary)


def _check_dict_ids(
    arr: pa.ChunkedArray | pa.Array, field: str, col: _Collector
) -> pa.DictionaryArray:
    """Checks of a low-cardinality column done once per distinct value.

    Returns the column dictionary-encoded with a UTF-8 dictionary.
    """
    enc = dictionary_encode(arr)
    values = enc.dictionary
    # string-typed dictionaries are checked too: other writers may store any bytes
    sub = _Collector(len(values), SequentialRows(1, len(values)), RejectReport())
    values = _as_utf8(values, field, sub)
    utf8_bad = sub.bad
    indices = enc.indices
    idx = np.asarray(indices.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
    col.flag(_mask(pc.is_null(indices)), field, "missing")
    if len(values):
        valid_row = ~_mask(pc.is_null(indices))
        col.flag(valid_row & utf8_bad[idx], field, "not valid UTF-8")
        for mask, reason in _value_problems(values):
            mask = mask & ~utf8_bad
            if mask.any():
                col.flag(valid_row & mask[idx], field, reason)
    return pa.DictionaryArray.from_arrays(indices, values)


def _numbers_to_ms(values: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    secs = np.abs(values) < MS_THRESHOLD
    ms = np.where(secs, values * 1000.0, values)
    ms = np.where(np.isfinite(ms), ms, 0.0)
    # far out of range stays out of range, without overflowing int64
    out: npt.NDArray[np.int64] = np.rint(np.clip(ms, -_FAR_MS, _FAR_MS)).astype(np.int64)
    return out


def _iso_to_ms(text: str) -> int | None:
    s = text.strip()
    if not s:
        return None
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        return -1
    return round(dt.timestamp() * 1000)


def _parse_timestamps(arr: pa.Array, col: _Collector) -> npt.NDArray[np.int64]:
    n = len(arr)
    out = np.zeros(n, dtype=np.int64)
    field = "timestamp"
    col.flag(_mask(pc.is_null(arr)), field, "missing")
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = pc.cast(arr, t.value_type)
        t = arr.type
    if pa.types.is_timestamp(t):
        # exact instants in any unit; finer than milliseconds is floored to milliseconds
        ticks = np.asarray(pc.cast(arr, pa.int64()).fill_null(0).to_numpy(), dtype=np.int64)
        if t.unit == "s":
            out = np.clip(ticks, -_FAR_MS // 1000, _FAR_MS // 1000) * 1000
        else:
            out = ticks // {"ms": 1, "us": 1000, "ns": 1_000_000}[t.unit]
    elif pa.types.is_integer(t):
        if pa.types.is_uint64(t):  # above int64: certainly not a time
            big = _mask(pc.greater(arr, pa.scalar(2**63 - 1, pa.uint64())))
            col.flag(big, field, _ABSURD)
            arr = pc.if_else(pa.array(big), pa.scalar(0, pa.uint64()), arr)
        vals_i = np.asarray(pc.cast(arr, pa.int64()).fill_null(0).to_numpy(), dtype=np.int64)
        secs = (vals_i > -MS_THRESHOLD) & (vals_i < MS_THRESHOLD)
        out = np.where(secs, vals_i * 1000, vals_i)
    elif pa.types.is_floating(t):
        vals = np.asarray(pc.cast(arr, pa.float64()).fill_null(0).to_numpy(), dtype=np.float64)
        col.flag(~np.isfinite(vals), field, "not a finite number")
        out = _numbers_to_ms(vals)
    else:
        s = _as_utf8(arr, field, col)
        col.flag(_mask(pc.match_substring(s, "\x00")), field, "contains a NUL byte")
        numeric = _mask(pc.match_substring_regex(s, _NUMERIC_RE))
        if numeric.any():
            nums = pc.cast(
                pc.utf8_trim_whitespace(pc.filter(s, pa.array(numeric))), pa.float64()
            ).to_numpy()
            vals = np.asarray(nums, dtype=np.float64)
            nonfinite = np.zeros(n, dtype=np.bool_)
            nonfinite[numeric] = ~np.isfinite(vals)
            col.flag(nonfinite, field, "not a finite number")
            out[numeric] = _numbers_to_ms(vals)
        others = ~numeric & ~_mask(pc.is_null(s)) & ~col.bad
        if others.any():
            idx = np.flatnonzero(others)
            unparsable = np.zeros(n, dtype=np.bool_)
            naive = np.zeros(n, dtype=np.bool_)
            for i, v in zip(idx, pc.take(s, pa.array(idx)).to_pylist(), strict=True):
                ms = _iso_to_ms(v)
                if ms is None:
                    unparsable[i] = True
                elif ms == -1:
                    naive[i] = True
                else:
                    out[i] = ms
            col.flag(unparsable, field, "not epoch seconds, epoch milliseconds or ISO-8601")
            col.flag(naive, field, "ISO-8601 timestamp has no time zone")
    absurd = ~col.bad & ((out < MIN_TS_MS) | (out >= MAX_TS_MS))
    col.flag(absurd, field, _ABSURD)
    return out


def _check_text(column: pa.ChunkedArray | pa.Array, col: _Collector) -> pa.ChunkedArray:
    text, _ = _plain_utf8_chunks(column, "text", col)
    col.flag(_mask(pc.match_substring(text, "\x00")), "text", "contains a NUL byte")
    col.flag(
        _mask(pc.greater(pc.binary_length(text), MAX_TEXT_BYTES)),
        "text",
        f"longer than {MAX_TEXT_BYTES} bytes",
    )
    return text


def validate(
    table: pa.Table,
    rows: Any,
    report: RejectReport,
    *,
    strict: bool,
    parse_rejects: list[FieldViolation] | None = None,
) -> CleanColumns:
    """Check every row; return the good rows. Rejects are added to ``report``."""
    n = table.num_rows
    col = _Collector(n, rows, report)
    cols: dict[str, Any] = {name: table[name] for name in table.column_names}
    ts_col = cols["timestamp"]
    if pa.types.is_dictionary(ts_col.type):
        ts_col = pc.cast(ts_col, ts_col.type.value_type)
    cols["timestamp"] = ts_col.combine_chunks()

    def ids_and_text() -> tuple[_Collector, Any, npt.NDArray[np.uint64] | None, Any]:
        # its own collector (and report counts): it may run on a thread of its own
        sub = _Collector(n, rows, RejectReport(max_examples=report.max_examples))
        ids, hashes, text = None, None, None
        if "event_id" in cols:
            ids, hashes = _check_ids(cols["event_id"], "event_id", sub)
        if "text" in cols:
            text = _check_text(cols["text"], sub)
        return sub, ids, hashes, text

    # the high-cardinality columns on a second thread beside the dictionary columns and
    # the timestamps (Arrow, NumPy and the kernels release the GIL for the bulk of it)
    pool = ThreadPoolExecutor(max_workers=1) if n >= PARALLEL_ROWS else None
    try:
        job = pool.submit(ids_and_text) if pool is not None else None
        checked: dict[str, Any] = {}
        for name in ("account_id", "action", "target"):
            checked[name] = _check_dict_ids(cols[name], name, col)
        ts = _parse_timestamps(cols["timestamp"], col)
        sub, ids, id_hash, text = job.result() if job is not None else ids_and_text()
    finally:
        if pool is not None:
            pool.shutdown()
    col.absorb(sub)
    if ids is not None:
        checked["event_id"] = ids
    violations = sorted([*(parse_rejects or []), *col.found], key=lambda v: (v.row or 0, v.field))
    bad_rows = int(col.bad.sum()) + rejected_rows(parse_rejects or [])
    if strict and bad_rows:
        first = violations[:20]
        raise InvalidInput(
            f"{bad_rows} invalid row(s); first: " + "; ".join(v.describe() for v in first[:5]),
            violations=first,
        )
    for v in violations:
        report.add(v)
    # rows with several problems count once in ``count``
    report.count = bad_rows
    if not col.bad.any():
        return CleanColumns(
            account_id=checked["account_id"],
            action=checked["action"],
            target=checked["target"],
            ts_ms=ts,
            event_id=checked.get("event_id"),
            event_hash=id_hash,
            text=text,
        )
    keep = pa.array(~col.bad)
    return CleanColumns(
        account_id=pc.filter(checked["account_id"], keep),
        action=pc.filter(checked["action"], keep),
        target=pc.filter(checked["target"], keep),
        ts_ms=ts[~col.bad],
        event_id=pc.filter(checked["event_id"], keep) if "event_id" in checked else None,
        event_hash=id_hash[~col.bad] if id_hash is not None else None,
        text=pc.filter(text, keep) if text is not None else None,
    )
