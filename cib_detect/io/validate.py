"""Row-level validation: every bad row is named with its row number, field and reason.

Valid rows pass through untouched; bad rows are dropped (or, with ``strict``, the whole
read stops with :class:`~cib_detect.errors.InvalidInput` naming the first bad rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from cib_detect.errors import FieldViolation, InvalidInput, RejectReport
from cib_detect.io.formats import SequentialRows
from cib_detect.kernels import strings

#: Earliest and latest accepted instants: 1990-01-01 and 2100-01-01 UTC, in epoch ms.
MIN_TS_MS = 631_152_000_000
MAX_TS_MS = 4_102_444_800_000
#: Numbers at or above this magnitude are epoch milliseconds, below it epoch seconds.
MS_THRESHOLD = 100_000_000_000
MAX_ID_BYTES = 512
MAX_TEXT_BYTES = 65_536
ID_COLUMNS = ("event_id", "account_id", "action", "target")
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


def _mask(arr: Any) -> Mask:
    """Boolean Arrow result -> numpy mask with nulls as False."""
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=np.bool_)


def _as_utf8(arr: pa.Array, field: str, col: _Collector) -> pa.Array:
    """Binary/other -> UTF-8 string array; rows that are not valid UTF-8 are flagged."""
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        return arr
    if pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type):
        try:
            return pc.cast(arr, pa.string())
        except pa.ArrowInvalid:
            bad = np.zeros(len(arr), dtype=np.bool_)
            fixed: list[str | None] = []
            for i, v in enumerate(arr.to_pylist()):
                if v is None:
                    fixed.append(None)
                    continue
                try:
                    fixed.append(v.decode("utf-8"))
                except UnicodeDecodeError:
                    bad[i] = True
                    fixed.append("")
            col.flag(bad, field, "not valid UTF-8")
            return pa.array(fixed, pa.string())
    return pc.cast(arr, pa.string())


def _value_problems(values: pa.Array) -> list[tuple[Mask, str]]:
    """Problems of non-null string values: (mask, reason) pairs."""
    return [
        (_mask(pc.match_substring_regex(values, r"^[ \t\n\r\f\v]*$")), "empty"),
        (_mask(pc.match_substring(values, "\x00")), "contains a NUL byte"),
        (
            _mask(pc.greater(pc.binary_length(values), MAX_ID_BYTES)),
            f"longer than {MAX_ID_BYTES} bytes",
        ),
    ]


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
        col.bad[start : start + len(c)] |= sub.bad
        invalid[start : start + len(c)] = sub.bad
        col.found.extend(sub.found)
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
        f, h = strings.scan_ids(data, offsets, MAX_ID_BYTES)
        flag_parts.append(f)
        hash_parts.append(h)
    flags = np.concatenate(flag_parts) if flag_parts else np.zeros(0, np.uint8)
    hashes = np.concatenate(hash_parts) if hash_parts else np.zeros(0, np.uint64)
    col.flag(~already & ((flags & strings.EMPTY) > 0), field, "empty")
    col.flag(~already & ((flags & strings.NUL) > 0), field, "contains a NUL byte")
    col.flag(
        ~already & ((flags & strings.TOO_LONG) > 0), field, f"longer than {MAX_ID_BYTES} bytes"
    )
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
    bad_value = np.zeros(len(values), dtype=np.bool_)
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        sub = _Collector(len(values), SequentialRows(1, len(values)), RejectReport())
        values = _as_utf8(values, field, sub)
        bad_value |= sub.bad
        utf8_bad = sub.bad
    else:
        utf8_bad = bad_value.copy()
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
    return np.rint(ms).astype(np.int64)


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
    if pa.types.is_timestamp(t):
        raw = pc.cast(arr, pa.timestamp("ms", tz=t.tz)).cast(pa.int64())
        out = np.asarray(raw.fill_null(0).to_numpy(), dtype=np.int64)
    elif pa.types.is_integer(t):
        vals_i = np.asarray(pc.cast(arr, pa.int64()).fill_null(0).to_numpy(), dtype=np.int64)
        secs = np.abs(vals_i) < MS_THRESHOLD
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
    col.flag(absurd, field, "absurd timestamp (before 1990-01-01 or after 2100-01-01)")
    return out


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
    cols["timestamp"] = cols["timestamp"].combine_chunks()
    checked: dict[str, Any] = {}
    id_hash: npt.NDArray[np.uint64] | None = None
    if "event_id" in cols:
        checked["event_id"], id_hash = _check_ids(cols["event_id"], "event_id", col)
    for name in ("account_id", "action", "target"):
        checked[name] = _check_dict_ids(cols[name], name, col)
    ts = _parse_timestamps(cols["timestamp"], col)
    text: pa.ChunkedArray | None = None
    if "text" in cols:
        text, _ = _plain_utf8_chunks(cols["text"], "text", col)
        col.flag(_mask(pc.match_substring(text, "\x00")), "text", "contains a NUL byte")
        col.flag(
            _mask(pc.greater(pc.binary_length(text), MAX_TEXT_BYTES)),
            "text",
            f"longer than {MAX_TEXT_BYTES} bytes",
        )
    violations = sorted([*(parse_rejects or []), *col.found], key=lambda v: (v.row or 0, v.field))
    bad_rows = int(col.bad.sum()) + len(parse_rejects or [])
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
