"""Evidence edges with example co-actions, and a cluster's shared targets."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from cib_detect.detect.objects import ObjectEvents
from cib_detect.detect.pairs import PairSignal
from cib_detect.kernels import coaction
from cib_detect.kernels import evidence as ev_kernels
from cib_detect.model import EventTable, Evidence, Example, TopTarget

I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class EdgeRefs:
    """Significant (pair, signal, window) edges inside a cluster, as parallel arrays."""

    signal: I64  # index into the signal list
    pair: I64  # pair index inside that signal
    window: I64  # window index inside that signal

    def __len__(self) -> int:
        return int(self.pair.shape[0])

    def take(self, idx: I64) -> EdgeRefs:
        return EdgeRefs(self.signal[idx], self.pair[idx], self.window[idx])

    def of_signal(self, si: int) -> tuple[I64, I64, I64]:
        """Positions, pairs and windows of the edges of signal ``si``."""
        pos = np.flatnonzero(self.signal == si)
        return pos, self.pair[pos], self.window[pos]


def pair_index(signal: PairSignal, a: npt.NDArray[np.int32], b: npt.NDArray[np.int32]) -> I64:
    """Index of each pair (a, b) in ``signal`` (pairs are sorted by (a, b)), or -1."""
    key = (a.astype(np.int64) << 32) | b.astype(np.int64)
    keys = signal.pair_key
    i = np.searchsorted(keys, key)
    i = np.minimum(i, max(keys.size - 1, 0))
    found = (keys.size > 0) & (keys[i] == key) if keys.size else np.zeros(key.size, np.bool_)
    return np.where(found, i, -1).astype(np.int64)


def best_windows(signal: PairSignal, mask: Mask, pairs: I64) -> I64:
    """Per pair, the significant window with the smallest p-value (ties: tightest)."""
    lp = np.where(mask[pairs], signal.log10_p[pairs], np.inf)
    return np.asarray(np.argmin(lp, axis=1), dtype=np.int64)


def make_evidence(
    signal: PairSignal, pairs: I64, wins: I64, events: EventTable, max_examples: int
) -> list[Evidence]:
    """Evidence records for edges ``(pairs, wins)`` of one signal, with their best
    example co-actions."""
    if not pairs.size:
        return []
    picked = ev_kernels.pick_examples(
        signal.pair_ptr,
        signal.row_mask,
        signal.row_obj,
        signal.row_ea,
        signal.row_eb,
        signal.q,
        signal.objects.ts,
        pairs,
        wins,
        max_examples,
    )
    with_text = signal.name != "co_action" and events.text is not None
    valid = picked >= 0
    rows = picked[valid]
    ex_ptr = np.zeros(pairs.size + 1, dtype=np.int64)
    np.cumsum(valid.sum(axis=1), out=ex_ptr[1:])
    ev_a = signal.objects.event[signal.row_ea[rows]]
    ev_b = signal.objects.event[signal.row_eb[rows]]
    targets = events.targets
    tgt_a = [targets[t] for t in events.target[ev_a].tolist()]
    tgt_b = [targets[t] for t in events.target[ev_b].tolist()]
    ts_a, ts_b = events.ts[ev_a].tolist(), events.ts[ev_b].tolist()
    no_text: list[str | None] = [None] * rows.size
    text_a, text_b = no_text, no_text
    if with_text and events.text is not None and rows.size:
        text_a = events.text.take(pa.array(ev_a)).to_pylist()
        text_b = events.text.take(pa.array(ev_b)).to_pylist()
    examples = [
        Example(
            target=tgt_a[k],
            t_a=ts_a[k],
            t_b=ts_b[k],
            target_b=tgt_b[k] if tgt_b[k] != tgt_a[k] else None,
            text_a=text_a[k],
            text_b=text_b[k],
        )
        for k in range(rows.size)
    ]
    acc = events.accounts
    a_names = [acc[a] for a in signal.pair_a[pairs].tolist()]
    b_names = [acc[b] for b in signal.pair_b[pairs].tolist()]
    log10_p = signal.log10_p[pairs, wins].tolist()
    weight = signal.weight[pairs, wins].tolist()
    n_obj = signal.n_obj[pairs, wins].tolist()
    episodes = signal.episodes[pairs, wins].tolist()
    expected = signal.expected[pairs, wins].tolist()
    med_dt = (signal.med_dt[pairs, wins] / 1000.0).tolist()
    first = signal.first[pairs, wins].tolist()
    last = signal.last[pairs, wins].tolist()
    bounds = ex_ptr.tolist()
    out = []
    for i, w in enumerate(wins.tolist()):
        lp = log10_p[i]
        out.append(
            Evidence(
                a=a_names[i],
                b=b_names[i],
                signal=signal.label(w),
                window=int(signal.windows[w]),
                weight=weight[i],
                p_value=10.0**lp if lp > -300 else 0.0,
                log10_p=lp if math.isfinite(lp) else -1e300,
                shared_targets=n_obj[i],
                episodes=episodes[i],
                expected=expected[i],
                median_dt=med_dt[i],
                first_ts=first[i],
                last_ts=last[i],
                examples=tuple(examples[bounds[i] : bounds[i + 1]]),
            )
        )
    return out


def shared_targets(
    signals: list[PairSignal],
    refs: EdgeRefs,
    events: EventTable,
    popularity: I64,
    limit: int,
) -> list[TopTarget]:
    """Targets hit by two or more members in the cluster's evidence, most-shared first.

    Ties go to the rarer target (fewer distinct accounts overall), then by name.
    """
    ev: list[I64] = []
    for si, sig in enumerate(signals):
        _, pairs, wins = refs.of_signal(si)
        if not pairs.size:
            continue
        rows = ev_kernels.ref_rows(sig.pair_ptr, sig.row_mask, pairs, wins)
        ev.append(sig.objects.event[sig.row_ea[rows]])
        ev.append(sig.objects.event[sig.row_eb[rows]])
    if not ev:
        return []
    e = np.unique(np.concatenate(ev))
    tgt = events.target[e].astype(np.int64)
    acc = events.account[e].astype(np.int64)
    ts = events.ts[e]
    # distinct (target, account) pairs give the member count per target
    ta = np.unique(tgt * max(1, len(events.accounts)) + acc) // max(1, len(events.accounts))
    t_ids, n_acc = np.unique(ta, return_counts=True)
    order = np.lexsort((ts, tgt))
    tgt, ts = tgt[order], ts[order]
    starts = np.flatnonzero(np.concatenate(([True], tgt[1:] != tgt[:-1])))
    ends = np.append(starts[1:], tgt.size)
    first = dict(zip(tgt[starts].tolist(), ts[starts].tolist(), strict=True))
    last = dict(zip(tgt[starts].tolist(), ts[ends - 1].tolist(), strict=True))
    out = [
        TopTarget(
            target=events.targets[t],
            accounts=int(n),
            first_ts=int(first[t]),
            last_ts=int(last[t]),
            popularity=int(popularity[t]),
        )
        for t, n in zip(t_ids.tolist(), n_acc.tolist(), strict=True)
        if n >= 2
    ]
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
