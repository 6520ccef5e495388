"""Exact-window co-action kernels over events sorted by (object, timestamp).

An *object* is one (action, target) pair, or one near-duplicate text group. Inputs are
CSR-style: ``obj_ptr[o]:obj_ptr[o+1]`` are the events of object ``o`` sorted by time;
``acc`` holds account codes and ``ts`` epoch milliseconds. ``wins`` are windows in ms,
ascending. Two events co-act in window ``w`` when they are on the same object, by
different accounts, ``|dt| <= w`` (inclusive), and neither sits in a crowd at ``w``
(more than ``hub_cap`` events on the object within ``+-w``).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def crowd_density(obj_ptr, ts, wins):  # type: ignore[no-untyped-def]
    """Events on the same object within ``[t - w, t + w]`` for every event and window."""
    n = ts.shape[0]
    k = wins.shape[0]
    dens = np.zeros((n, k), dtype=np.int32)
    for o in range(obj_ptr.shape[0] - 1):
        s = obj_ptr[o]
        e = obj_ptr[o + 1]
        for w in range(k):
            width = wins[w]
            lo = s
            hi = s
            for i in range(s, e):
                while ts[i] - ts[lo] > width:
                    lo += 1
                if hi <= i:
                    hi = i + 1
                while hi < e and ts[hi] - ts[i] <= width:
                    hi += 1
                dens[i, w] = hi - lo
    return dens


@njit(cache=True, nogil=True)
def _limit(dens, i, hub_cap):  # type: ignore[no-untyped-def]
    """Largest window index at which event ``i`` is not in a crowd, or -1."""
    lim = -1
    for w in range(dens.shape[1]):
        if dens[i, w] <= hub_cap:
            lim = w
    return lim


@njit(cache=True, nogil=True)
def count_pairs(obj_ptr, acc, ts, wins, dens, hub_cap, o_lo, o_hi):  # type: ignore[no-untyped-def]
    """Raw co-action rows per object for objects ``o_lo:o_hi`` (before de-duplication)."""
    out = np.zeros(o_hi - o_lo, dtype=np.int64)
    for o in range(o_lo, o_hi):
        s = obj_ptr[o]
        e = obj_ptr[o + 1]
        c = 0
        for i in range(s, e):
            lim = _limit(dens, i, hub_cap)
            if lim < 0:
                continue
            width = wins[lim]
            for j in range(i + 1, e):
                dt = ts[j] - ts[i]
                if dt > width:
                    break
                if acc[j] == acc[i]:
                    continue
                for w in range(lim + 1):
                    if dt <= wins[w] and dens[j, w] <= hub_cap:
                        c += 1
                        break
        out[o - o_lo] = c
    return out


@njit(cache=True, nogil=True)
def fill_pairs(obj_ptr, acc, ts, wins, dens, hub_cap, o_lo, o_hi, row_ptr):  # type: ignore[no-untyped-def]
    """Write raw rows for objects ``o_lo:o_hi``; ``row_ptr`` from :func:`count_pairs`.

    Returns ``(a, b, obj, ea, eb, mask, crowd)`` where ``a < b`` are account codes,
    ``ea``/``eb`` the event indices of ``a`` and ``b``, ``mask`` bit ``w`` set when the
    row co-acts in window ``w``, and ``crowd`` the larger density of the two events at
    the tightest matching window.
    """
    m = row_ptr[-1]
    ra = np.empty(m, dtype=np.int32)
    rb = np.empty(m, dtype=np.int32)
    ro = np.empty(m, dtype=np.int32)
    rea = np.empty(m, dtype=np.int32)
    reb = np.empty(m, dtype=np.int32)
    rmask = np.empty(m, dtype=np.uint8)
    rcrowd = np.empty(m, dtype=np.int32)
    for o in range(o_lo, o_hi):
        s = obj_ptr[o]
        e = obj_ptr[o + 1]
        r = row_ptr[o - o_lo]
        for i in range(s, e):
            lim = _limit(dens, i, hub_cap)
            if lim < 0:
                continue
            width = wins[lim]
            for j in range(i + 1, e):
                dt = ts[j] - ts[i]
                if dt > width:
                    break
                if acc[j] == acc[i]:
                    continue
                mask = 0
                first = -1
                for w in range(lim + 1):
                    if dt <= wins[w] and dens[j, w] <= hub_cap:
                        mask |= 1 << w
                        if first < 0:
                            first = w
                if mask == 0:
                    continue
                if acc[i] < acc[j]:
                    ra[r] = acc[i]
                    rb[r] = acc[j]
                    rea[r] = i
                    reb[r] = j
                else:
                    ra[r] = acc[j]
                    rb[r] = acc[i]
                    rea[r] = j
                    reb[r] = i
                ro[r] = o
                rmask[r] = mask
                rcrowd[r] = max(dens[i, first], dens[j, first])
                r += 1
    return ra, rb, ro, rea, reb, rmask, rcrowd


@njit(cache=True, nogil=True)
def dedupe_rows(ra, rb, ro, rea, reb, rmask, rcrowd, ts, seg_ptr):  # type: ignore[no-untyped-def]
    """Keep one row per (pair, object): the closest in time; OR the window masks.

    Rows of one object are contiguous (``seg_ptr``). Compacts in place and returns the
    number of rows kept. Within an object the kept rows are ordered by (a, b).
    """
    out = 0
    for g in range(seg_ptr.shape[0] - 1):
        s = seg_ptr[g]
        e = seg_ptr[g + 1]
        if e <= s:
            continue
        n = e - s
        dt = np.empty(n, dtype=np.int64)
        for k in range(n):
            dt[k] = abs(ts[reb[s + k]] - ts[rea[s + k]])
        order1 = np.argsort(dt, kind="mergesort")
        key = np.empty(n, dtype=np.int64)
        for k in range(n):
            r = s + order1[k]
            key[k] = (np.int64(ra[r]) << 32) | np.int64(rb[r])
        order2 = np.argsort(key, kind="mergesort")
        ca = ra[s:e].copy()
        cb = rb[s:e].copy()
        co = ro[s:e].copy()
        cea = rea[s:e].copy()
        ceb = reb[s:e].copy()
        cm = rmask[s:e].copy()
        cc = rcrowd[s:e].copy()
        k = 0
        while k < n:
            head = order1[order2[k]]
            kk = key[order2[k]]
            mask = cm[head]
            crowd = cc[head]
            k2 = k + 1
            while k2 < n and key[order2[k2]] == kk:
                mask |= cm[order1[order2[k2]]]
                k2 += 1
            ra[out] = ca[head]
            rb[out] = cb[head]
            ro[out] = co[head]
            rea[out] = cea[head]
            reb[out] = ceb[head]
            rmask[out] = mask
            rcrowd[out] = crowd
            out += 1
            k = k2
    return out


@njit(cache=True, nogil=True)
def pairs_within(obj_ptr, ts, width):  # type: ignore[no-untyped-def]
    """Unordered event pairs per object with ``|dt| <= width`` (all accounts)."""
    n_obj = obj_ptr.shape[0] - 1
    out = np.zeros(n_obj, dtype=np.float64)
    for o in range(n_obj):
        s = obj_ptr[o]
        e = obj_ptr[o + 1]
        hi = s
        c = 0
        for i in range(s, e):
            if hi <= i:
                hi = i + 1
            while hi < e and ts[hi] - ts[i] <= width:
                hi += 1
            c += hi - i - 1
        out[o] = c
    return out


@njit(cache=True, nogil=True)
def aggregate_pairs(pair_ptr, rea, reb, rmask, rcrowd, ts, wins, gaps, n_w):  # type: ignore[no-untyped-def]
    """Per (pair, window): distinct objects, episodes, weight, median |dt|, first/last time.

    Rows of a pair are ``pair_ptr[p]:pair_ptr[p+1]`` (one row per object). Episodes
    are runs of co-actions (sorted by time) with gaps no longer than ``gaps[w]``. The
    weight of a row is ``log(7) / log(crowd + 5)``: 1 for a lone pair, less in a crowd.
    """
    n_pairs = pair_ptr.shape[0] - 1
    n_obj = np.zeros((n_pairs, n_w), dtype=np.int32)
    episodes = np.zeros((n_pairs, n_w), dtype=np.int32)
    weight = np.zeros((n_pairs, n_w), dtype=np.float64)
    med_dt = np.zeros((n_pairs, n_w), dtype=np.float64)
    first = np.zeros((n_pairs, n_w), dtype=np.int64)
    last = np.zeros((n_pairs, n_w), dtype=np.int64)
    base = np.log(7.0)
    for p in range(n_pairs):
        s = pair_ptr[p]
        e = pair_ptr[p + 1]
        n = e - s
        times = np.empty(n, dtype=np.int64)
        dts = np.empty(n, dtype=np.int64)
        for w in range(n_w):
            bit = 1 << w
            c = 0
            wsum = 0.0
            for r in range(s, e):
                if rmask[r] & bit:
                    ta = ts[rea[r]]
                    tb = ts[reb[r]]
                    times[c] = min(ta, tb)
                    dts[c] = abs(tb - ta)
                    wsum += base / np.log(rcrowd[r] + 5.0)
                    c += 1
            if c == 0:
                continue
            t = np.sort(times[:c])
            d = np.sort(dts[:c])
            ep = 1
            for k in range(1, c):
                if t[k] - t[k - 1] > gaps[w]:
                    ep += 1
            n_obj[p, w] = c
            episodes[p, w] = ep
            weight[p, w] = wsum
            if c % 2 == 1:
                med_dt[p, w] = d[c // 2]
            else:
                med_dt[p, w] = 0.5 * (d[c // 2 - 1] + d[c // 2])
            first[p, w] = t[0]
            last[p, w] = t[c - 1]
    return n_obj, episodes, weight, med_dt, first, last


@njit(cache=True, nogil=True)
def cap_per_account(obj_ptr, acc, cap):  # type: ignore[no-untyped-def]
    """Keep each account's first ``cap`` events per object (events time-sorted per object).

    Returns ``(keep, trip_obj, trip_acc, trip_cnt)``: the keep mask and, per distinct
    (object, account), the number of events kept.
    """
    n = acc.shape[0]
    keep = np.zeros(n, dtype=np.bool_)
    trip_obj = np.empty(n, dtype=np.int32)
    trip_acc = np.empty(n, dtype=np.int32)
    trip_cnt = np.empty(n, dtype=np.int32)
    t = 0
    for o in range(obj_ptr.shape[0] - 1):
        s = obj_ptr[o]
        e = obj_ptr[o + 1]
        if e - s == 1:
            keep[s] = True
            trip_obj[t] = o
            trip_acc[t] = acc[s]
            trip_cnt[t] = 1
            t += 1
            continue
        order = np.argsort(acc[s:e], kind="mergesort")
        k = 0
        while k < e - s:
            a = acc[s + order[k]]
            k2 = k
            while k2 < e - s and acc[s + order[k2]] == a:
                if k2 - k < cap:
                    keep[s + order[k2]] = True
                k2 += 1
            trip_obj[t] = o
            trip_acc[t] = a
            trip_cnt[t] = min(cap, k2 - k)
            t += 1
            k = k2
    return keep, trip_obj[:t], trip_acc[:t], trip_cnt[:t]
