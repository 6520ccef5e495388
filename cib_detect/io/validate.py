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
    """Validated columns (only rows that passed) and their 1-based source rows."""

    account_id: pa.DictionaryArray
    action: pa.DictionaryArray
    target: pa.DictionaryArray
    ts_ms: npt.NDArray[np.int64]
    rows: npt.NDArray[np.int64]
    event_id: pa.Array | None
    event_hash: npt.NDArray[np.uint64] | None
    text: pa.Array | None


class _Collector:
    def __init__(self, n: int, rows: npt.NDArray[np.int64], report: RejectReport) -> None:
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
        (_mask(pc.match_substring_regex(values, r"^\s*$")), "empty"),
        (_mask(pc.match_substring(values, "\x00")), "contains a NUL byte"),
        (
            _mask(pc.greater(pc.binary_length(values), MAX_ID_BYTES)),
            f"longer than {MAX_ID_BYTES} bytes",
        ),
    ]


def string_buffers(arr: pa.Array) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """(UTF-8 bytes, int64 offsets) of a string array, without copying the bytes."""
    if pa.types.is_string(arr.type):
        arr = arr.cast(pa.large_string())
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    return data, np.ascontiguousarray(offsets)


def _check_ids(
    arr: pa.Array, field: str, col: _Collector
) -> tuple[pa.Array, npt.NDArray[np.uint64]]:
    """Per-row checks of a high-cardinality id column (``event_id``); also its hashes."""
    if pa.types.is_dictionary(arr.type):
        arr = pc.cast(arr, arr.type.value_type)
    arr = _as_utf8(arr, field, col)
    col.flag(_mask(pc.is_null(arr)), field, "missing")
    data, offsets = string_buffers(arr)
    flags, hashes = strings.scan_ids(data, offsets, MAX_ID_BYTES)
    col.flag((flags & strings.EMPTY) > 0, field, "empty")
    col.flag((flags & strings.NUL) > 0, field, "contains a NUL byte")
    col.flag((flags & strings.TOO_LONG) > 0, field, f"longer than {MAX_ID_BYTES} bytes")
    return arr, hashes


def _check_dict_ids(arr: pa.Array, field: str, col: _Collector) -> pa.DictionaryArray:
    """Checks of a low-cardinality column done once per distinct value.

    Returns the column dictionary-encoded with a UTF-8 dictionary.
    """
    enc = arr if pa.types.is_dictionary(arr.type) else pc.dictionary_encode(arr)
    values = enc.dictionary
    bad_value = np.zeros(len(values), dtype=np.bool_)
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        sub = _Collector(len(values), np.zeros(len(values), dtype=np.int64), RejectReport())
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
            nums = pc.cast(pc.filter(s, pa.array(numeric)), pa.float64()).to_numpy()
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
    rows: npt.NDArray[np.int64],
    report: RejectReport,
    *,
    strict: bool,
    parse_rejects: list[FieldViolation] | None = None,
) -> CleanColumns:
    """Check every row; return the good rows. Rejects are added to ``report``."""
    n = table.num_rows
    col = _Collector(n, rows, report)
    cols: dict[str, pa.Array] = {}
    for name in table.column_names:
        cols[name] = table[name].combine_chunks()
    checked: dict[str, pa.Array] = {}
    id_hash: npt.NDArray[np.uint64] | None = None
    if "event_id" in cols:
        checked["event_id"], id_hash = _check_ids(cols["event_id"], "event_id", col)
    for name in ("account_id", "action", "target"):
        checked[name] = _check_dict_ids(cols[name], name, col)
    ts = _parse_timestamps(cols["timestamp"], col)
    text: pa.Array | None = None
    if "text" in cols:
        raw_text = cols["text"]
        if pa.types.is_dictionary(raw_text.type):
            raw_text = pc.cast(raw_text, raw_text.type.value_type)
        text = _as_utf8(raw_text, "text", col)
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
    keep = pa.array(~col.bad)
    return CleanColumns(
        account_id=pc.filter(checked["account_id"], keep),
        action=pc.filter(checked["action"], keep),
        target=pc.filter(checked["target"], keep),
        ts_ms=ts[~col.bad],
        rows=rows[~col.bad],
        event_id=pc.filter(checked["event_id"], keep) if "event_id" in checked else None,
        event_hash=id_hash[~col.bad] if id_hash is not None else None,
        text=pc.filter(text, keep) if text is not None else None,
    )
