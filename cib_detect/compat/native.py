"""Profile ``native``: our own exact-window co-action network, with the engine's kernels.

An object is one (action, target), as in ``cib-detect detect``. Two events co-act when
they are on the same object, by different accounts, with ``|dt| <= window`` (inclusive,
exact milliseconds). The undirected edge of an account pair carries ``weight``: the
number of distinct targets the pair co-acted on, and ``objects``: distinct (action,
target) objects. Every event counts (no repeat cap); with ``hub_cap`` an event with more
than ``hub_cap`` events on its object within ``±window`` forms no pair (the engine's
crowd rule). Pairs with ``weight >= min_weight`` are written, in bytewise account order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cib_detect.detect.objects import action_target_objects
from cib_detect.errors import InvalidInput
from cib_detect.kernels import coaction
from cib_detect.kernels import compat as k
from cib_detect.model import EventTable

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class NativeParams:
    time_window: int = 60  # seconds
    min_weight: int = 1
    hub_cap: int | None = None


@dataclass
class NativeNetwork:
    accounts: list[str]
    a: I32
    b: I32
    weight: I64  # distinct targets
    objects: I64  # distinct (action, target) objects
    co_acting_pairs: int

    @property
    def n_edges(self) -> int:
        return int(self.a.shape[0])


def build(events: EventTable, p: NativeParams) -> NativeNetwork:
    if p.time_window < 0:
        raise InvalidInput("--time-window must be >= 0 seconds")
    if p.hub_cap is not None and p.hub_cap < 1:
        raise InvalidInput("--hub-cap must be >= 1")
    n = events.n
    n_acc = len(events.accounts)
    empty32 = np.zeros(0, dtype=np.int32)
    empty64 = np.zeros(0, dtype=np.int64)
    if n < 2:
        return NativeNetwork(events.accounts, empty32, empty32, empty64, empty64, 0)
    obj, obj_target = action_target_objects(events)
    n_obj = int(obj.max()) + 1
    order, obj_ptr, acc_g, ts_g = coaction.group_by_object(obj, events.ts, events.account, n_obj)
    _, _, acc, ts, repeated, multi, _, _, _ = coaction.cap_and_gather(
        order, obj_ptr, acc_g, ts_g, n + 1, n_acc
    )
    obj_s = obj[order]
    wins = np.array([np.int64(p.time_window) * 1000], dtype=np.int64)
    caps = np.array([p.hub_cap if p.hub_cap is not None else n + 1], dtype=np.int64)
    dens = coaction.crowd_density(obj_ptr, ts, wins)
    counts = coaction.count_pairs(obj_ptr, acc, ts, wins, dens, caps, 0, n_obj, 0, 1)
    row_ptr = np.zeros(n_obj + 1, dtype=np.int64)
    np.cumsum(counts, out=row_ptr[1:])
    ea, eb, mask, crowd = coaction.fill_pairs(
        obj_ptr, acc, ts, wins, dens, caps, 0, n_obj, row_ptr, 0, 1
    )
    kept = coaction.dedupe_rows(ea, eb, mask, crowd, acc, ts, row_ptr, repeated, multi, 0)
    ea, eb = ea[:kept], eb[:kept]
    pa_, pb_ = acc[ea], acc[eb]
    target = obj_target[obj_s[ea]].astype(np.int64)
    pair_order = np.lexsort((pb_, pa_))
    a, b, rows, targets = k.pair_distinct_targets(
        pair_order, pa_, pb_, target, max(1, len(events.targets))
    )
    keep = targets >= p.min_weight
    return NativeNetwork(
        accounts=events.accounts,
        a=a[keep],
        b=b[keep],
        weight=targets[keep],
        objects=rows[keep],
        co_acting_pairs=int(a.shape[0]),
    )
