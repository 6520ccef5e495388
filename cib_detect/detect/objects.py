"""Build the per-object event layout the co-action kernels walk.

An object is what two accounts must both hit to co-act: one (action, target) pair for
the co-action signal, or one near-duplicate text group for the text signal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from cib_detect.kernels import coaction, minhash
from cib_detect.model import EventTable

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]


@dataclass
class ObjectEvents:
    """Events grouped by object and sorted by time inside each object.

    ``event`` maps each row back to the :class:`EventTable` row. ``acc_ptr``/
    ``acc_obj``/``acc_cnt`` list, per account, its objects with its (capped) event count.
    """

    obj_ptr: I64
    acc: I32
    ts: I64
    event: I64
    n_accounts: int
    acc_ptr: I64
    acc_obj: I32
    acc_cnt: I32

    @property
    def n_objects(self) -> int:
        return int(self.obj_ptr.shape[0] - 1)


def _sort_by_object_time(obj: I64, ts: I64) -> I64:
    """Stable order by (object, time); one int64 key when it fits, else lexsort."""
    if obj.size == 0:
        return np.zeros(0, dtype=np.int64)
    t0 = int(ts.min())
    span = int(ts.max()) - t0
    obj_bits = max(1, int(obj.max()).bit_length())
    if span < (1 << (62 - obj_bits)):
        key = (obj << (62 - obj_bits)) | (ts - t0)
        return np.argsort(key, kind="stable").astype(np.int64)
    return np.lexsort((ts, obj)).astype(np.int64)


def build_objects(
    obj: I64, acc: I32, ts: I64, event: I64, n_accounts: int, cap: int
) -> ObjectEvents:
    """Group events by object code (dense 0..n-1), time-sort, cap repeats per account."""
    order = _sort_by_object_time(obj, ts)
    obj_s = obj[order]
    n_obj = int(obj_s[-1]) + 1 if obj_s.size else 0
    counts = np.bincount(obj_s, minlength=n_obj)
    obj_ptr = np.zeros(n_obj + 1, dtype=np.int64)
    np.cumsum(counts, out=obj_ptr[1:])
    acc_s = acc[order]
    keep, t_obj, t_acc, t_cnt = coaction.cap_per_account(obj_ptr, acc_s, cap)
    if not keep.all():
        order = order[keep]
        obj_s = obj_s[keep]
        acc_s = acc_s[keep]
        counts = np.bincount(obj_s, minlength=n_obj)
        np.cumsum(counts, out=obj_ptr[1:])
    # per-account object lists (sorted by object) for the null model
    by_acc = np.lexsort((t_obj, t_acc))
    acc_obj = t_obj[by_acc]
    acc_cnt = t_cnt[by_acc]
    acc_counts = np.bincount(t_acc, minlength=n_accounts)
    acc_ptr = np.zeros(n_accounts + 1, dtype=np.int64)
    np.cumsum(acc_counts, out=acc_ptr[1:])
    return ObjectEvents(
        obj_ptr=obj_ptr,
        acc=acc_s,
        ts=ts[order],
        event=event[order],
        n_accounts=n_accounts,
        acc_ptr=acc_ptr,
        acc_obj=acc_obj.astype(np.int32),
        acc_cnt=acc_cnt.astype(np.int32),
    )


def action_target_objects(events: EventTable) -> tuple[I64, I32]:
    """Object code per event for (action, target), and the target code of each object."""
    key = events.action.astype(np.int64) * max(1, len(events.targets)) + events.target
    uniq, inverse = np.unique(key, return_inverse=True)
    obj_target = (uniq % max(1, len(events.targets))).astype(np.int32)
    return inverse.astype(np.int64), obj_target


def normalise_texts(text: pa.Array) -> pa.Array:
    """Lower-case, keep letters and digits, single spaces."""
    t = pc.utf8_lower(text)
    t = pc.replace_substring_regex(t, r"[^\p{L}\p{N}]+", " ")
    return pc.utf8_trim_whitespace(t)


def text_groups(
    events: EventTable, *, min_chars: int, threshold: float
) -> tuple[I64, I64]:
    """Near-duplicate text groups: (event rows with usable text, group label per row).

    Labels are the smallest member row, so they are canonical for the input order.
    """
    if events.text is None or len(events.text) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    norm = normalise_texts(events.text)
    ok = pc.fill_null(pc.greater_equal(pc.utf8_length(norm), min_chars), False)
    rows = np.flatnonzero(np.asarray(ok.to_numpy(zero_copy_only=False), dtype=np.bool_))
    if rows.size < 2:
        return rows.astype(np.int64), np.zeros(rows.size, dtype=np.int64)
    chosen = pc.take(norm, pa.array(rows)).cast(pa.large_string())
    chosen = pa.concat_arrays([chosen]) if isinstance(chosen, pa.Array) else chosen
    bufs = chosen.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int64)[chosen.offset : chosen.offset + len(chosen) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    sig = minhash.oph_signatures(data, offsets.astype(np.int64), 5, 6)
    labels = minhash.lsh_groups(sig, 20, 3, threshold)
    return rows.astype(np.int64), rows[labels].astype(np.int64)
