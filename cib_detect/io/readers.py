"""Read an events file into a validated, canonically encoded :class:`EventTable`."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from cib_detect.errors import InvalidInput, RejectReport
from cib_detect.io.formats import detect_format, load_raw, rejected_rows
from cib_detect.io.validate import validate
from cib_detect.kernels.ids import all_distinct
from cib_detect.memory import LARGE_RUN_EVENTS
from cib_detect.model import EventTable, InputInfo


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def encode_sorted(arr: pa.Array) -> tuple[npt.NDArray[np.int32], list[str]]:
    """Codes into the bytewise-sorted distinct values (canonical for the value set).

    Dictionary values no row uses are dropped, so the result depends only on the rows.
    """
    enc = arr if pa.types.is_dictionary(arr.type) else pc.dictionary_encode(arr)
    raw = np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    used = np.bincount(raw, minlength=len(enc.dictionary)) > 0
    if not used.all():
        keep = np.flatnonzero(used)
        remap = np.cumsum(used) - 1
        enc = pa.DictionaryArray.from_arrays(
            pa.array(remap[raw].astype(np.int32)), pc.take(enc.dictionary, pa.array(keep))
        )
    dictionary = enc.dictionary
    order = np.asarray(pc.sort_indices(dictionary).to_numpy(), dtype=np.int64)
    rank = np.empty(order.size, dtype=np.int32)
    rank[order] = np.arange(order.size, dtype=np.int32)
    codes = rank[np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)]
    values: list[str] = pc.take(dictionary, pa.array(order)).to_pylist()
    return codes.astype(np.int32, copy=False), values


def first_occurrence(arr: pa.Array, hashes: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
    """True for the first row carrying each value (duplicates after it are False).

    ``hashes`` are 64-bit hashes of the values; rows whose hashes collide are compared
    by value, so a hash collision never merges two different ids.
    """
    first = np.ones(hashes.size, dtype=np.bool_)
    if hashes.size < 2:
        return first
    if all_distinct(hashes):
        return first
    order = np.argsort(hashes, kind="stable")
    hs = hashes[order]
    same = np.flatnonzero(hs[1:] == hs[:-1])
    group_start = np.flatnonzero(np.concatenate(([True], hs[1:] != hs[:-1])))
    starts = np.unique(group_start[np.searchsorted(group_start, same, side="right") - 1])
    for s0 in starts.tolist():
        e0 = s0 + 1
        while e0 < hs.size and hs[e0] == hs[s0]:
            e0 += 1
        rows = order[s0:e0]  # ascending row order (stable sort)
        seen: set[str] = set()
        for r, v in zip(rows.tolist(), pc.take(arr, pa.array(rows)).to_pylist(), strict=True):
            if v in seen:
                first[r] = False
            else:
                seen.add(v)
    return first


def _arrow(values: Any) -> pa.Array:
    if isinstance(values, pa.Array):
        return values
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    return pa.array(values, pa.string())


def _strings(values: Any) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values
    return pa.array(values, pa.string())


def from_columns(
    account_id: Any,
    action: Any,
    target: Any,
    ts_ms: npt.NDArray[np.int64],
    *,
    event_id: Any = None,
    text: Any = None,
) -> EventTable:
    """Encode already-validated columns (Arrow arrays or lists of str)."""
    acc, accounts = encode_sorted(_arrow(account_id))
    act, actions = encode_sorted(_arrow(action))
    tgt, targets = encode_sorted(_arrow(target))
    return EventTable(
        account=acc,
        action=act,
        target=tgt,
        ts=np.asarray(ts_ms, dtype=np.int64),
        accounts=accounts,
        actions=actions,
        targets=targets,
        text=None if text is None else _strings(text),
        event_id=None if event_id is None else _strings(event_id),
    )


def read_events(
    path: str | Path,
    *,
    fmt: str | None = None,
    strict: bool = False,
    keep_event_ids: bool = True,
) -> tuple[EventTable, InputInfo]:
    """Read, validate, de-duplicate by ``event_id`` and encode an events file.

    With ``keep_event_ids=False`` the ids are used for de-duplication and then dropped,
    which saves memory when only detection follows.
    """
    p = Path(path)
    if not p.exists():
        raise InvalidInput(f"input file not found: {p}")
    kind = detect_format(p, fmt)
    digest = file_sha256(p)
    table, rows, parse_rejects = load_raw(p, kind)
    n_rows = table.num_rows
    report = RejectReport()
    clean = validate(table, rows, report, strict=strict, parse_rejects=parse_rejects)
    account, action, target, ts = clean.account_id, clean.action, clean.target, clean.ts_ms
    event_id, text = clean.event_id, clean.text
    first: npt.NDArray[np.bool_] | None = None
    events: EventTable | None = None
    if event_id is not None and clean.event_hash is not None and len(event_id):
        if len(event_id) < LARGE_RUN_EVENTS:
            # duplicates are rare: the columns are encoded while the ids are checked on a
            # second thread, and encoded again (without the duplicates) if there are any
            with ThreadPoolExecutor(max_workers=1) as pool:
                job = pool.submit(first_occurrence, event_id, clean.event_hash)
                events = from_columns(
                    account, action, target, ts,
                    event_id=event_id if keep_event_ids else None, text=text,
                )  # fmt: skip
                first = job.result()
        else:  # one after the other: the check's hash table would add to the peak memory
            first = first_occurrence(event_id, clean.event_hash)
    duplicates = 0 if first is None else int(first.size - first.sum())
    if duplicates:
        assert first is not None and event_id is not None
        keep = pa.array(first)
        account, action, target = (pc.filter(c, keep) for c in (account, action, target))
        event_id = pc.filter(event_id, keep)
        text = pc.filter(text, keep) if text is not None else None
        ts = ts[first]
        events = None
    if events is None:
        events = from_columns(
            account, action, target, ts, event_id=event_id if keep_event_ids else None, text=text
        )
    del table, clean
    pa.default_memory_pool().release_unused()
    info = InputInfo(
        path=str(p),
        sha256=digest,
        format=kind,
        rows=n_rows + rejected_rows(parse_rejects),
        accepted=events.n,
        rejected=report.count,
        duplicates=duplicates,
        rejects=report,
    )
    return events, info
