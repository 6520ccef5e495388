"""Load a raw Arrow table from CSV, JSONL or Parquet, keeping 1-based row numbers.

Nothing here validates values: :mod:`cib_detect.io.validate` does that. Rows the format
itself cannot parse (a CSV line with the wrong number of fields, a JSONL line that is not
a JSON object) are reported as rejects here, with their row number.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
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


def _check_columns(names: list[str]) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise InvalidInput(
            f"required column(s) missing: {', '.join(missing)}",
            violations=[FieldViolation(c, "column is missing") for c in missing],
        )


def _load_parquet(
    path: Path,
) -> tuple[pa.Table, RowNumbers, list[FieldViolation]]:
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(f"{path}: not a readable Parquet file: {exc}") from exc
    _check_columns(schema.names)
    cols = [c for c in KNOWN_COLUMNS if c in schema.names]
    table = pq.read_table(
        path,
        columns=cols,
        read_dictionary=[c for c in ("account_id", "action", "target") if c in cols],
    )
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
    table = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(use_threads=False, block_size=1 << 24),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(
            include_columns=cols,
            column_types={c: pa.binary() for c in cols},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
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
    with stream, io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape") as fh:
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
    return pa.array(out, pa.string())
