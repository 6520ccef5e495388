"""Exact-window co-action kernels over events sorted by (object, timestamp).

An *object* is one (action, target) pair, or one near-duplicate text group. Inputs are
CSR-style: ``obj_ptr[o]:obj_ptr[o+1]`` are the events of object ``o`` sorted by time;
``acc`` holds account codes and ``ts`` epoch milliseconds. ``wins`` are windows in ms,
ascending. Two events co-act in window ``w`` when they are on the same object, by
different accounts, ``|dt| <= w`` (inclusive), and neither sits in a crowd at ``w``
(more than ``caps[w]`` events on the object within ``+-w``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from cib_detect.kernels.sorting import counting_order, key_pointers


@njit(cache=True, nogil=True)
def crowd_density_range(obj_ptr, ts, wins, o_lo, o_hi):
    """:func:`crowd_density` of the events of objects ``o_lo:o_hi`` only (row ``i`` of
    the result is event ``obj_ptr[o_lo] + i``)."""
    base = obj_ptr[o_lo]
    k = wins.shape[0]
    dens = np.zeros((obj_ptr[o_hi] - base, k), dtype=np.int32)
    for o in range(o_lo, o_hi):
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
                dens[i - base, w] = hi - lo
    return dens


@njit(cache=True, nogil=True)
def crowd_density(obj_ptr, ts, wins):
    """Events on the same object within ``[t - w, t + w]`` for every event and window."""
    return crowd_density_range(obj_ptr, ts, wins, 0, obj_ptr.shape[0] - 1)


@njit(cache=True, nogil=True)
def _limit(dens, i, caps):
    """Largest window index at which event ``i`` is not in a crowd, or -1."""
    lim = -1
    for w in range(dens.shape[1]):
        if dens[i, w] <= caps[w]:
            lim = w
    return lim


@njit(cache=True, nogil=True)
def pair_part(a, b, n_parts):
    """Partition of pair (a, b) when the rows are processed in ``n_parts`` passes."""
    if n_parts == 1:
        return 0
    h = (np.uint64(min(a, b)) * np.uint64(0x9E3779B97F4A7C15)) ^ np.uint64(max(a, b))
    h ^= h >> np.uint64(29)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(32)
    return np.int64(h % np.uint64(n_parts))


@njit(cache=True, nogil=True)
def _walk(obj_ptr, acc, ts, wins, dens, caps, o_lo, o_hi, part, n_parts, row_ptr, out, fill):
    """Walk every co-action of objects ``o_lo:o_hi`` (pairs of partition ``part``).

    Without ``fill`` it only counts rows per object (returned); with ``fill`` it writes
    them into ``out = (ea, eb, mask, crowd)`` at ``row_ptr`` (from a counting walk).
    """
    rea, reb, rmask, rcrowd = out
    counts = np.zeros(o_hi - o_lo, dtype=np.int64)
    for o in range(o_lo, o_hi):
        s = obj_ptr[o]
        e = obj_ptr[o + 1]
        r = row_ptr[o - o_lo] if fill else 0
        c = 0
        for i in range(s, e):
            lim = _limit(dens, i, caps)
            if lim < 0:
                continue
            width = wins[lim]
            for j in range(i + 1, e):
                dt = ts[j] - ts[i]
                if dt > width:
                    break
                if acc[j] == acc[i]:
                    continue
                if n_parts > 1 and pair_part(acc[i], acc[j], n_parts) != part:
                    continue
                mask = 0
                first = -1
                for w in range(lim + 1):
                    if dt <= wins[w] and dens[j, w] <= caps[w]:
                        mask |= 1 << w
                        if first < 0:
                            first = w
                if mask == 0:
                    continue
                c += 1
                if not fill:
                    continue
                if acc[i] < acc[j]:
                    rea[r] = i
                    reb[r] = j
                else:
                    rea[r] = j
                    reb[r] = i
                rmask[r] = mask
                rcrowd[r] = min(255, max(dens[i, first], dens[j, first]))
                r += 1
        counts[o - o_lo] = c
    return counts


@njit(cache=True, nogil=True)
def _no_rows():
    z = np.zeros(0, dtype=np.int32)
    return (z, z.copy(), np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.uint8))


@njit(cache=True, nogil=True)
def count_pairs(obj_ptr, acc, ts, wins, dens, caps, o_lo, o_hi, part, n_parts):
    """Raw co-action rows per object for objects ``o_lo:o_hi`` (before de-duplication),
    counting only pairs of partition ``part`` of ``n_parts``."""
    no_ptr = np.zeros(1, dtype=np.int64)
    return _walk(
        obj_ptr, acc, ts, wins, dens, caps, o_lo, o_hi, part, n_parts, no_ptr, _no_rows(), False
    )


@njit(cache=True, nogil=True)
def fill_pairs(obj_ptr, acc, ts, wins, dens, caps, o_lo, o_hi, row_ptr, part, n_parts):
    """Write raw rows for objects ``o_lo:o_hi``; ``row_ptr`` from :func:`count_pairs`.

    Returns ``(ea, eb, mask, crowd)``: ``ea``/``eb`` are the event indices of the lower
    and the higher account code, ``mask`` has bit ``w`` set when the row co-acts in
    window ``w``, and ``crowd`` is the larger density of the two events at the tightest
    matching window (at most 255).
    """
    m = row_ptr[-1]
    out = (
        np.empty(m, dtype=np.int32),
        np.empty(m, dtype=np.int32),
        np.empty(m, dtype=np.uint8),
        np.empty(m, dtype=np.uint8),
    )
    _walk(obj_ptr, acc, ts, wins, dens, caps, o_lo, o_hi, part, n_parts, row_ptr, out, True)
    return out


@njit(cache=True, nogil=True)
def _move_row(rea, reb, rmask, rcrowd, src, dst):
    """Copy row ``src`` to ``dst`` (compaction in place)."""
    rea[dst] = rea[src]
    reb[dst] = reb[src]
    rmask[dst] = rmask[src]
    rcrowd[dst] = rcrowd[src]


@njit(cache=True, nogil=True)
def dedupe_rows(rea, reb, rmask, rcrowd, acc, ts, seg_ptr, repeated, multi, o_lo):
    """Keep one row per (pair, object): the closest in time; OR the window masks.

    Rows of one object are contiguous (``seg_ptr``). Compacts in place and returns the
    number of rows kept, in order of first appearance. Objects where no account repeats
    have unique rows already; so has any row both of whose events are their account's
    only one on the object (``multi`` False). The others go through an open-addressing
    table.
    """
    longest = 1
    for g in range(seg_ptr.shape[0] - 1):
        if repeated[o_lo + g]:
            longest = max(longest, seg_ptr[g + 1] - seg_ptr[g])
    size = 1
    while size < 2 * longest:
        size <<= 1
    slot_key = np.full(size, -1, dtype=np.int64)
    slot_row = np.zeros(size, dtype=np.int64)
    out = 0
    for g in range(seg_ptr.shape[0] - 1):
        s = seg_ptr[g]
        e = seg_ptr[g + 1]
        if e <= s:
            continue
        if not repeated[o_lo + g]:
            for r in range(s, e):
                _move_row(rea, reb, rmask, rcrowd, r, out)
                out += 1
            continue
        tsize = 1
        while tsize < 2 * (e - s):
            tsize <<= 1
        tmask = tsize - 1
        for r in range(s, e):
            if not multi[rea[r]] and not multi[reb[r]]:  # the pair's only row here
                _move_row(rea, reb, rmask, rcrowd, r, out)
                out += 1
                continue
            key = (np.int64(acc[rea[r]]) << 32) | np.int64(acc[reb[r]])
            h = (key * np.int64(-7046029254386353131)) >> np.int64(20)
            slot = h & tmask
            while slot_key[slot] != -1 and slot_key[slot] != key:
                slot = (slot + 1) & tmask
            if slot_key[slot] == -1:
                slot_key[slot] = key
                slot_row[slot] = out
                _move_row(rea, reb, rmask, rcrowd, r, out)
                out += 1
            else:
                k = slot_row[slot]
                rmask[k] |= rmask[r]
                if abs(ts[reb[r]] - ts[rea[r]]) < abs(ts[reb[k]] - ts[rea[k]]):
                    rea[k] = rea[r]
                    reb[k] = reb[r]
                    rcrowd[k] = rcrowd[r]
        for slot in range(tsize):
            slot_key[slot] = -1
    return out


@njit(cache=True, nogil=True)
def rows_per_a(rea, acc, lo, hi, n_accounts):
    """How many of the rows ``lo:hi`` have each lower account (``acc[rea[r]]``)."""
    hist = np.zeros(n_accounts, dtype=np.int64)
    for r in range(lo, hi):
        hist[acc[rea[r]]] += 1
    return hist


@njit(cache=True, nogil=True)
def scatter_by_a(rea, reb, rmask, acc, lo, hi, start, order, sb, smask):
    """Stable counting-sort scatter of rows ``lo:hi`` by their lower account: row ``r``
    goes to ``order[start[a]]`` (``start`` advances), its higher account and window
    mask to ``sb`` and ``smask`` at the same place."""
    for r in range(lo, hi):
        a = acc[rea[r]]
        k = start[a]
        order[k] = r
        sb[k] = acc[reb[r]]
        smask[k] = rmask[r]
        start[a] = k + 1


@njit(cache=True, nogil=True)
def select_pairs(order, a_ptr, a_lo, a_hi, sb, smask, n_accounts, n_w, min_rows):
    """Group the rows of lower accounts ``a_lo:a_hi`` by pair and keep the pairs with at
    least ``min_rows`` rows.

    ``order[a_ptr[a]:a_ptr[a + 1]]`` are account ``a``'s rows in ascending row order,
    ``sb`` and ``smask`` their higher accounts and window masks. Each account's rows are
    tallied by higher account ``b`` in dense per-``b`` counters (a sparse accumulator: no
    sort of the rows), then only the kept pairs' ``b`` are sorted and their rows placed,
    so the output is the same as a stable sort by ``(a, b)`` followed by a filter.

    Returns ``(keep_rows, run_len, per_window, n_pairs)``: kept row indices in pair
    order (rows of one pair keep their original, object, order), the kept pairs' row
    counts, pairs with a row in each window (the hypotheses) and all distinct pairs.
    """
    lo = a_ptr[a_lo]
    hi = a_ptr[a_hi]
    longest = 1
    for a in range(a_lo, a_hi):
        longest = max(longest, a_ptr[a + 1] - a_ptr[a])
    cnt = np.zeros(n_accounts, dtype=np.int64)
    seen = np.zeros(n_accounts, dtype=np.uint8)
    place = np.zeros(n_accounts, dtype=np.int64)
    touched = np.empty(longest, dtype=np.int32)
    kept_b = np.empty(longest, dtype=np.int64)
    keep_rows = np.empty(hi - lo, dtype=np.int64)
    run_len = np.empty((hi - lo) // max(1, min_rows) + 1, dtype=np.int64)
    per_window = np.zeros(n_w, dtype=np.int64)
    n_pairs = 0
    n_kept = 0
    n_rows = 0
    for a in range(a_lo, a_hi):
        s = a_ptr[a]
        n = a_ptr[a + 1] - s
        n_touched = 0
        for k in range(n):
            b = sb[s + k]
            if cnt[b] == 0:
                touched[n_touched] = b
                n_touched += 1
            cnt[b] += 1
            seen[b] |= smask[s + k]
        n_pairs += n_touched
        n_sel = 0
        for t in range(n_touched):
            b = touched[t]
            m = seen[b]
            for w in range(n_w):
                if m & (1 << w):
                    per_window[w] += 1
            if cnt[b] >= min_rows:
                kept_b[n_sel] = b
                n_sel += 1
        if n_sel:
            _sort_small(kept_b, n_sel)
            for t in range(n_sel):
                b = kept_b[t]
                place[b] = n_rows
                n_rows += cnt[b]
                run_len[n_kept] = cnt[b]
                n_kept += 1
            for k in range(n):
                b = sb[s + k]
                if cnt[b] >= min_rows:
                    keep_rows[place[b]] = order[s + k]
                    place[b] += 1
        for t in range(n_touched):
            b = touched[t]
            cnt[b] = 0
            seen[b] = 0
    return keep_rows[:n_rows], run_len[:n_kept].copy(), per_window, n_pairs


@njit(cache=True, nogil=True)
def accounts_per_target(acc_ptr, acc_obj, obj_target, n_targets):
    """Distinct accounts per target, from each account's (sorted) object list."""
    count = np.zeros(n_targets, dtype=np.int64)
    last = np.full(n_targets, -1, dtype=np.int64)
    for a in range(acc_ptr.shape[0] - 1):
        for k in range(acc_ptr[a], acc_ptr[a + 1]):
            t = obj_target[acc_obj[k]]
            if last[t] != a:
                last[t] = a
                count[t] += 1
    return count


@njit(cache=True, nogil=True)
def pairs_within(obj_ptr, ts, width):
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
def _sort_small(x, n):
    """Sort ``x[:n]`` in place: insertion sort for short runs, numpy above."""
    if n > 24:
        x[:n] = np.sort(x[:n])
        return
    for k in range(1, n):
        cur = x[k]
        j = k - 1
        while j >= 0 and x[j] > cur:
            x[j + 1] = x[j]
            j -= 1
        x[j + 1] = cur


@njit(cache=True, nogil=True)
def aggregate_pairs(pair_ptr, rea, reb, rmask, rcrowd, ts, wins, gaps, n_w):
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
    longest = 1
    for p in range(n_pairs):
        longest = max(longest, pair_ptr[p + 1] - pair_ptr[p])
    times = np.empty(longest, dtype=np.int64)
    dts = np.empty(longest, dtype=np.int64)
    for p in range(n_pairs):
        s = pair_ptr[p]
        e = pair_ptr[p + 1]
        if e - s == 1:
            ta = ts[rea[s]]
            tb = ts[reb[s]]
            for w in range(n_w):
                if rmask[s] & (1 << w):
                    n_obj[p, w] = 1
                    episodes[p, w] = 1
                    weight[p, w] = base / np.log(rcrowd[s] + 5.0)
                    med_dt[p, w] = abs(tb - ta)
                    first[p, w] = min(ta, tb)
                    last[p, w] = min(ta, tb)
            continue
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
            _sort_small(times, c)
            _sort_small(dts, c)
            t = times
            d = dts
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
def group_by_object(obj, ts, acc, n_obj):
    """Order events by (object, time, account): a stable counting sort by object, then
    a sort only inside objects whose events are not already in (time, account) order.

    Returns ``(order, obj_ptr, acc_g, ts_g)``, ``acc_g``/``ts_g`` being the accounts and
    times in that order (gathered while the rows are placed, so that no later pass reads
    the input at random). Linear time for time-ordered input; the result does not depend
    on the input order except among fully identical (object, time, account).
    """
    n = obj.shape[0]
    obj_ptr = key_pointers(obj, n_obj)
    fill = obj_ptr[:-1].copy()
    order = np.empty(n, dtype=np.int64)
    acc_g = np.empty(n, dtype=acc.dtype)
    ts_g = np.empty(n, dtype=np.int64)
    for i in range(n):
        k = fill[obj[i]]
        order[k] = i
        acc_g[k] = acc[i]
        ts_g[k] = ts[i]
        fill[obj[i]] = k + 1
    for o in range(n_obj):
        s = obj_ptr[o]
        e = obj_ptr[o + 1]
        ts_sorted = True
        for k in range(s + 1, e):
            if ts_g[k] < ts_g[k - 1]:
                ts_sorted = False
                break
        if not ts_sorted:
            idx = np.argsort(ts_g[s:e], kind="mergesort")
            seg_order = order[s:e].copy()
            seg_acc = acc_g[s:e].copy()
            seg_ts = ts_g[s:e].copy()
            for k in range(e - s):
                order[s + k] = seg_order[idx[k]]
                acc_g[s + k] = seg_acc[idx[k]]
                ts_g[s + k] = seg_ts[idx[k]]
        # order runs of equal time by account (insertion sort: runs are short)
        k = s + 1
        while k < e:
            if ts_g[k] == ts_g[k - 1]:
                cur, cur_acc, t = order[k], acc_g[k], ts_g[k]
                j = k - 1
                while j >= s and ts_g[j] == t and acc_g[j] > cur_acc:
                    order[j + 1] = order[j]
                    acc_g[j + 1] = acc_g[j]
                    j -= 1
                order[j + 1] = cur
                acc_g[j + 1] = cur_acc
            k += 1
    return order, obj_ptr, acc_g, ts_g


@njit(cache=True, nogil=True)
def cap_and_gather(order, obj_ptr, acc_g, ts_g, cap, n_accounts):
    """Keep each account's first ``cap`` events per object, from events grouped by object
    and time-sorted (``order``/``obj_ptr``/``acc_g``/``ts_g`` of :func:`group_by_object`).

    Returns ``(kept, kept_ptr, acc_s, ts_s, repeated, multi, acc_ptr, acc_obj,
    acc_cnt)``: the kept rows of ``order`` with their object pointers, accounts and
    times; whether any account acts more than once on each object; per kept event,
    whether its account does; and per account its objects (ascending) with the number of
    events kept there.
    """
    n = order.shape[0]
    n_obj = obj_ptr.shape[0] - 1
    kept = np.empty(n, dtype=np.int64)
    kept_ptr = np.zeros(n_obj + 1, dtype=np.int64)
    acc_s = np.empty(n, dtype=acc_g.dtype)
    ts_s = np.empty(n, dtype=np.int64)
    repeated = np.zeros(n_obj, dtype=np.bool_)
    multi = np.zeros(n, dtype=np.bool_)
    seen = np.zeros(n_accounts, dtype=np.int32)
    slot = np.zeros(n_accounts, dtype=np.int64)
    trip_obj = np.empty(n, dtype=np.int32)
    trip_acc = np.empty(n, dtype=np.int32)
    trip_cnt = np.empty(n, dtype=np.int32)
    t = 0
    k = 0
    for o in range(n_obj):
        s = obj_ptr[o]
        e = obj_ptr[o + 1]
        first = k
        for i in range(s, e):
            a = acc_g[i]
            if seen[a] == 0:
                slot[a] = t
                trip_obj[t] = o
                trip_acc[t] = a
                t += 1
            else:
                repeated[o] = True
            seen[a] += 1
            if seen[a] <= cap:
                kept[k] = order[i]
                acc_s[k] = a
                ts_s[k] = ts_g[i]
                k += 1
        kept_ptr[o + 1] = k
        if repeated[o]:
            for j in range(first, k):
                multi[j] = seen[acc_s[j]] > 1
        for j in range(first, k):
            a = acc_s[j]
            if seen[a] > 0:
                trip_cnt[slot[a]] = min(seen[a], cap)
                seen[a] = 0
    # stable counting sort of the (object-ordered) triples by account
    by_acc, acc_ptr = counting_order(trip_acc[:t], n_accounts)
    acc_obj = trip_obj[by_acc]
    acc_cnt = trip_cnt[by_acc]
    return (kept[:k], kept_ptr, acc_s[:k], ts_s[:k], repeated, multi[:k], acc_ptr, acc_obj, acc_cnt)
