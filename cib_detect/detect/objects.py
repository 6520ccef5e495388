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

from cib_detect.io.validate import string_buffers
from cib_detect.kernels import coaction, minhash, strings
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
    repeated: npt.NDArray[np.bool_]  # per object: some account acts on it more than once
    multi: npt.NDArray[np.bool_]  # per event: its account acts more than once on its object

    @property
    def n_objects(self) -> int:
        return int(self.obj_ptr.shape[0] - 1)


def build_objects(
    obj: I64, acc: I32, ts: I64, event: I64 | None, n_accounts: int, cap: int
) -> ObjectEvents:
    """Group events by object code (dense 0..n-1), time-sort, cap repeats per account.

    ``event`` maps the rows given to event table rows (None: they are the same)."""
    n_obj = int(obj.max()) + 1 if obj.size else 0
    order, obj_ptr, acc_g, ts_g = coaction.group_by_object(obj, ts, acc, n_obj)
    kept, kept_ptr, acc_s, ts_s, repeated, multi, acc_ptr, acc_obj, acc_cnt = (
        coaction.cap_and_gather(order, obj_ptr, acc_g, ts_g, max(1, cap), n_accounts)
    )
    return ObjectEvents(
        obj_ptr=kept_ptr,
        acc=acc_s,
        ts=ts_s,
        event=kept if event is None else event[kept],
        n_accounts=n_accounts,
        acc_ptr=acc_ptr,
        acc_obj=acc_obj,
        acc_cnt=acc_cnt,
        repeated=repeated,
        multi=multi,
    )


def action_target_objects(events: EventTable) -> tuple[I64, I32]:
    """Object code per event for (action, target), and the target code of each object."""
    n_t = max(1, len(events.targets))
    key = events.action.astype(np.int64) * n_t + events.target
    present = np.bincount(key, minlength=max(1, len(events.actions)) * n_t) > 0
    remap = np.cumsum(present) - 1
    obj_target = (np.flatnonzero(present) % n_t).astype(np.int32)
    return remap[key].astype(np.int64), obj_target


_NOT_WORD = r"[^\p{L}\p{N}]+"


def _normalise_unicode(text: pa.Array) -> pa.Array:
    """Lower-cased ``text`` with Unicode letter/digit classes (Arrow's RE2)."""
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(text, _NOT_WORD, " "))


def normalised_rows(text: pa.Array | pa.ChunkedArray) -> tuple[I64, pa.Array]:
    """The non-null rows of ``text`` and their normalised texts (lower-case, letters and
    digits, single spaces). No array as long as the whole column is built.

    ASCII texts take a byte kernel; only texts with other characters go through the
    Unicode regex, which gives the same result on ASCII but is several times slower.
    """
    valid = np.asarray(pc.is_valid(text).to_numpy(zero_copy_only=False), dtype=np.bool_)
    rows = np.flatnonzero(valid)
    # only the non-null texts are copied (the column itself stays in its chunks)
    chosen = text.take(pa.array(rows)) if rows.size < len(text) else text
    if isinstance(chosen, pa.ChunkedArray):
        chosen = chosen.combine_chunks() if chosen.num_chunks else pa.array([], text.type)
    if pa.types.is_large_string(chosen.type) and chosen.nbytes < 2**31:
        chosen = chosen.cast(pa.string())
    lower = pc.utf8_lower(chosen)
    if not pa.types.is_string(lower.type):
        return rows, _normalise_unicode(lower)
    data, offsets = string_buffers(lower)
    out, out_offsets, non_ascii = strings.ascii_words(data, offsets)
    words = pa.StringArray.from_buffers(
        len(lower), pa.py_buffer(out_offsets.astype(np.int32)), pa.py_buffer(out)
    )
    if non_ascii.any():
        uni = np.flatnonzero(non_ascii)
        fixed = _normalise_unicode(lower.take(pa.array(uni)))
        pick = np.arange(len(lower), dtype=np.int64)
        pick[uni] = len(lower) + np.arange(uni.size)
        words = pa.concat_arrays([words, fixed]).take(pa.array(pick))
    return rows, words


def normalise_texts(text: pa.Array | pa.ChunkedArray) -> pa.Array:
    """:func:`normalised_rows` as a column aligned with ``text`` (nulls stay null)."""
    rows, words = normalised_rows(text)
    if rows.size == len(text):
        return words
    pos = np.full(len(text), -1, dtype=np.int64)
    pos[rows] = np.arange(rows.size)
    return words.take(pa.array(pos, mask=pos < 0))


def text_groups(events: EventTable, *, min_chars: int, threshold: float) -> tuple[I64, I64]:
    """Near-duplicate text groups: (event rows with usable text, object code per row).

    Object codes are canonical: groups are numbered by their earliest member in
    (time, account, target) order, so the numbering does not depend on the row order.
    """
    if events.text is None or len(events.text) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    rows, norm = normalised_rows(events.text)
    ok = pc.greater_equal(pc.utf8_length(norm), min_chars)
    keep = np.flatnonzero(np.asarray(ok.to_numpy(zero_copy_only=False), dtype=np.bool_))
    rows = rows[keep]
    if rows.size < 2:
        return rows.astype(np.int64), np.zeros(rows.size, dtype=np.int64)
    # canonical order (time, account, target): grouping must not depend on row order
    order = np.lexsort((events.target[rows], events.account[rows], events.ts[rows]))
    rows = rows[order]
    data, offsets = string_buffers(norm.take(pa.array(keep[order])))
    sig = minhash.oph_signatures(data, offsets, 5, 6)
    labels = minhash.lsh_groups(sig, 20, 3, threshold)  # smallest member position
    _, group = np.unique(labels, return_inverse=True)  # numbered by first member
    return rows.astype(np.int64), group.astype(np.int64)
