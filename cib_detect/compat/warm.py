"""Load the profile kernels from Numba's cache (or compile them) on a tiny input.

The same code paths as a real run, so the same signatures: run it on a thread while
the input file is read and the first real kernel call finds them ready.
"""

from __future__ import annotations

from pathlib import Path
from tempfile import TemporaryDirectory

import pyarrow as pa

from cib_detect.compat import cnt, output


def warm_cnt(network: str = "co_link", *, graphml: bool = False) -> None:
    """Run profile ``cnt`` end to end on three rows."""
    table = pa.table(
        {
            "message_id": ["1", "2", "3"],
            "user_id": ["a", "b", "a"],
            "username": ["a", "b", "a"],
            "repost_id": ["", "", "x"],
            "reply_id": ["", "", ""],
            "message": ["m", "m", ""],
            "timestamp": ["1", "2", "3"],
            "urls": ["u", "u", ""],
        }
    )
    msgs = cnt.messages_from_table(table, network, annotate=graphml)
    edges = cnt.compute(msgs, cnt.CntParams(network=network, time_window=5, min_edge_weight=1))
    with TemporaryDirectory() as tmp:
        if graphml:
            nodes = output.edge_node_order(edges.a, edges.b)
            ann = cnt.node_annotations(msgs, nodes, 2)
            output.write_cnt_graphml(edges, ann, 2, Path(tmp) / "e.graphml")
        else:
            output.write_cnt_csv(edges, Path(tmp) / "e.csv")
