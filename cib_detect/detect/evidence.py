"""Evidence edges with example co-actions, and a cluster's shared targets."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cib_detect.detect.objects import ObjectEvents
from cib_detect.detect.pairs import PairSignal
from cib_detect.kernels import coaction
from cib_detect.model import EventTable, Evidence, Example, TopTarget

I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class EdgeRef:
    """One significant (pair, signal, window) inside a cluster."""

    signal: int  # index into the signal list
    pair: int  # pair index inside that signal
    window: int  # window index inside that signal


def pair_index(signal: PairSignal, a: npt.NDArray[np.int32], b: npt.NDArray[np.int32]) -> I64:
    """Index of each pair (a, b) in ``signal`` (pairs are sorted by (a, b)), or -1."""
    key = (a.astype(np.int64) << 32) | b.astype(np.int64)
    keys = signal.pair_key
    i = np.searchsorted(keys, key)
    i = np.minimum(i, max(keys.size - 1, 0))
    found = (keys.size > 0) & (keys[i] == key) if keys.size else np.zeros(key.size, np.bool_)
    return np.where(found, i, -1).astype(np.int64)


def best_window(signal: PairSignal, mask: Mask, pair: int) -> int:
    """The significant window with the smallest p-value (ties: the tightest window)."""
    ws = np.flatnonzero(mask[pair])
    return int(ws[np.argmin(signal.log10_p[pair, ws])])


def _rows(signal: PairSignal, ref: EdgeRef) -> I64:
    s, e = int(signal.pair_ptr[ref.pair]), int(signal.pair_ptr[ref.pair + 1])
    bit = np.uint8(1 << ref.window)
    sel = np.flatnonzero(signal.row_mask[s:e] & bit) + s
    return sel.astype(np.int64)


def make_evidence(
    signal: PairSignal, ref: EdgeRef, events: EventTable, max_examples: int
) -> Evidence:
    p, w = ref.pair, ref.window
    rows = _rows(signal, ref)
    obj = signal.row_obj[rows]
    ev_a = signal.objects.event[signal.row_ea[rows]]
    ev_b = signal.objects.event[signal.row_eb[rows]]
    t_a = events.ts[ev_a]
    t_b = events.ts[ev_b]
    rarity = signal.q[obj, w]
    order = np.lexsort((ev_a, np.abs(t_b - t_a), rarity))[:max_examples]
    texts = events.text
    examples = []
    for k in order:
        ea, eb = int(ev_a[k]), int(ev_b[k])
        tgt_a = events.targets[int(events.target[ea])]
        tgt_b = events.targets[int(events.target[eb])]
        examples.append(
            Example(
                target=tgt_a,
                t_a=int(t_a[k]),
                t_b=int(t_b[k]),
                target_b=tgt_b if tgt_b != tgt_a else None,
                text_a=texts[ea].as_py()
                if signal.name != "co_action" and texts is not None
                else None,
                text_b=texts[eb].as_py()
                if signal.name != "co_action" and texts is not None
                else None,
            )
        )
    log10_p = float(signal.log10_p[p, w])
    return Evidence(
        a=events.accounts[int(signal.pair_a[p])],
        b=events.accounts[int(signal.pair_b[p])],
        signal=signal.label(w),
        window=int(signal.windows[w]),
        weight=float(signal.weight[p, w]),
        p_value=10.0**log10_p if log10_p > -300 else 0.0,
        log10_p=log10_p if math.isfinite(log10_p) else -1e300,
        shared_targets=int(signal.n_obj[p, w]),
        episodes=int(signal.episodes[p, w]),
        expected=float(signal.expected[p, w]),
        median_dt=float(signal.med_dt[p, w]) / 1000.0,
        first_ts=int(signal.first[p, w]),
        last_ts=int(signal.last[p, w]),
        examples=tuple(examples),
    )


def shared_targets(
    signals: list[PairSignal],
    refs: list[EdgeRef],
    events: EventTable,
    popularity: I64,
    limit: int,
) -> list[TopTarget]:
    """Targets hit by two or more members in the cluster's evidence, most-shared first.

    Ties go to the rarer target (fewer distinct accounts overall), then by name.
    """
    ev: list[I64] = []
    for ref in refs:
        s = signals[ref.signal]
        rows = _rows(s, ref)
        ev.append(s.objects.event[s.row_ea[rows]])
        ev.append(s.objects.event[s.row_eb[rows]])
    if not ev:
        return []
    e = np.unique(np.concatenate(ev))
    tgt = events.target[e].astype(np.int64)
    acc = events.account[e].astype(np.int64)
    ts = events.ts[e]
    order = np.lexsort((ts, tgt))
    tgt, acc, ts = tgt[order], acc[order], ts[order]
    starts = np.flatnonzero(np.concatenate(([True], tgt[1:] != tgt[:-1])))
    ends = np.append(starts[1:], tgt.size)
    out = []
    for s0, e0 in zip(starts, ends, strict=True):
        n_acc = int(np.unique(acc[s0:e0]).size)
        if n_acc < 2:
            continue
        t = int(tgt[s0])
        out.append(
            TopTarget(
                target=events.targets[t],
                accounts=n_acc,
                first_ts=int(ts[s0]),
                last_ts=int(ts[e0 - 1]),
                popularity=int(popularity[t]),
            )
        )
    out.sort(key=lambda x: (-x.accounts, x.popularity, x.target))
    return out[:limit]


def target_popularity(
    objects: ObjectEvents, obj_target: npt.NDArray[np.int32], n_targets: int
) -> I64:
    """Distinct accounts per target code."""
    return np.asarray(
        coaction.accounts_per_target(objects.acc_ptr, objects.acc_obj, obj_target, n_targets),
        dtype=np.int64,
    )
