"""Helpers of the ``cnt`` tests: seeded inputs in the toolkit's CSV layout, the real
coordination-network-toolkit run on its own SQLite database, and ours on the same file.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import random
import sqlite3
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

from coordination_network_toolkit import compute_networks as cn
from coordination_network_toolkit.output import write_output
from coordination_network_toolkit.preprocess import preprocess_csv_files
from coordination_network_toolkit.similarity import get_similarity_fn_from_min_size

from cib_detect.compat import cnt, output
from cib_detect.compat.io import read_cnt_table

HEADER = [
    "message_id",
    "user_id",
    "username",
    "repost_id",
    "reply_id",
    "message",
    "timestamp",
    "urls",
]
#: Accounts whose ids need quoting, escaping and bytewise ordering (``Z`` < ``a`` < ``é``).
USERS = ["alice", "Bob", "bob", 'q"uote', "com,ma", "é", "Zed", "0", "sp ace", "<x&y>", "ñ"]
TEXTS = [
    "Hello world",
    "hello   WORLD",
    "@bob hello world",
    "hello world @bob",
    "Buy now!!! http://x.y/z",
    "buy NOW!!! http://x.y/z",
    "",
    "@only",
    "can't stop won't stop",
    "e.g. this, that",
    "Ünïcödé text here",
    "multi\nline text",
    'quote "inside" here',
    "a, b, c, d",
    "the quick brown fox jumps",
    "the quick brown fox leaps",
    "tab\tseparated\ttext",
]
URLS = ["http://a.example/1", "http://b.example/2", "x", "y", "é/ü"]


def make_rows(n: int, seed: int, *, odd_times: bool = True) -> list[list[str]]:
    """``n`` toolkit rows with repeated actions, self co-action, duplicate message ids,
    several / empty / doubled-space urls, reposts with urls, ties at window edges,
    fractional, NaN, infinite and whitespace-padded timestamps."""
    rng = random.Random(seed)
    rows: list[list[str]] = []
    for i in range(n):
        user = rng.choice(USERS[: rng.choice([4, len(USERS)])])
        mid = f"m{i}"
        if rows and rng.random() < 0.05:
            mid = rng.choice(rows)[0]  # a duplicate message id
        repost = rng.choice(["t1", "t2", "t3"]) if rng.random() < 0.3 else ""
        reply = rng.choice(["r1", "r2", "", ""]) if rng.random() < 0.4 else ""
        base = rng.choice([0, 1, 2, 3, 5, 8, 10, 30, 31, 60, 61, 100])
        ts = str(1_000 + base)
        if odd_times:
            r = rng.random()
            if r < 0.08:
                ts = f"{1_000 + base}.5"
            elif r < 0.1:
                ts = rng.choice(["nan", "inf", " 1030 ", "1.03e3", "+1031", "1_030", "-inf"])
            elif r < 0.12:
                ts = f"{1_000 + base}.1"
        k = rng.choice([0, 1, 1, 1, 2, 3])
        urls = " ".join(rng.choice(URLS) for _ in range(k))
        if rng.random() < 0.05:
            urls = urls.replace(" ", "  ") + " "
        text = rng.choice(TEXTS)
        rows.append([mid, user, f"name-{user}-{rng.randint(0, 2)}", repost, reply, text, ts, urls])
    return rows


def write_csv(path: Path, rows: list[list[str]], *, crlf: bool = False) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n" if crlf else "\n")
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


class Toolkit:
    """The real toolkit on one input file: ``preprocess`` once, then ``compute`` calls."""

    def __init__(self, csv_path: Path, db_path: Path) -> None:
        self.db = str(db_path)
        with redirect_stdout(io.StringIO()):
            preprocess_csv_files(self.db, [str(csv_path)])

    def compute(self, network: str, window: int, min_w: int, **kw: Any) -> None:
        args: dict[str, Any] = {"min_edge_weight": min_w, "n_threads": 1}
        if network == "co_similar_tweet":
            args["similarity_threshold"] = kw.get("similarity_threshold", 0.8)
            args["similarity_function"] = get_similarity_fn_from_min_size(
                kw.get("min_document_size_similarity", 1.0)
            )
        if network == "co_link":
            args["resolved"] = kw.get("resolved", False)
        fn = {
            "co_retweet": cn.compute_co_retweet_parallel,
            "co_tweet": cn.compute_co_tweet_network,
            "co_reply": cn.compute_co_reply_network,
            "co_similar_tweet": cn.compute_co_similar_tweet,
            "co_link": cn.compute_co_link_network,
            "co_post": cn.compute_co_post_network,
        }[network]
        with redirect_stdout(io.StringIO()):
            fn(self.db, window, **args)

    def edges(self, network: str) -> list[tuple[str, str, int]]:
        """The network table, self pairs included, in primary-key order."""
        with sqlite3.connect(self.db) as db:
            rows = db.execute(f"select user_1, user_2, weight from {network}_network").fetchall()
        return [(str(a), str(b), int(w)) for a, b, w in rows]

    def write(self, network: str, path: Path, fmt: str, **kw: Any) -> bytes:
        with redirect_stdout(io.StringIO()):
            write_output(self.db, network, str(path), output_type=fmt, **kw)
        return path.read_bytes()


def same_graphml(mine: bytes, theirs: bytes) -> bool:
    """Byte equality; with ``lxml`` installed networkx lays GraphML out differently, so
    then the parsed graphs (nodes, edges, attributes, order) are compared instead."""
    if mine == theirs or importlib.util.find_spec("lxml") is None:
        return mine == theirs
    import networkx as nx

    a = nx.read_graphml(io.BytesIO(mine))
    b = nx.read_graphml(io.BytesIO(theirs))
    return list(a.nodes(data=True)) == list(b.nodes(data=True)) and list(
        a.edges(data=True)
    ) == list(b.edges(data=True))


def ours(csv_path: Path, network: str, window: int, min_w: int, **kw: Any) -> cnt.DirectedEdges:
    """Profile ``cnt`` in-process, self pairs included (as in the toolkit's table)."""
    msgs = cnt.messages_from_table(read_cnt_table(csv_path), network)
    params = cnt.CntParams(
        network=network,
        time_window=window,
        min_edge_weight=min_w,
        include_self_loops=True,
        **kw,
    )
    return cnt.compute(msgs, params)


def as_list(edges: cnt.DirectedEdges) -> list[tuple[str, str, int]]:
    return [
        (edges.users[a], edges.users[b], int(w))
        for a, b, w in zip(edges.a.tolist(), edges.b.tolist(), edges.weight.tolist(), strict=True)
    ]


def ours_files(
    csv_path: Path, network: str, window: int, min_w: int, out: Path, **kw: Any
) -> bytes:
    """Our output file (``.csv`` or ``.graphml``) for the same parameters."""
    n_messages = kw.pop("n_messages", 10)
    loops = kw.pop("include_self_loops", False)
    table = read_cnt_table(csv_path)
    msgs = cnt.messages_from_table(table, network, annotate=out.suffix == ".graphml")
    params = cnt.CntParams(
        network=network, time_window=window, min_edge_weight=min_w, include_self_loops=loops, **kw
    )
    edges = cnt.compute(msgs, params)
    if out.suffix == ".graphml":
        nodes = output.edge_node_order(edges.a, edges.b)
        output.write_cnt_graphml(
            edges, cnt.node_annotations(msgs, nodes, n_messages), n_messages, out
        )
    else:
        output.write_cnt_csv(edges, out)
    return out.read_bytes()
