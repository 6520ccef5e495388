"""The toolkit's two tables, ``edge`` and ``message_url``, as columns (profile ``cnt``).

``edge`` is one row per message: the first CSV row of each ``message_id`` (``insert or
ignore``, ``preprocess.py:97``), empty ``repost_id``/``reply_id`` NULL.
``message_url`` is one row per (message_id, url) of every row without ``repost_id``,
``urls`` split on single spaces, first wins -- a repeated message id still adds its new
urls with its own user and time (``preprocess.py:105-111``).

From the toolkit's CSV (:func:`messages_from_table`) or from our events
(:func:`messages_from_events`, the messages its ``preprocess_data`` would receive).
Numba is imported only once the Arrow steps are done, so that the input is decoded
while another thread loads the kernels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from cib_detect.compat.io import encode_sorted, python_floats, string_buffers

if TYPE_CHECKING:
    from cib_detect.model import EventTable

F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]

#: Default action names of our events for the toolkit's message kinds.
REPOST_ACTIONS = ("retweet", "repost")
REPLY_ACTIONS = ("reply",)
LINK_ACTIONS = ("link", "url")
#: Which columns each network reads (profile ``cnt`` decodes only those).
NETWORK_NEEDS = {
    "co_retweet": ("repost",),
    "co_reply": ("reply",),
    "co_tweet": ("message",),
    "co_similar_tweet": ("message",),
    "co_post": (),
    "co_link": ("urls",),
}


@dataclass
class CntMessages:
    """The toolkit's ``edge`` and ``message_url`` tables as columns.

    Edge rows are in insertion (rowid) order. User codes index ``users`` (bytewise
    sorted, so code order is the toolkit's output order); -1 stands for NULL.
    """

    users: list[str]
    user: I32
    username: I32  # codes into ``usernames`` (bytewise sorted)
    usernames: list[str]
    repost: I64
    reply: I64
    message: pa.Array  # string per edge row
    ts: F64
    url_user: I32
    url_msg: I64
    url_ts: F64
    url: I64  # codes into ``urls``
    urls: pa.Array
    rows: int = 0  # input rows read
    url_msg_unique: bool = False  # every message has at most one message_url row

    @property
    def n(self) -> int:
        return int(self.user.shape[0])


def _codes(arr: pa.Array | pa.ChunkedArray) -> tuple[I64, pa.Array]:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    enc = pc.dictionary_encode(arr)
    return np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64), enc.dictionary


def _nullable_codes(arr: pa.Array) -> I64:
    """Dictionary codes with -1 where the value is the empty string (NULL)."""
    codes, values = _codes(arr)
    empty = np.asarray(pc.equal(values, "").to_numpy(zero_copy_only=False), dtype=np.bool_)
    if empty.any():
        codes = np.where(empty[codes], -1, codes)
    return codes


class _Columns:
    """A table's columns as single arrays, combined on first use."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.done: dict[str, pa.Array] = {}

    def __getitem__(self, name: str) -> pa.Array:
        if name not in self.done:
            col = self.table[name]
            if col.num_chunks == 1:
                self.done[name] = col.chunk(0)  # combine_chunks would copy it
                return self.done[name]
            if sum(c.nbytes for c in col.chunks) >= 2**31 - 1:
                col = col.cast(pa.large_string())  # one string array holds < 2 GiB
            self.done[name] = col.combine_chunks()
        return self.done[name]


def _all_distinct(col: pa.Array) -> bool:
    """Whether every string differs (exact: distinct hashes mean distinct strings)."""
    from cib_detect.kernels import compat as k

    return bool(k.strings_distinct(*string_buffers(col)))


def messages_from_table(
    table: pa.Table, network: str | None = None, *, annotate: bool = True
) -> CntMessages:
    """The toolkit's tables from its CSV columns (:func:`~cib_detect.compat.io.read_cnt_table`).

    With ``network`` only the columns that network reads are decoded (the others stay
    empty); ``annotate`` also decodes what the GraphML node annotations need. The Arrow
    steps come first: they run while the Numba kernels are still being loaded.
    """
    n = table.num_rows
    col = _Columns(table)
    need = set(NETWORK_NEEDS.get(network or "", ("repost", "reply", "message", "urls")))
    if annotate:
        need |= {"message", "username"}
    none = np.zeros(0, dtype=np.int64)
    user_all, users = encode_sorted(col["user_id"])
    uname_all: I32 = none.astype(np.int32)
    usernames: list[str] = []
    if "username" in need:
        uname_all, usernames = encode_sorted(col["username"])
    no_repost = np.asarray(
        pc.equal(col["repost_id"], "").to_numpy(zero_copy_only=False), dtype=np.bool_
    )
    repost_all = np.where(no_repost, -1, 0)
    if "repost" in need:
        repost_all = _nullable_codes(col["repost_id"])
    reply_all = none
    if "reply" in need:
        reply_all = _nullable_codes(col["reply_id"])
    message = col["message"] if "message" in need else pa.array([], pa.string())
    parent, url = none, none
    urls = pa.array([], pa.string())
    split_urls = False
    if "urls" in need:
        # message_url: every url of the rows without repost_id
        url_rows = np.flatnonzero(no_repost)
        raw = col["urls"] if url_rows.size == n else pc.take(col["urls"], pa.array(url_rows))
        split_urls = bool(pc.any(pc.match_substring(raw, " ")).as_py())
        if split_urls:
            split = pc.split_pattern(raw, " ")
            idx = np.asarray(pc.list_parent_indices(split).to_numpy(), dtype=np.int64)
            parent = url_rows[idx]
            url, urls = _codes(pc.list_flatten(split))
        else:  # one url per row
            parent = url_rows
            url, urls = _codes(raw)
    # the toolkit parses every row's timestamp (Numba only for other than plain digits)
    ts_all = python_floats(col["timestamp"])
    # -- Numba from here on
    from cib_detect.kernels import compat as k

    if _all_distinct(col["message_id"]):
        mid: I64 = np.arange(n, dtype=np.int64)
        edge_rows: I64 = mid
    else:
        mid, mids = _codes(col["message_id"])
        edge_rows = np.sort(k.first_index(mid, len(mids)))
    unique = edge_rows.size == n
    url_msg = mid[parent] if parent.size else none
    if parent.size and (split_urls or not unique):
        # one message_url row per (message_id, url): the first
        key = url_msg * max(1, len(urls)) + url
        _, first = np.unique(key, return_index=True)
        keep = np.sort(first)
        parent, url, url_msg = parent[keep], url[keep], url_msg[keep]

    def edge(values: Any) -> Any:
        if unique or len(values) == 0:
            return values
        if isinstance(values, pa.Array):
            return pc.take(values, pa.array(edge_rows))
        return values[edge_rows]

    return CntMessages(
        users=users,
        user=edge(user_all),
        username=edge(uname_all),
        usernames=usernames,
        repost=edge(repost_all),
        reply=edge(reply_all),
        message=edge(message),
        ts=edge(ts_all),
        url_user=user_all[parent],
        url_msg=url_msg,
        url_ts=ts_all[parent],
        url=url,
        urls=urls,
        rows=n,
        url_msg_unique=unique and not split_urls,
    )


def messages_from_events(
    events: EventTable,
    *,
    repost_actions: tuple[str, ...] = REPOST_ACTIONS,
    reply_actions: tuple[str, ...] = REPLY_ACTIONS,
    link_actions: tuple[str, ...] = LINK_ACTIONS,
) -> CntMessages:
    """The toolkit's tables from our events: one message per event (``event_id`` or row),
    ``user_id`` = ``username`` = ``account_id``, ``message`` = ``text`` (empty when
    missing), ``timestamp`` in seconds; ``repost_id``, ``reply_id`` or the single url
    is the ``target`` when the action is one of the repost, reply or link actions."""
    n = events.n

    def role(names: tuple[str, ...]) -> npt.NDArray[np.bool_]:
        per_action = np.array([a in names for a in events.actions], dtype=np.bool_)
        return per_action[events.action] if n else np.zeros(0, dtype=np.bool_)

    target = events.target.astype(np.int64)
    repost = np.where(role(repost_actions), target, -1)
    reply = np.where(role(reply_actions), target, -1)
    if events.text is None:
        message = pa.array([""] * n, pa.string())
    else:
        text = events.text
        if isinstance(text, pa.ChunkedArray):
            text = text.combine_chunks()
        message = pc.fill_null(pc.cast(text, pa.string()), "")
    ts = events.ts.astype(np.float64) / 1000.0
    link = np.flatnonzero(role(link_actions))
    return CntMessages(
        users=events.accounts,
        user=events.account,
        username=events.account,
        usernames=events.accounts,
        repost=repost,
        reply=reply,
        message=message,
        ts=ts,
        url_user=events.account[link],
        url_msg=link.astype(np.int64),
        url_ts=ts[link],
        url=target[link],
        urls=pa.array(events.targets, pa.string()),
        rows=n,
        url_msg_unique=True,  # one message per event, at most one url each
    )


# --------------------------------------------------------------------------- text
