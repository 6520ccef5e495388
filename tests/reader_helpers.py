"""Inputs shared by the reader tests."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z, epoch seconds


def small_parquet_bytes(n: int = 40) -> bytes:
    """A valid events Parquet file of ``n`` rows (duplicate ids, nulls, three row groups),
    as bytes: the base that damaged-file tests flip and cut."""
    table = pa.table(
        {
            "event_id": [f"e{i % 31}" for i in range(n)],
            "account_id": [f"a{i % 7}" for i in range(n)],
            "action": ["stream", "like"] * (n // 2),
            "target": [f"t{i % 3}" for i in range(n)],
            "timestamp": [T0 + i for i in range(n)],
            "text": [None if i % 5 == 0 else "x" * i for i in range(n)],
        }
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=16)
    return bytes(sink.getvalue().to_pybytes())
