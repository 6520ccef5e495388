"""The columnar copy of each ingest batch's new events, on the batch's receipt node.

Export at a million events per second does not fit in a relationship scan on two cores
(the expansion plus the property reads cost the server ~1.3-2 µs per event, the client's
decoding more). So every ingest batch also writes the events it *created* as a few array
properties on its ``(:IngestBatch)`` receipt, in the same transaction as the ``ACTED``
relationships (see ``cypher/README.md``)::

    colVersion  1
    colEvents   number of events in the copy
    colMinTs / colMaxTs           the copy's time range (epoch ms)
    colAccounts / colTargets / colActions   distinct keys (string lists)
    colAccount / colTarget / colAction      int32 little-endian index per event
    colTs       int64 little-endian epoch ms per event
    colTexts    the non-null texts, in event order;  colTextAt  their event positions (int32)

Event ids are not copied: storing them cost ingest about 10 µs of server CPU per event
(most of what the copy costs); an export with event ids scans the relationships.

The fixed-width columns are stored as strings holding their bytes (one code point per
byte, see :func:`_bytes`): one value per column over Bolt, turned into a NumPy array
without a Python object per event.

The copy is a cache of the relationships, never the record: :func:`plan` reads the
``ACTED`` count (an O(1) count-store lookup) and the sum of ``colEvents`` over the
receipts (one property per ~5k events); export uses the copies only when the two agree
and falls back to the relationship scan otherwise (e.g. data ingested before the copies
existed, or ``ACTED`` edited by hand). Erasure and retention rewrite the copies in the
same transaction as the relationships they delete (:func:`rewrite_batch`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from cib_detect.store import cypher
from cib_detect.store.graph_store import GraphStore, QuietList, QuietStr, Tx

VERSION = 1
KEY_PAGE = 10_000
#: Every property of the copy (set to null to remove the copy from a receipt).
PROPERTIES = (
    "colVersion", "colEvents", "colMinTs", "colMaxTs", "colAccounts", "colAccount",
    "colTargets", "colTarget", "colActions", "colAction", "colTs", "colTexts", "colTextAt",
    "colEventIds",
)  # fmt: skip
I4, I8 = np.dtype("<i4"), np.dtype("<i8")


def _bytes(values: Any, dtype: np.dtype[Any]) -> str:
    """A fixed-width column as a string of its bytes (each byte one code point U+00-U+FF).

    Not a byte array: the Python driver unpacks ``bytes`` values at about 1 µs per byte,
    strings at C speed."""
    return QuietStr(np.asarray(values, dtype=dtype).tobytes().decode("latin-1"))


def _array(text: str | None, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    return np.frombuffer((text or "").encode("latin-1"), dtype=dtype)


def copy_properties(params: dict[str, Any]) -> dict[str, Any]:
    """The copy of the events in ``params`` (the parameters of :data:`cypher.INGEST_EVENTS`
    for exactly the events a batch creates); ``{}`` when there are none."""
    n = len(params["ids"])
    if n == 0:
        return {}
    ts = np.asarray(params["ts"], dtype=np.int64)
    props: dict[str, Any] = {
        "colVersion": VERSION,
        "colEvents": n,
        "colMinTs": int(ts.min()),
        "colMaxTs": int(ts.max()),
        "colAccounts": QuietList(params["accounts"]),
        "colAccount": _bytes(params["ai"], I4),
        "colTargets": QuietList(params["targets"]),
        "colTarget": _bytes(params["ti"], I4),
        "colActions": list(params["actions"]),
        "colAction": _bytes(params["act"], I4),
        "colTs": _bytes(ts, I8),
        "colTexts": None,
        "colTextAt": None,
    }
    text = params.get("text")
    if text is not None:
        at = [i for i, x in enumerate(text) if x is not None]
        if at:
            props["colTexts"] = QuietList([text[i] for i in at])
            props["colTextAt"] = _bytes(at, I4)
    return props


@dataclass
class BatchCopy:
    """One receipt's copy, decoded."""

    n: int
    accounts: list[str]
    account: npt.NDArray[np.int32]
    targets: list[str]
    target: npt.NDArray[np.int32]
    actions: list[str]
    action: npt.NDArray[np.int32]
    ts: npt.NDArray[np.int64]
    texts: list[str]
    text_at: npt.NDArray[np.int32]
    event_ids: list[str] | None

    @classmethod
    def decode(cls, rec: dict[str, Any]) -> BatchCopy | None:
        """From a ``b {.col…}`` map; None when the copy is absent or inconsistent."""
        n = rec.get("colEvents")
        if not n or rec.get("colVersion") != VERSION:
            return None
        try:
            out = cls(
                n=int(n),
                accounts=list(rec["colAccounts"] or []),
                account=_array(rec["colAccount"], I4),
                targets=list(rec["colTargets"] or []),
                target=_array(rec["colTarget"], I4),
                actions=list(rec["colActions"] or []),
                action=_array(rec["colAction"], I4),
                ts=_array(rec["colTs"], I8),
                texts=list(rec.get("colTexts") or []),
                text_at=_array(rec.get("colTextAt"), I4),
                event_ids=rec.get("colEventIds"),
            )
        except (AttributeError, KeyError, TypeError, ValueError):
            return None
        return out if out.consistent() else None

    def consistent(self) -> bool:
        """Every column has one value per event and every index is in range."""
        n = self.n
        cols = (self.account, self.target, self.action, self.ts)
        if any(c.size != n for c in cols) or len(self.texts) != self.text_at.size:
            return False
        if self.event_ids is not None and len(self.event_ids) != n:
            return False
        for idx, keys in ((self.account, self.accounts), (self.target, self.targets),
                          (self.action, self.actions), (self.text_at, range(n))):  # fmt: skip
            if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= len(keys)):
                return False
        return True

    def keep(self, mask: npt.NDArray[np.bool_]) -> dict[str, Any]:
        """The receipt's copy properties with only the events where ``mask`` is true (all
        null when none is left): keys no kept event uses are dropped."""
        k = int(mask.sum())
        if k == 0:
            return dict.fromkeys(PROPERTIES)
        ua, ai = np.unique(self.account[mask], return_inverse=True)
        ut, ti = np.unique(self.target[mask], return_inverse=True)
        uc, ci = np.unique(self.action[mask], return_inverse=True)
        pos = np.cumsum(mask) - 1
        kept_text = mask[self.text_at] if self.text_at.size else np.zeros(0, np.bool_)
        ts = self.ts[mask]
        return {
            "colVersion": VERSION,
            "colEvents": k,
            "colMinTs": int(ts.min()),
            "colMaxTs": int(ts.max()),
            "colAccounts": [self.accounts[i] for i in ua.tolist()],
            "colAccount": _bytes(ai, I4),
            "colTargets": [self.targets[i] for i in ut.tolist()],
            "colTarget": _bytes(ti, I4),
            "colActions": [self.actions[i] for i in uc.tolist()],
            "colAction": _bytes(ci, I4),
            "colTs": _bytes(ts, I8),
            "colTexts": [t for t, m in zip(self.texts, kept_text.tolist(), strict=True) if m]
            or None,
            "colTextAt": _bytes(pos[self.text_at[kept_text]], I4) if kept_text.any() else None,
            "colEventIds": None,  # copies written before ids were left out lose them here
        }


@dataclass(frozen=True)
class Plan:
    """The receipts holding a copy, in token order, and whether the copies are complete."""

    acted: int  # ACTED relationships in the graph
    tokens: list[str]
    sizes: npt.NDArray[np.int64]
    min_ts: npt.NDArray[np.int64]
    max_ts: npt.NDArray[np.int64]

    @property
    def complete(self) -> bool:
        """The copies hold as many events as there are ACTED relationships."""
        return int(self.sizes.sum()) == self.acted


def plan(store: GraphStore, *, key_page: int = KEY_PAGE) -> Plan:
    """Every receipt with a copy (keyset pages by token) and the ``ACTED`` count."""
    acted = int(store.read(cypher.COPY_ACTED_COUNT)[0]["events"])
    tokens: list[str] = []
    sizes: list[int] = []
    lo: list[int] = []
    hi: list[int] = []
    for rec in store.keyset_pages(cypher.COPY_RECEIPTS, "tokens", page_size=key_page):
        tokens.extend(rec["tokens"])
        sizes.extend(rec["sizes"])
        lo.extend(rec["minTs"])
        hi.extend(rec["maxTs"])
    return Plan(acted, tokens, _i64(sizes), _i64(lo), _i64(hi))


def _i64(values: list[int]) -> npt.NDArray[np.int64]:
    return np.asarray(values, dtype=np.int64)


def read_copies(store: GraphStore, tokens: list[str]) -> list[BatchCopy | None]:
    """The copies of the receipts ``tokens`` (None for a missing or inconsistent one)."""
    with store.errors("export"):
        rows = store.read(cypher.COPY_READ, {"tokens": tokens})
    by_token = {r["token"]: BatchCopy.decode(r["batch"]) for r in rows}
    return [by_token.get(t) for t in tokens]


# --------------------------------------------------------------------------- rewrites


def rewrite_batch(tx: Tx, token: str, drop: Any) -> int:
    """In ``tx``: lock receipt ``token`` and rewrite its copy without the events
    ``drop(copy)`` selects (a boolean mask). Returns how many events left the copy; their
    relationships are the caller's to delete (erasure and retention do, right after)."""
    rec = tx.run(cypher.COPY_LOCK_READ, {"token": token}).single()
    if rec is None:
        return 0
    copy = BatchCopy.decode(rec["batch"])
    if copy is None:
        return 0
    mask: npt.NDArray[np.bool_] = np.asarray(drop(copy), dtype=np.bool_)
    if not mask.any():
        return 0
    tx.run(cypher.COPY_SET, {"token": token, "props": copy.keep(~mask)}).consume()
    return int(mask.sum())


def erase_account_copies(store: GraphStore, account_id: str) -> int:
    """Drops the account's events from the copies, one receipt per transaction; returns
    how many left the copies (the caller deletes the relationships)."""
    tokens: list[str] = store.read(cypher.COPY_WITH_ACCOUNT, {"accountId": account_id})[0]["tokens"]

    def drop(copy: BatchCopy) -> npt.NDArray[np.bool_]:
        if account_id not in copy.accounts:
            return np.zeros(copy.n, np.bool_)
        return np.asarray(copy.account == copy.accounts.index(account_id), dtype=np.bool_)

    return _rewrite_all(store, tokens, drop)


def retention_copies(store: GraphStore, cutoff: int) -> int:
    """Drops the events before ``cutoff`` (epoch ms) from the copies, one receipt per
    transaction; returns how many left the copies (the caller deletes the relationships)."""
    tokens: list[str] = store.read(cypher.COPY_BEFORE, {"cutoff": cutoff})[0]["tokens"]
    return _rewrite_all(store, tokens, lambda copy: copy.ts < cutoff)


def _rewrite_all(store: GraphStore, tokens: list[str], drop: Any) -> int:
    total = 0
    for token in tokens:

        def work(tx: Tx, token: str = token) -> int:
            return rewrite_batch(tx, token, drop)

        with store.errors("erasure"):
            total += store.write_tx(work)
    return total
