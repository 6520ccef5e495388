"""Profile ``coortweet``: CooRTweet 2.1's ``detect_groups`` + ``generate_coordinated_network``.

Input rows are (``account_id``, ``object_id``, ``content_id``, ``timestamp``); see
:mod:`cib_detect.compat.io`. The rules, in order:

1. Keep the rows of accounts with at least ``min_participation`` rows.
2. For each object, every unordered pair of its rows with ``|dt| <= time_window``
   (inclusive). The older row of a pair is the one with the smaller time, on a tie the
   one earlier in the input (CooRTweet joins on ``id < id`` and swaps on ``dt > 0``).
3. ``remove_loops`` (default): drop a pair when the object id equals either row's
   content id, when both content ids are equal, or when both accounts are equal.
4. ``filter_min_participation`` (when ``min_participation >= 1``): ``C`` = the content
   ids on either side of the remaining pairs; an account qualifies with at least
   ``min_participation`` rows whose content id is in ``C``; a pair stays when either of
   its content ids is the content id of a qualifying account's row.
5. Edge of the unordered account pair: ``weight`` = its number of pairs, plus
   ``avg_time_delta`` (seconds), ``n_content_id`` / ``n_content_id_y`` (distinct older /
   newer content ids) and ``edge_symmetry_score`` = min/max of those two.
6. ``edge_weight`` ``q``: the threshold is R's ``quantile(weights, q)`` (type 7: linear
   interpolation, computed with R's own expression); an edge is kept when its weight is
   strictly greater. The subgraph keeps those edges and the vertices they touch.

Timestamps are handled in exact milliseconds. Accounts of an edge are written in
bytewise order (R orders them with ``pmin``/``pmax`` in the session's collation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from cib_detect.compat.io import CoorInput
from cib_detect.errors import InvalidInput
from cib_detect.kernels import compat as k

F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class CoorParams:
    """``detect_groups`` and ``generate_coordinated_network`` arguments (their defaults)."""

    time_window: int = 10  # seconds
    min_participation: int = 2
    remove_loops: bool = True
    edge_weight: float = 0.5


@dataclass
class CoorNetwork:
    """The full undirected graph, its threshold and which edges pass it."""

    accounts: list[str]
    a: I32
    b: I32
    weight: I64
    avg_time_delta: F64  # seconds
    n_content_id: I64
    n_content_id_y: I64
    edge_symmetry_score: F64
    threshold: float  # NaN without edges
    keep: npt.NDArray[np.bool_]
    pair_rows: int
    input_rows: int
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def n_edges(self) -> int:
        return int(self.a.shape[0])

    def nodes(self, mask: npt.NDArray[np.bool_] | None = None) -> int:
        a, b = (self.a, self.b) if mask is None else (self.a[mask], self.b[mask])
        return int(np.unique(np.concatenate((a, b))).size)

    def summary(self) -> dict[str, object]:
        return {
            "full_graph": {"nodes": self.nodes(), "edges": self.n_edges},
            "subgraph": {"nodes": self.nodes(self.keep), "edges": int(self.keep.sum())},
            "threshold": None if math.isnan(self.threshold) else self.threshold,
            "pair_rows": self.pair_rows,
            **self.stats,
        }


def quantile_type7(values: I64, prob: float) -> float:
    """R's ``quantile(x, prob)`` (type 7), with R's floating-point steps."""
    n = int(values.shape[0])
    if n == 0:
        return math.nan
    x = np.sort(values).astype(np.float64)
    index = 1.0 + max(n - 1, 0) * prob
    lo = math.floor(index)
    hi = math.ceil(index)
    qs = float(x[lo - 1])
    if index > lo and float(x[hi - 1]) != qs:
        h = index - lo
        qs = (1.0 - h) * qs + h * float(x[hi - 1])
    return qs


def validate_params(p: CoorParams) -> None:
    if not (0.0 <= p.edge_weight <= 1.0) or math.isnan(p.edge_weight):
        raise InvalidInput("--edge-weight must be a number between 0 and 1 (a quantile)")
    if p.time_window < 0:
        raise InvalidInput("--time-window must be >= 0 seconds")


def build(inp: CoorInput, p: CoorParams) -> CoorNetwork:
    """Run ``detect_groups`` and ``generate_coordinated_network`` on the rows."""
    validate_params(p)
    n_acc = len(inp.accounts)
    counts = np.bincount(inp.account, minlength=n_acc)
    rows = np.flatnonzero(counts[inp.account] >= p.min_participation)
    acc = inp.account[rows]
    content = inp.content_code[rows]
    ts = inp.ts[rows]
    obj_codes, obj = (
        np.unique(inp.object_code[rows], return_inverse=True)
        if rows.size
        else (np.zeros(0, np.int64), np.zeros(0, np.int64))
    )
    order, obj_ptr = k.sort_by_object_time(
        obj.astype(np.int64), ts.astype(np.float64), int(obj_codes.size)
    )
    acc_s = acc[order].astype(np.int32)
    content_s = content[order].astype(np.int64)
    ts_s = ts[order]
    old, new = k.coortweet_pairs(
        obj_ptr, ts_s, acc_s, content_s, obj_codes.astype(np.int64),
        np.int64(p.time_window) * 1000, p.remove_loops,
    )  # fmt: skip
    raw_pairs = int(old.shape[0])
    if p.min_participation >= 1 and old.size:
        keep = k.coortweet_post_filter(
            old, new, acc_s, content_s, n_acc, inp.n_ids, p.min_participation
        )
        old, new = old[keep], new[keep]
    a_old, a_new = acc_s[old], acc_s[new]
    a_lo = np.minimum(a_old, a_new)
    a_hi = np.maximum(a_old, a_new)
    pair_order = np.lexsort((a_hi, a_lo))
    ea, eb, w, sdt, n_old, n_new = k.coortweet_edges(
        pair_order, a_lo, a_hi, content_s[old], content_s[new], ts_s[new] - ts_s[old], inp.n_ids
    )
    threshold = quantile_type7(w, p.edge_weight)
    keep_edges = w > threshold if not math.isnan(threshold) else np.zeros(w.size, np.bool_)
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = sdt / np.maximum(w, 1) / 1000.0
        sym = np.minimum(n_old, n_new) / np.maximum(np.maximum(n_old, n_new), 1)
    return CoorNetwork(
        accounts=inp.accounts,
        a=ea,
        b=eb,
        weight=w,
        avg_time_delta=avg,
        n_content_id=n_old,
        n_content_id_y=n_new,
        edge_symmetry_score=sym.astype(np.float64),
        threshold=threshold,
        keep=keep_edges,
        pair_rows=int(old.shape[0]),
        input_rows=int(inp.account.shape[0]),
        stats={
            "rows_after_min_participation": int(rows.size),
            "pairs_before_post_filter": raw_pairs,
        },
    )


def igraph_line(nodes: int, edges: int) -> str:
    """How R prints an undirected, named, weighted igraph's header."""
    return f"IGRAPH UNW- {nodes} {edges} --"
