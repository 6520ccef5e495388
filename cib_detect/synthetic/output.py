"""Writing a world: the events by file extension and the truth as JSON next to them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cib_detect.synthetic.world import World


def truth_path_for(path: str | Path) -> Path:
    """``world.parquet`` -> ``world.truth.json`` (next to it)."""
    p = Path(path)
    return p.with_name(p.stem + ".truth.json")


def _json_string(col: Any) -> Any:
    for a, b in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        col = pc.replace_substring(col, a, b)
    return pc.binary_join_element_wise('"', col, '"', "")


def _write_jsonl(table: pa.Table, path: Path, batch_rows: int = 1_000_000) -> None:
    with path.open("wb") as f:
        for batch in table.to_batches(max_chunksize=batch_rows):
            cols = {name: batch.column(name) for name in batch.schema.names}
            text = cols["text"]
            text_json = pc.if_else(pc.is_null(text), "null", _json_string(pc.fill_null(text, "")))
            line = pc.binary_join_element_wise(
                '{"event_id":',
                _json_string(cols["event_id"]),
                ',"account_id":',
                _json_string(cols["account_id"]),
                ',"action":',
                _json_string(cols["action"]),
                ',"target":',
                _json_string(cols["target"]),
                ',"timestamp":',
                pc.cast(cols["timestamp"], pa.string()),
                ',"text":',
                text_json,
                "}\n",
                "",
            )
            if len(line) == 0:
                continue
            offsets = np.frombuffer(line.buffers()[1], dtype=np.int32)
            data = line.buffers()[2]
            lo = int(offsets[line.offset])
            hi = int(offsets[line.offset + len(line)])
            f.write(memoryview(data)[lo:hi])


def write_world(world: World, path: str | Path) -> Path:
    """Write the events by extension (.parquet, .csv, .jsonl) and the truth next to them.

    Returns the path of the truth file (``<stem>.truth.json``).
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(world.events, p, compression="zstd", row_group_size=1_000_000)
    elif suffix == ".csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(world.events, p)
    elif suffix in (".jsonl", ".ndjson"):
        _write_jsonl(world.events, p)
    else:
        raise ValueError(f"unsupported events format {suffix!r}: use .parquet, .csv or .jsonl")
    truth = truth_path_for(p)
    truth.write_text(json.dumps(world.truth, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return truth
