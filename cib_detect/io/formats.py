"""Load a raw Arrow table from CSV, JSONL or Parquet, keeping 1-based row numbers.

Nothing here validates values: :mod:`cib_detect.io.validate` does that. Rows the format
itself cannot parse (a CSV line with the wrong number of fields, a JSONL line that is not
a JSON object) are reported as rejects here, with their row number.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from cib_detect.errors import FieldViolation, InvalidInput

KNOWN_COLUMNS = ("event_id", "account_id", "action", "target", "timestamp", "text")
REQUIRED_COLUMNS = ("account_id", "action", "target", "timestamp")
FORMATS = ("csv", "jsonl", "parquet")


def detect_format(path: Path, fmt: str | None) -> str:
    if fmt:
        fmt = fmt.lower()
        if fmt not in FORMATS:
            raise InvalidInput(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
        return fmt
    suffixes = [s.lower() for s in path.suffixes]
    for s in reversed(suffixes):
        if s in (".csv", ".tsv"):
            return "csv"
        if s in (".jsonl", ".ndjson", ".json"):
            return "jsonl"
        if s in (".parquet", ".pq"):
            return "parquet"
    raise InvalidInput(f"cannot tell the format of {path.name!r} from its extension; pass --format")


#: Fewest bytes per row of an uncompressed text events file.
MIN_TEXT_ROW_BYTES = 40


def rows_upper_estimate(path: Path, fmt: str) -> int | None:
    """At most about how many rows ``path`` holds, without reading it: the count in a
    Parquet footer, or one row per :data:`MIN_TEXT_ROW_BYTES` of an uncompressed text
    file; None when it cannot tell (compressed, unreadable). Only for choosing how to
    run, never used as a count."""
    try:
        if fmt == "parquet":
            return int(pq.read_metadata(path).num_rows)
        if path.suffix.lower() in (".gz", ".bz2", ".zst", ".xz", ".lz4"):
            return None
        return path.stat().st_size // MIN_TEXT_ROW_BYTES
    except Exception:  # the read itself reports what is wrong with the file
        return None


def load_raw(path: Path, fmt: str) -> tuple[pa.Table, RowNumbers, list[FieldViolation]]:
    """Return (table of known columns, 1-based row number per table row, parse rejects)."""
    if fmt == "parquet":
        return _load_parquet(path)
    if fmt == "csv":
        return _load_csv(path)
    return _load_jsonl(path)


class SequentialRows:
    """Row numbers ``start, start + 1, ...`` without materialising them."""

    def __init__(self, start: int, n: int) -> None:
        self.start = start
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            lo, hi, _ = key.indices(self.n)
            return SequentialRows(self.start + lo, max(0, hi - lo))
        return self.start + int(key)


RowNumbers = Any  # numpy int64 array or SequentialRows


def _row_numbers(n: int) -> SequentialRows:
    return SequentialRows(1, n)


def rejected_rows(rejects: list[FieldViolation]) -> int:
    """How many rows ``rejects`` name (a row with several bad fields counts once)."""
    numbered = {v.row for v in rejects if v.row is not None}
    return len(numbered) + sum(1 for v in rejects if v.row is None)


def _check_columns(names: list[str]) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise InvalidInput(
            f"required column(s) missing: {', '.join(missing)}",
            violations=[FieldViolation(c, "column is missing") for c in missing],
        )


def _supported_type(t: pa.DataType) -> bool:
    """Types a column can be validated from: strings, bytes and scalars (not nested)."""
    if pa.types.is_dictionary(t):
        return _supported_type(t.value_type)
    checks = (
        pa.types.is_string,
        pa.types.is_large_string,
        pa.types.is_string_view,
        pa.types.is_binary,
        pa.types.is_large_binary,
        pa.types.is_binary_view,
        pa.types.is_fixed_size_binary,
        pa.types.is_integer,
        pa.types.is_floating,
        pa.types.is_decimal,
        pa.types.is_boolean,
        pa.types.is_date,
        pa.types.is_timestamp,
        pa.types.is_time,
        pa.types.is_duration,
        pa.types.is_null,
    )
    return any(check(t) for check in checks)


def _check_types(schema: pa.Schema, cols: list[str]) -> None:
    dupes = [c for c in cols if schema.names.count(c) > 1]
    if dupes:
        raise InvalidInput(
            f"column(s) appear more than once: {', '.join(dupes)}",
            violations=[FieldViolation(c, "column appears more than once") for c in dupes],
        )
    bad = [(c, schema.field(c).type) for c in cols if not _supported_type(schema.field(c).type)]
    if bad:
        raise InvalidInput(
            "unsupported column type(s): "
            + ", ".join(f"{c} has type {t}, expected strings or numbers" for c, t in bad),
            violations=[FieldViolation(c, f"unsupported column type {t}") for c, t in bad],
        )


def _check_dictionary_indices(table: pa.Table) -> None:
    """Dictionary indices of a damaged file can point past their dictionary."""
    for name in table.column_names:
        for chunk in table[name].chunks:
            if not pa.types.is_dictionary(chunk.type) or chunk.null_count == len(chunk):
                continue
            lo_hi = pc.min_max(chunk.indices)
            lo, hi = lo_hi["min"].as_py(), lo_hi["max"].as_py()
            if lo < 0 or hi >= len(chunk.dictionary):
                bad = lo if lo < 0 else hi
                raise ValueError(
                    f"column {name}: dictionary index {bad} out of range "
                    f"(dictionary of {len(chunk.dictionary)} values)"
                )


def _load_parquet(
    path: Path,
) -> tuple[pa.Table, RowNumbers, list[FieldViolation]]:
    # Any failure to read a damaged file (Arrow, OS, decoding errors) is a whole-file error.
    try:
        schema = pq.read_schema(path)
    except Exception as exc:
        raise InvalidInput(f"cannot read Parquet file {path}: {exc}") from exc
    _check_columns(schema.names)
    cols = [c for c in KNOWN_COLUMNS if c in schema.names]
    _check_types(schema, cols)
    try:
        table = pq.read_table(
            path,
            columns=cols,
            read_dictionary=[c for c in ("account_id", "action", "target") if c in cols],
        )
        table.validate()
        _check_dictionary_indices(table)
    except Exception as exc:
        raise InvalidInput(f"cannot read Parquet file {path}: {exc}") from exc
    return table, _row_numbers(table.num_rows), []


def _load_csv(
    path: Path,
) -> tuple[pa.Table, RowNumbers, list[FieldViolation]]:
    bad_lines: list[int] = []
    bad_reasons: list[str] = []

    def on_invalid(row: Any) -> str:
        bad_lines.append(int(row.number) if row.number is not None else -1)
        bad_reasons.append(f"expected {row.expected_columns} fields, found {row.actual_columns}")
        return "skip"

    delimiter = "\t" if ".tsv" in [x.lower() for x in path.suffixes] else ","
    try:
        with pa.input_stream(str(path), compression="detect") as stream:
            first = stream.read(1 << 16).decode("utf-8", errors="replace")
        names = next(csv.reader([first.splitlines()[0] if first else ""], delimiter=delimiter), [])
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot open: {exc}") from exc
    names = [n.strip().lstrip("\ufeff") for n in names]
    _check_columns(names)
    cols = [c for c in KNOWN_COLUMNS if c in names]
    read_options = pacsv.ReadOptions(use_threads=False, block_size=1 << 24)
    parse_options = pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid)
    convert_options = pacsv.ConvertOptions(
        include_columns=cols,
        column_types={c: pa.binary() for c in cols},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )

    def read(source: Any) -> pa.Table:
        return pacsv.read_csv(
            source,
            read_options=read_options,
            parse_options=parse_options,
            convert_options=convert_options,
        )

    try:
        with _quiet_handler_errors(on_invalid):
            table = read(path)
    except (pa.ArrowException, OSError) as exc:
        # pyarrow cannot hand a malformed line that is not valid UTF-8 to ``on_invalid``
        # (it fails decoding the line's text): read again with such bytes escaped.
        bad_lines.clear()
        bad_reasons.clear()
        table = _read_csv_escaped(path, read, exc)
    # Data row r (1-based, header excluded) sits on physical line r + 1 when no field
    # spans lines; skipped malformed lines shift the numbering of the rows after them.
    rejects = [
        FieldViolation("<row>", reason, row=(line - 1) if line > 0 else None)
        for line, reason in zip(bad_lines, bad_reasons, strict=True)
    ]
    rows: RowNumbers = _row_numbers(table.num_rows)
    if bad_lines:
        rows = np.arange(1, table.num_rows + 1, dtype=np.int64)
        skipped = np.sort(np.array([ln - 1 for ln in bad_lines if ln > 0], dtype=np.int64))
        # row numbers of kept rows: the k-th kept row is the k-th integer not in `skipped`
        for s in skipped:
            rows[rows >= s] += 1
    return table, rows, rejects


@contextmanager
def _quiet_handler_errors(handler: Any) -> Iterator[None]:
    """Keep pyarrow's failure to decode a malformed line for ``handler`` (it prints
    "Exception ignored in ...") off stderr: the read then fails and is retried."""
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        if unraisable.object is handler and isinstance(unraisable.exc_value, UnicodeError):
            return
        previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous


#: Invalid UTF-8 byte b (0x80..0xFF) is escaped as code point 0x10FF00 + b, and so is every
#: byte of a character already in U+10FF80..U+10FFFF; unescaping restores the exact bytes.
_ESCAPE = 0x10FF00
_TO_ESCAPE = re.compile("[\udc80-\udcff\U0010ff80-\U0010ffff]")
_ESCAPED = re.compile(b"\xf4\x8f[\xbe\xbf][\x80-\xbf]")


def _escape(m: re.Match[str]) -> str:
    o = ord(m.group())
    if o < 0xE000:  # a surrogate-escaped invalid byte
        return chr(_ESCAPE + o - 0xDC00)
    return "".join(chr(_ESCAPE + b) for b in m.group().encode("utf-8"))


def _unescape(value: bytes) -> bytes:
    return _ESCAPED.sub(lambda m: bytes([ord(m.group().decode("utf-8")) - _ESCAPE]), value)


def _read_csv_escaped(path: Path, read: Any, exc: BaseException) -> pa.Table:
    """Read a CSV file whose invalid UTF-8 bytes are escaped (so pyarrow can report the
    malformed lines holding them), then restore the original bytes of every field."""
    failure = InvalidInput(f"cannot read CSV file {path}: {exc}")
    try:
        with pa.input_stream(str(path), compression="detect") as stream:
            raw = stream.read()
    except (pa.ArrowException, OSError) as err:
        raise failure from err
    text = raw.decode("utf-8", errors="surrogateescape")
    del raw
    if not _TO_ESCAPE.search(text):
        raise failure from exc
    escaped = _TO_ESCAPE.sub(_escape, text).encode("utf-8")
    del text
    try:
        table = read(pa.BufferReader(escaped))
    except (pa.ArrowException, OSError) as err:
        raise failure from err
    columns = []
    for name in table.column_names:
        col = table[name].combine_chunks()
        touched = pc.fill_null(
            pc.or_(
                pc.match_substring(col, b"\xf4\x8f\xbe"), pc.match_substring(col, b"\xf4\x8f\xbf")
            ),
            False,
        )
        if pc.any(touched).as_py():
            idx = np.flatnonzero(touched.to_numpy(zero_copy_only=False))
            restored = [_unescape(v) for v in pc.take(col, pa.array(idx)).to_pylist()]
            col = pc.replace_with_mask(col, touched, pa.array(restored, pa.binary()))
        columns.append(col)
    return pa.table(columns, names=table.column_names)


def _load_jsonl(
    path: Path,
) -> tuple[pa.Table, RowNumbers, list[FieldViolation]]:
    columns: dict[str, list[Any]] = {c: [] for c in KNOWN_COLUMNS}
    rows: list[int] = []
    rejects: list[FieldViolation] = []
    seen: set[str] = set()
    try:
        stream = pa.input_stream(str(path), compression="detect")
    except (OSError, pa.ArrowInvalid) as exc:
        raise InvalidInput(f"{path}: cannot open: {exc}") from exc
    try:
        with stream, io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape") as fh:
            _parse_jsonl_lines(fh, columns, rows, rejects, seen)
    except (OSError, pa.ArrowException) as exc:  # e.g. a damaged gzip stream
        raise InvalidInput(f"cannot read JSONL file {path}: {exc}") from exc
    if rows:
        _check_columns(sorted(seen))
    arrays = {}
    for c in KNOWN_COLUMNS:
        if c not in seen and c not in REQUIRED_COLUMNS:
            continue
        arrays[c] = _to_arrow(columns[c], timestamp=(c == "timestamp"))
    if not rows:
        arrays = {c: pa.array([], pa.string()) for c in REQUIRED_COLUMNS}
    return pa.table(arrays), np.array(rows, dtype=np.int64), rejects


def _parse_jsonl_lines(
    fh: Any,
    columns: dict[str, list[Any]],
    rows: list[int],
    rejects: list[FieldViolation],
    seen: set[str],
) -> None:
    for lineno, raw in enumerate(fh, start=1):
        if not raw.strip():
            continue
        try:
            data = raw.encode("utf-8", errors="strict")
        except UnicodeError:
            rejects.append(FieldViolation("<row>", "not valid UTF-8", row=lineno))
            continue
        try:
            obj = json.loads(data)
        except RecursionError:
            rejects.append(FieldViolation("<row>", "JSON nested too deeply", row=lineno))
            continue
        except ValueError as exc:
            rejects.append(FieldViolation("<row>", f"invalid JSON: {exc}", row=lineno))
            continue
        if not isinstance(obj, dict):
            rejects.append(FieldViolation("<row>", "not a JSON object", row=lineno))
            continue
        nested = [c for c in KNOWN_COLUMNS if isinstance(obj.get(c), (dict, list, bool))]
        if nested:
            rejects.extend(
                FieldViolation(c, "expected a string or number", row=lineno) for c in nested
            )
            continue
        seen.update(k for k in obj if k in columns)
        for c in KNOWN_COLUMNS:
            columns[c].append(obj.get(c))
        rows.append(lineno)


def _to_arrow(values: list[Any], *, timestamp: bool) -> pa.Array:
    """Strings stay strings; for timestamps, numbers are rendered as exact text."""
    out: list[str | None] = []
    for v in values:
        if v is None:
            out.append(None)
        elif isinstance(v, (int, float)):
            out.append(repr(v) if timestamp else str(v))
        else:
            out.append(str(v))
    try:
        return pa.array(out, pa.string())
    except (UnicodeError, pa.ArrowException):
        # a lone surrogate ("\\ud800" escaped in JSON) is not Unicode text: keep its bytes,
        # which are not valid UTF-8, so validation rejects the field like any such bytes
        return pa.array(
            [None if v is None else v.encode("utf-8", "surrogatepass") for v in out], pa.binary()
        )
