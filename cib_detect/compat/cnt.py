"""Profile ``cnt``: the networks of coordination-network-toolkit 1.5.2, exactly.

The toolkit keeps two tables (``database.py:30-56``): ``edge``, one row per message
(``insert or ignore`` on ``message_id``: the first row of an id wins), and
``message_url``, one row per (message, url) of every CSV row whose ``repost_id`` is
empty, ``insert or ignore`` on (message_id, url) -- so a repeated message id still adds
its new urls, with its own user and time (``preprocess.py:96-111``). Empty
``repost_id``/``reply_id`` are NULL; ``urls`` is split on single spaces, so an empty
field is the url ``""`` (``preprocess.py:43``). Each network is one self-join
(``compute_networks.py``):

==================  ==========================================  =======================
network             rows (both sides of the join)               same object when
==================  ==========================================  =======================
co_retweet          edge rows with a repost_id                  equal repost_id
co_reply            edge rows without repost_id, with reply_id  equal reply_id
co_tweet            edge rows without repost_id                 equal normalised text
co_similar_tweet    edge rows without repost_id                 Jaccard >= threshold
co_post             all edge rows                               (always)
co_link             message_url rows                            equal url
==================  ==========================================  =======================

Two rows co-act when ``e2.timestamp between e1.timestamp - w and e1.timestamp + w``:
inclusive, in SQLite arithmetic. Timestamps are ``float(timestamp)``; ``edge`` stores
integral values as INTEGER, ``message_url`` keeps REAL, NaN is NULL (never co-acts). We
compute in float64, which is exact for ``message_url`` and, for ``edge``, as long as
``|t| + |w| <= 2**53`` (checked). The weight of the directed edge ``(u1, u2)`` is
``count(distinct e1.message_id)``: the messages of ``u1`` with at least one partner row
of ``u2``. Every message is its own partner, so self pairs exist; they are written
only with ``include_self_loops`` (``graph.py:7-27``). Edges with ``weight <
min_edge_weight`` are dropped (``having weight >= ?``). Edges are listed in the table's
primary-key order: (user_1, user_2), bytewise.

Text: ``co_tweet`` compares ``" ".join(cleaner.sub("", text.lower()).split())``
(``similarity.py:23-36``); ``co_similar_tweet`` compares the token sets
``set(tokenize(text).split())`` (``similarity.py:39-85``) with Jaccard similarity,
which is 0 when either set has fewer than ``min_document_size_similarity`` tokens (if
that is > 0; otherwise empty sets divide by zero and the toolkit fails, and so do we).
Both use the ``regex`` package, as the toolkit does.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from cib_detect.compat.cnt_tables import (
    LINK_ACTIONS,
    NETWORK_NEEDS,
    REPLY_ACTIONS,
    REPOST_ACTIONS,
    CntMessages,
    _codes,
    _nullable_codes,
    messages_from_events,
    messages_from_table,
)
from cib_detect.errors import InvalidInput

F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]

__all__ = [
    "LINK_ACTIONS",
    "NETWORK_NEEDS",
    "NETWORK_TYPES",
    "REPLY_ACTIONS",
    "REPOST_ACTIONS",
    "CntMessages",
    "CntParams",
    "DirectedEdges",
    "compute",
    "describe",
    "messages_from_events",
    "messages_from_table",
    "node_annotations",
    "text_functions",
]

NETWORK_TYPES = ("co_retweet", "co_tweet", "co_similar_tweet", "co_link", "co_reply", "co_post")
#: Largest ``|t| + |w|`` for which float64 equals SQLite's INTEGER arithmetic.
EXACT_LIMIT = 2.0**53


@dataclass(frozen=True)
class CntParams:
    """The toolkit's ``compute`` options that change the network (its CLI defaults)."""

    network: str = "co_link"
    time_window: int = 1
    min_edge_weight: int = 2
    similarity_threshold: float = 0.8
    min_document_size_similarity: float = 1.0
    include_self_loops: bool = False
    resolved_urls: Path | None = None  # CSV url,resolved_url (the toolkit's resolved_url)


@dataclass
class DirectedEdges:
    """A toolkit network: directed edges in (user_1, user_2) order."""

    network: str
    a: I32
    b: I32
    weight: I64
    users: list[str]

    @property
    def n(self) -> int:
        return int(self.a.shape[0])


def _regex() -> Any:
    try:
        return importlib.import_module("regex")
    except ImportError:  # pragma: no cover - depends on the environment
        raise InvalidInput(
            "co_tweet and co_similar_tweet need the `regex` package, as the toolkit does "
            "(pip install regex)"
        ) from None


def text_functions() -> tuple[Callable[[str], str], Callable[[str], list[str]]]:
    """The toolkit's ``message_preprocessor`` and token set (``similarity.py``)."""
    regex = _regex()
    words = regex.compile(
        r"\b\p{Word_Break=WSegSpace}*'?", flags=regex.WORD | regex.UNICODE | regex.V1
    )
    mentions = regex.compile(r"@.*?(?=(?:\s|$))")

    def normalise(text: str) -> str:
        return " ".join(mentions.sub("", text.lower()).split())

    def token_set(text: str) -> list[str]:
        joined = " ".join(sorted({t for t in words.split(mentions.sub("", text.lower())) if t}))
        return sorted(set(joined.split()))

    return normalise, token_set


def _distinct(texts: pa.Array) -> tuple[I64, list[str]]:
    codes, values = _codes(texts)
    return codes, values.to_pylist()


def _text_objects(texts: pa.Array) -> I64:
    """Object code per row: equal after the toolkit's normalisation."""
    normalise, _ = text_functions()
    codes, values = _distinct(texts)
    norm = pa.array([normalise(v) for v in values], pa.string())
    remap, _ = _codes(norm)
    return remap[codes] if codes.size else codes


def _token_docs(texts: pa.Array) -> tuple[I64, I64, I64]:
    """(document per row, CSR pointer, sorted token ids) of the rows' token sets."""
    _, token_set = text_functions()
    codes, values = _distinct(texts)
    vocab: dict[str, int] = {}
    ptr = np.zeros(len(values) + 1, dtype=np.int64)
    ids: list[int] = []
    for d, v in enumerate(values):
        tok = sorted(vocab.setdefault(t, len(vocab)) for t in token_set(v))
        ids.extend(tok)
        ptr[d + 1] = len(ids)
    return codes, ptr, np.array(ids, dtype=np.int64)


# --------------------------------------------------------------------------- network


def _resolve(msgs: CntMessages, path: Path) -> tuple[npt.NDArray[np.bool_], I64]:
    """Rows of ``resolved_message_url`` (``urls.py:174-192``): each url mapped through
    the toolkit's ``resolved_url`` table (a CSV ``url,resolved_url``; urls missing from
    it or with an empty resolution are NULL and never co-link), one row per
    (message_id, resolved url), the first in ``message_url`` order."""
    try:
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types={"url": pa.string(), "resolved_url": pa.string()},
                include_columns=["url", "resolved_url"],
                strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, OSError, KeyError) as exc:
        raise InvalidInput(f"--resolved-urls {path}: {exc}") from None
    url_idx = pc.index_in(msgs.urls, table["url"].combine_chunks())
    res_of_url = np.asarray(pc.fill_null(url_idx, -1).to_numpy(zero_copy_only=False), np.int64)
    res_codes = _nullable_codes(table["resolved_url"].combine_chunks())
    mapped = np.where(res_of_url >= 0, res_codes[np.maximum(res_of_url, 0)], -1)
    obj = mapped[msgs.url] if msgs.url.size else msgs.url
    keep = obj >= 0
    idx = np.flatnonzero(keep)
    key = msgs.url_msg[idx] * (int(obj.max(initial=0)) + 1) + obj[idx]
    _, first = np.unique(key, return_index=True)
    keep[:] = False
    keep[idx[first]] = True
    return keep, obj


def _check_exact(ts: F64, width: int) -> None:
    finite = ts[np.isfinite(ts)]
    if finite.size and float(np.abs(finite).max()) + abs(width) > EXACT_LIMIT:
        raise InvalidInput(
            "timestamps (seconds) beyond ±2**53 minus the window: the toolkit's SQLite "
            "integer arithmetic cannot be reproduced exactly there"
        )


def _similarity_guard(
    msgs: CntMessages, sel: I64, empty_doc: npt.NDArray[np.bool_], p: CntParams
) -> None:
    """Plain Jaccard (min document size <= 0) divides by zero on two empty token sets;
    the toolkit fails when a selected user's message with no tokens meets itself."""
    counts = np.bincount(msgs.user[sel], minlength=len(msgs.users))
    selected_user = counts >= p.min_edge_weight
    bad = empty_doc & selected_user[msgs.user[sel]] & ~np.isnan(msgs.ts[sel])
    if bad.any():
        raise InvalidInput(
            "co_similar_tweet with --min-document-size-similarity <= 0: a message without "
            "tokens makes the toolkit's Jaccard similarity divide by zero (it fails there)"
        )


def compute(
    msgs: CntMessages, p: CntParams, *, threads: int = 2, split_rows: int = 100_000
) -> DirectedEdges:
    """One toolkit network over the messages; with more than ``split_rows`` rows the
    pair walk is split over ``threads`` (the kernels release the GIL)."""
    from cib_detect.kernels import compat as k

    if p.network not in NETWORK_TYPES:
        raise InvalidInput(f"unknown network {p.network!r}; use one of {', '.join(NETWORK_TYPES)}")
    n_users = len(msgs.users)
    by_message = False
    doc: I64 = np.zeros(0, dtype=np.int64)
    tok_ptr: I64 = np.zeros(1, dtype=np.int64)
    tok: I64 = np.zeros(0, dtype=np.int64)
    sim_mode = k.SIM_NONE
    if p.network == "co_link":
        obj, user, ts, msg = msgs.url, msgs.url_user, msgs.url_ts, msgs.url_msg
        if p.resolved_urls is not None:
            keep, obj = _resolve(msgs, p.resolved_urls)
            user, ts, msg, obj = user[keep], ts[keep], msg[keep], obj[keep]
        by_message = not msgs.url_msg_unique
    else:
        no_repost = msgs.repost < 0
        if p.network == "co_retweet":
            sel = np.flatnonzero(~no_repost)
            obj = msgs.repost[sel]
        elif p.network == "co_reply":
            sel = np.flatnonzero(no_repost & (msgs.reply >= 0))
            obj = msgs.reply[sel]
        elif p.network == "co_post":
            sel = np.arange(msgs.n, dtype=np.int64)
            obj = np.zeros(sel.size, dtype=np.int64)
        else:
            sel = np.flatnonzero(no_repost)
            texts = pc.take(msgs.message, pa.array(sel))
            if p.network == "co_tweet":
                obj = _text_objects(texts)
            else:
                obj = np.zeros(sel.size, dtype=np.int64)
                doc, tok_ptr, tok = _token_docs(texts)
                if p.min_document_size_similarity > 0:
                    sim_mode = k.SIM_MIN_SIZE
                else:
                    sim_mode = k.SIM_PLAIN
                    _similarity_guard(msgs, sel, np.diff(tok_ptr)[doc] == 0, p)
        user, ts, msg = msgs.user[sel], msgs.ts[sel], sel
        _check_exact(ts, p.time_window)
    ok = ~np.isnan(ts)  # NULL timestamps never co-act
    if not ok.all():
        user, ts, msg, obj = user[ok], ts[ok], msg[ok], obj[ok]
        doc = doc[ok] if doc.size else doc
    n_obj = int(obj.max()) + 1 if obj.size else 0
    if n_obj > 2 * obj.size + 1024:  # sparse codes: make them dense
        _, obj = np.unique(obj, return_inverse=True)
        n_obj = int(obj.max()) + 1
    lo, hi, user_s, doc_s, grp_ptr, grp_rows = k.cnt_prepare(
        np.asarray(obj, dtype=np.int64), np.asarray(ts, dtype=np.float64),
        np.asarray(user, dtype=np.int32), np.asarray(msg, dtype=np.int64), doc, n_obj, n_users,
        float(p.time_window), by_message,
    )  # fmt: skip
    args = (
        n_users,
        int(p.min_edge_weight),
        bool(p.include_self_loops),
        doc_s,
        tok_ptr,
        tok,
        float(p.similarity_threshold),
        float(p.min_document_size_similarity),
        sim_mode,
    )
    parts = threads if threads > 1 and user_s.shape[0] > split_rows else 1
    cuts = k.user_splits(user_s, grp_ptr, grp_rows, parts).tolist()

    def walk(i: int) -> tuple[I32, I32, I64]:
        return k.directed_weights(lo, hi, user_s, grp_ptr, grp_rows, cuts[i], cuts[i + 1], *args)  # type: ignore[no-any-return]

    if parts == 1:
        a, b, w = walk(0)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(parts, thread_name_prefix="cib-cnt") as pool:
            res = list(pool.map(walk, range(parts)))
        a, b, w = (np.concatenate([r[j] for r in res]) for j in range(3))
    return DirectedEdges(network=p.network, a=a, b=b, weight=w, users=msgs.users)


def node_annotations(
    msgs: CntMessages, nodes: I32, n_messages: int
) -> dict[int, tuple[str, list[str]]]:
    """What the toolkit's GraphML puts on each node (``graph.py:30-86``): the largest
    ``username`` of the user's messages and its ``n_messages`` latest messages (time
    descending, NULL last, later rows first on ties, padded with ""). Users without a
    row in ``edge`` get nothing."""
    from cib_detect.kernels import compat as k

    n_users = len(msgs.users)
    wanted = np.zeros(n_users, dtype=np.bool_)
    wanted[nodes] = True
    best = k.max_per_group(msgs.user, msgs.username.astype(np.int64), n_users)
    ptr, rows = k.latest_rows(msgs.user, msgs.ts, wanted, n_users, max(0, n_messages))
    texts = pc.take(msgs.message, pa.array(rows)).to_pylist() if rows.size else []
    out: dict[int, tuple[str, list[str]]] = {}
    for u in np.flatnonzero(wanted & (best >= 0)).tolist():
        mine = texts[ptr[u] : ptr[u + 1]]
        out[u] = (msgs.usernames[best[u]], mine + [""] * (n_messages - len(mine)))
    return out


def describe(p: CntParams) -> dict[str, Any]:
    out: dict[str, Any] = {
        "network": p.network,
        "time_window": p.time_window,
        "min_edge_weight": p.min_edge_weight,
        "include_self_loops": p.include_self_loops,
    }
    if p.network == "co_similar_tweet":
        out["similarity_threshold"] = p.similarity_threshold
        out["min_document_size_similarity"] = p.min_document_size_similarity
    if p.network == "co_link":
        out["resolved_urls"] = None if p.resolved_urls is None else str(p.resolved_urls)
    return out
