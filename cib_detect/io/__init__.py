"""Readers for CSV / JSONL / Parquet events, validation, and columnar encoding."""

from cib_detect.io.readers import read_events

__all__ = ["read_events"]
