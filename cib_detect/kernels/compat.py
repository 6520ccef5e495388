"""Kernels of the compatibility profiles (``cib-detect network``).

Pure functions over arrays, like every module in this package: no I/O, no logging, no
Python objects; serial, ``cache=True``, ``nogil=True``. The orchestration that gives
the arrays their meaning lives in :mod:`cib_detect.compat`.

Three families:

* **Directed co-action counts** (profile ``cnt``, coordination-network-toolkit):
  rows sorted by (object, time) with float64 timestamps; row ``k`` is a partner of row
  ``r`` when both are on the same object and ``ts[r] - w <= ts[k] <= ts[r] + w``
  computed in float64, exactly as SQLite evaluates ``between t - w and t + w``. The
  weight of the directed pair ``(u1, u2)`` is the number of distinct messages of ``u1``
  that have at least one partner row of ``u2`` (a row is its own partner, so every
  account with a message has a self pair).
* **Undirected pair rows** (profile ``coortweet``, CooRTweet ``detect_groups``).
* **Rendering** of edge lists to bytes (CSV and GraphML rows).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from cib_detect.kernels.sorting import all_distinct, counting_order

#: ``sim_mode`` of :func:`directed_weights`.
SIM_NONE = 0
SIM_PLAIN = 1  # Jaccard similarity; the caller guarantees no empty token set is compared
SIM_MIN_SIZE = 2  # Jaccard, 0 when either set has fewer than ``min_tokens`` tokens


@njit(cache=True, nogil=True)
def sort_by_object_time(obj, ts, n_obj):
    """Stable order of rows by (object, time): ``(order, obj_ptr)``.

    ``ts`` is float64 without NaN. A counting sort by object, then a merge sort inside
    each object whose rows are not already in time order.
    """
    order, obj_ptr = counting_order(obj, n_obj)
    for o in range(n_obj):
        s = obj_ptr[o]
        e = obj_ptr[o + 1]
        done = True
        for k in range(s + 1, e):
            if ts[order[k]] < ts[order[k - 1]]:
                done = False
                break
        if done:
            continue
        seg = order[s:e].copy()
        keys = np.empty(e - s, dtype=np.float64)
        for k in range(e - s):
            keys[k] = ts[seg[k]]
        idx = np.argsort(keys, kind="mergesort")
        for k in range(e - s):
            order[s + k] = seg[idx[k]]
    return order, obj_ptr


@njit(cache=True, nogil=True)
def window_bounds(obj_ptr, ts, width):
    """Partner range ``lo[i]:hi[i]`` of every row (rows sorted by (object, time)).

    ``lo`` is the first row of the object with ``ts >= ts[i] - width`` and ``hi`` one
    past the last with ``ts <= ts[i] + width``, both bounds computed in float64. A
    negative ``width`` gives empty ranges.
    """
    n = ts.shape[0]
    lo = np.empty(n, dtype=np.int64)
    hi = np.empty(n, dtype=np.int64)
    for o in range(obj_ptr.shape[0] - 1):
        s = obj_ptr[o]
        e = obj_ptr[o + 1]
        a = s
        b = s
        for i in range(s, e):
            low = ts[i] - width
            high = ts[i] + width
            while a < e and ts[a] < low:
                a += 1
            if b < a:
                b = a
            while b < e and ts[b] <= high:
                b += 1
            lo[i] = a
            hi[i] = b
    return lo, hi


@njit(cache=True, nogil=True)
def group_by_user_message(user, msg, n_users, by_message):
    """Rows grouped by (user, message), users ascending: ``(grp_ptr, grp_rows)``.

    Without ``by_message`` every row is its own group (each row is a distinct message).
    """
    n = user.shape[0]
    rows, ptr = counting_order(user, n_users)
    if not by_message:
        grp_ptr = np.arange(n + 1).astype(np.int64)
        return grp_ptr, rows
    grp_ptr = np.empty(n + 1, dtype=np.int64)
    n_grp = 0
    for u in range(n_users):
        s = ptr[u]
        e = ptr[u + 1]
        if e - s > 1:
            seg = rows[s:e].copy()
            keys = np.empty(e - s, dtype=np.int64)
            for k in range(e - s):
                keys[k] = msg[seg[k]]
            idx = np.argsort(keys, kind="mergesort")
            for k in range(e - s):
                rows[s + k] = seg[idx[k]]
        for k in range(s, e):
            if k == s or msg[rows[k]] != msg[rows[k - 1]]:
                grp_ptr[n_grp] = k
                n_grp += 1
    grp_ptr[n_grp] = n
    return grp_ptr[: n_grp + 1].copy(), rows


@njit(cache=True, nogil=True)
def cnt_prepare(obj, ts, user, msg, doc, n_obj, n_users, width, by_message):
    """Everything :func:`directed_weights` walks, from rows in any order (``ts`` float64
    without NaN): ``(lo, hi, user_s, doc_s, grp_ptr, grp_rows)`` over the rows sorted by
    (object, time); ``doc`` may be empty."""
    order, obj_ptr = sort_by_object_time(obj, ts, n_obj)
    n = order.shape[0]
    ts_s = np.empty(n, dtype=np.float64)
    user_s = np.empty(n, dtype=np.int32)
    msg_s = np.empty(n, dtype=np.int64)
    doc_s = np.empty(n if doc.shape[0] else 0, dtype=np.int64)
    for i in range(n):
        r = order[i]
        ts_s[i] = ts[r]
        user_s[i] = user[r]
        msg_s[i] = msg[r]
        if doc.shape[0]:
            doc_s[i] = doc[r]
    lo, hi = window_bounds(obj_ptr, ts_s, width)
    grp_ptr, grp_rows = group_by_user_message(user_s, msg_s, n_users, by_message)
    return lo, hi, user_s, doc_s, grp_ptr, grp_rows


@njit(cache=True, nogil=True)
def user_splits(user, grp_ptr, grp_rows, parts):
    """Group indices splitting the groups into ``parts`` runs of whole users, with
    about equal numbers of groups."""
    n_grp = grp_ptr.shape[0] - 1
    out = np.full(parts + 1, n_grp, dtype=np.int64)
    out[0] = 0
    k = 1
    for g in range(1, n_grp):
        if k >= parts:
            break
        boundary = user[grp_rows[grp_ptr[g]]] != user[grp_rows[grp_ptr[g - 1]]]
        if boundary and g * parts >= k * n_grp:
            out[k] = g
            k += 1
    return out


@njit(cache=True, nogil=True)
def _similar(tok_ptr, tok, da, db, thr, min_tokens, sim_mode):
    """Jaccard similarity of token sets ``da`` and ``db`` (sorted ids) ``>= thr``."""
    sa = tok_ptr[da]
    ea = tok_ptr[da + 1]
    sb = tok_ptr[db]
    eb = tok_ptr[db + 1]
    na = ea - sa
    nb = eb - sb
    if sim_mode == SIM_MIN_SIZE and (na < min_tokens or nb < min_tokens):
        return thr <= 0.0
    if da == db:
        return thr <= 1.0
    inter = 0
    i = sa
    j = sb
    while i < ea and j < eb:
        if tok[i] == tok[j]:
            inter += 1
            i += 1
            j += 1
        elif tok[i] < tok[j]:
            i += 1
        else:
            j += 1
    union = na + nb - inter
    return thr <= float(inter) / float(union)


@njit(cache=True, nogil=True)
def _grow(arr, size):
    out = np.empty(max(size, 2 * arr.shape[0]), dtype=arr.dtype)
    out[: arr.shape[0]] = arr
    return out


@njit(cache=True, nogil=True)
def directed_weights(
    lo, hi, user, grp_ptr, grp_rows, g_lo, g_hi, n_users, min_w, loops, doc, tok_ptr, tok, thr,
    min_tokens, sim_mode,
):  # fmt: skip
    """Directed pair weights of groups ``g_lo:g_hi``: ``(u1, u2, weight)`` sorted by
    ``(u1, u2)``; ``g_lo`` and ``g_hi`` must fall on user boundaries.

    ``lo``/``hi`` come from :func:`window_bounds`, ``grp_ptr``/``grp_rows`` from
    :func:`group_by_user_message` (one group per message of ``u1``). The weight of
    ``(u1, u2)`` is the number of groups of ``u1`` with a partner row of ``u2``; pairs
    with ``weight >= min_w`` are kept, ``u1 == u2`` only with ``loops``. With a
    ``sim_mode``, a partner also needs token sets (``doc`` per row, CSR ``tok_ptr``/
    ``tok`` per document) with Jaccard similarity ``>= thr``.
    """
    n_grp = g_hi
    cnt = np.zeros(n_users, dtype=np.int64)
    mark = np.full(n_users, -1, dtype=np.int64)
    touched = np.empty(n_users, dtype=np.int32)
    out_a = np.empty(1024, dtype=np.int32)
    out_b = np.empty(1024, dtype=np.int32)
    out_w = np.empty(1024, dtype=np.int64)
    m = 0
    g = g_lo
    while g < n_grp:
        u = user[grp_rows[grp_ptr[g]]]
        nt = 0
        while g < n_grp and user[grp_rows[grp_ptr[g]]] == u:
            for q in range(grp_ptr[g], grp_ptr[g + 1]):
                r = grp_rows[q]
                for k in range(lo[r], hi[r]):
                    u2 = user[k]
                    if mark[u2] == g:
                        continue
                    if sim_mode != SIM_NONE and not _similar(
                        tok_ptr, tok, doc[r], doc[k], thr, min_tokens, sim_mode
                    ):
                        continue
                    mark[u2] = g
                    if cnt[u2] == 0:
                        touched[nt] = u2
                        nt += 1
                    cnt[u2] += 1
            g += 1
        # keep the pairs that pass, reset the counters, then sort only the survivors
        kept = 0
        for t in range(nt):
            u2 = touched[t]
            c = cnt[u2]
            cnt[u2] = 0
            if c >= min_w and (loops or u2 != u):
                touched[kept] = u2
                mark[u2] = -2 - c  # park the weight (marks of later groups are >= 0)
                kept += 1
        if kept > 1:
            touched[:kept] = np.sort(touched[:kept])
        if m + kept > out_a.shape[0]:
            out_a = _grow(out_a, m + kept)
            out_b = _grow(out_b, m + kept)
            out_w = _grow(out_w, m + kept)
        for t in range(kept):
            u2 = touched[t]
            out_a[m] = u
            out_b[m] = u2
            out_w[m] = -2 - mark[u2]
            mark[u2] = -1
            m += 1
    return out_a[:m].copy(), out_b[:m].copy(), out_w[:m].copy()


@njit(cache=True, nogil=True)
def strings_distinct(data, offsets):
    """True when the strings ``data[offsets[i]:offsets[i + 1]]`` are all different
    (decided on 64-bit hashes: distinct hashes mean distinct strings; False on any
    equal hash, even a collision, so callers then compare the strings)."""
    return all_distinct(string_hashes(data, offsets))


@njit(cache=True, nogil=True)
def string_hashes(data, offsets):
    """64-bit FNV-1a hash of every string ``data[offsets[i]:offsets[i + 1]]``."""
    n = offsets.shape[0] - 1
    out = np.empty(n, dtype=np.uint64)
    for i in range(n):
        h = np.uint64(0xCBF29CE484222325)
        for q in range(offsets[i], offsets[i + 1]):
            h = (h ^ np.uint64(data[q])) * np.uint64(0x100000001B3)
        out[i] = h
    return out


@njit(cache=True, nogil=True)
def parse_plain_ints(data, offsets):
    """``float(s)`` of strings that are an optional ``-`` and 1 to 15 ASCII digits
    (exact); ``ok`` is False for every other string."""
    n = offsets.shape[0] - 1
    out = np.zeros(n, dtype=np.float64)
    ok = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        s = offsets[i]
        e = offsets[i + 1]
        neg = False
        if s < e and data[s] == 45:
            neg = True
            s += 1
        if e - s < 1 or e - s > 15:
            continue
        v = np.int64(0)
        good = True
        for q in range(s, e):
            c = data[q]
            if c < 48 or c > 57:
                good = False
                break
            v = v * 10 + (c - 48)
        if good:
            out[i] = -float(v) if neg else float(v)
            ok[i] = True
    return out, ok


@njit(cache=True, nogil=True)
def first_index(codes, n_codes):
    """Index of the first row carrying each code (-1 for unused codes)."""
    first = np.full(n_codes, -1, dtype=np.int64)
    for i in range(codes.shape[0]):
        c = codes[i]
        if first[c] < 0:
            first[c] = i
    return first


@njit(cache=True, nogil=True)
def max_per_group(group, value, n_groups):
    """Largest ``value`` per group (-1 where a group has no row)."""
    out = np.full(n_groups, -1, dtype=np.int64)
    for i in range(group.shape[0]):
        if value[i] > out[group[i]]:
            out[group[i]] = value[i]
    return out


@njit(cache=True, nogil=True)
def latest_rows(user, ts, wanted, n_users, n_latest):
    """Per wanted user, its ``n_latest`` rows by time descending (NaN last), ties by
    row index descending: ``(ptr, rows)`` over the users (empty for unwanted ones)."""
    n = user.shape[0]
    ptr = np.zeros(n_users + 1, dtype=np.int64)
    for i in range(n):
        if wanted[user[i]]:
            ptr[user[i] + 1] += 1
    for u in range(n_users):
        ptr[u + 1] += ptr[u]
    fill = ptr[:-1].copy()
    rows = np.empty(ptr[n_users], dtype=np.int64)
    for i in range(n):
        u = user[i]
        if wanted[u]:
            rows[fill[u]] = i
            fill[u] += 1
    out_ptr = np.zeros(n_users + 1, dtype=np.int64)
    for u in range(n_users):
        out_ptr[u + 1] = out_ptr[u] + min(n_latest, ptr[u + 1] - ptr[u])
    out = np.empty(out_ptr[n_users], dtype=np.int64)
    for u in range(n_users):
        s = ptr[u]
        e = ptr[u + 1]
        if e == s:
            continue
        # rows are in ascending index order: walk them newest-index first and keep a
        # small sorted list (time descending, NaN last; earlier entries win ties)
        k_max = out_ptr[u + 1] - out_ptr[u]
        o = out_ptr[u]
        k = 0
        for j in range(e - 1, s - 1, -1):
            r = rows[j]
            t = ts[r]
            pos = k
            while pos > 0:
                prev = ts[out[o + pos - 1]]
                if np.isnan(t):
                    break
                if np.isnan(prev) or t > prev:
                    pos -= 1
                else:
                    break
            if pos >= k_max:
                continue
            last = min(k, k_max - 1)
            for q in range(last, pos, -1):
                out[o + q] = out[o + q - 1]
            out[o + pos] = r
            if k < k_max:
                k += 1
    return out_ptr, out


# --------------------------------------------------------------------------- CooRTweet


@njit(cache=True, nogil=True)
def coortweet_pairs(obj_ptr, ts, acc, content, obj_content, width, remove_loops):
    """Row pairs on one object with ``|dt| <= width`` (rows sorted by (object, time,
    input order)): ``(older, newer)`` row indices, the older first in that order.

    With ``remove_loops`` a pair is dropped when the object's id equals either row's
    content id (``obj_content[o]``, -1 when it equals none), when both content ids are
    equal, or when both rows have the same account.
    """
    cap = 1024
    old = np.empty(cap, dtype=np.int64)
    new = np.empty(cap, dtype=np.int64)
    m = 0
    for o in range(obj_ptr.shape[0] - 1):
        s = obj_ptr[o]
        e = obj_ptr[o + 1]
        oc = obj_content[o]
        for i in range(s, e):
            if remove_loops and content[i] == oc:
                continue
            for j in range(i + 1, e):
                if ts[j] - ts[i] > width:
                    break
                if remove_loops and (
                    content[j] == oc or content[j] == content[i] or acc[j] == acc[i]
                ):
                    continue
                if m == old.shape[0]:
                    old = _grow(old, m + 1)
                    new = _grow(new, m + 1)
                old[m] = i
                new[m] = j
                m += 1
    return old[:m].copy(), new[:m].copy()


@njit(cache=True, nogil=True)
def coortweet_post_filter(old, new, acc, content, n_acc, n_content, min_participation):
    """CooRTweet's ``filter_min_participation``: keep a pair when either content id is
    one of a qualifying account's rows; an account qualifies with at least
    ``min_participation`` rows whose content id appears in any pair."""
    in_pairs = np.zeros(n_content, dtype=np.bool_)
    for p in range(old.shape[0]):
        in_pairs[content[old[p]]] = True
        in_pairs[content[new[p]]] = True
    count = np.zeros(n_acc, dtype=np.int64)
    for i in range(acc.shape[0]):
        if in_pairs[content[i]]:
            count[acc[i]] += 1
    good = np.zeros(n_content, dtype=np.bool_)
    for i in range(acc.shape[0]):
        if in_pairs[content[i]] and count[acc[i]] >= min_participation:
            good[content[i]] = True
    keep = np.zeros(old.shape[0], dtype=np.bool_)
    for p in range(old.shape[0]):
        keep[p] = good[content[old[p]]] or good[content[new[p]]]
    return keep


@njit(cache=True, nogil=True)
def coortweet_edges(order, a_lo, a_hi, c_old, c_new, dt, n_content):
    """Aggregate pair rows (``order`` sorts them by (a_lo, a_hi)) into edges:
    ``(a, b, weight, sum_dt, n_old, n_new)`` with distinct older / newer content ids."""
    n = order.shape[0]
    ea = np.empty(n, dtype=np.int32)
    eb = np.empty(n, dtype=np.int32)
    w = np.empty(n, dtype=np.int64)
    sdt = np.empty(n, dtype=np.int64)
    n_old = np.empty(n, dtype=np.int64)
    n_new = np.empty(n, dtype=np.int64)
    mark_old = np.full(n_content, -1, dtype=np.int64)
    mark_new = np.full(n_content, -1, dtype=np.int64)
    m = -1
    for k in range(n):
        p = order[k]
        if m < 0 or a_lo[p] != ea[m] or a_hi[p] != eb[m]:
            m += 1
            ea[m] = a_lo[p]
            eb[m] = a_hi[p]
            w[m] = 0
            sdt[m] = 0
            n_old[m] = 0
            n_new[m] = 0
        w[m] += 1
        sdt[m] += dt[p]
        if mark_old[c_old[p]] != m:
            mark_old[c_old[p]] = m
            n_old[m] += 1
        if mark_new[c_new[p]] != m:
            mark_new[c_new[p]] = m
            n_new[m] += 1
    m += 1
    return (
        ea[:m].copy(),
        eb[:m].copy(),
        w[:m].copy(),
        sdt[:m].copy(),
        n_old[:m].copy(),
        n_new[:m].copy(),
    )


# --------------------------------------------------------------------------- native


@njit(cache=True, nogil=True)
def pair_distinct_targets(order, a, b, target, n_targets):
    """Per unordered pair (rows sorted by ``order`` on (a, b)): rows and distinct
    targets: ``(pa, pb, n_rows, n_targets)``."""
    n = order.shape[0]
    pa = np.empty(n, dtype=np.int32)
    pb = np.empty(n, dtype=np.int32)
    rows = np.empty(n, dtype=np.int64)
    tg = np.empty(n, dtype=np.int64)
    mark = np.full(n_targets, -1, dtype=np.int64)
    m = -1
    for k in range(n):
        r = order[k]
        if m < 0 or a[r] != pa[m] or b[r] != pb[m]:
            m += 1
            pa[m] = a[r]
            pb[m] = b[r]
            rows[m] = 0
            tg[m] = 0
        rows[m] += 1
        if mark[target[r]] != m:
            mark[target[r]] = m
            tg[m] += 1
    m += 1
    return pa[:m].copy(), pb[:m].copy(), rows[:m].copy(), tg[:m].copy()


# --------------------------------------------------------------------------- rendering


@njit(cache=True, nogil=True)
def _digits(v):
    if v == 0:
        return 1
    n = 1 if v < 0 else 0
    x = -v if v < 0 else v
    while x > 0:
        n += 1
        x //= 10
    return n


@njit(cache=True, nogil=True)
def _put_int(out, pos, v):
    nd = _digits(v)
    x = v
    if v < 0:
        out[pos] = 45  # '-'
        x = -v
    end = pos + nd
    q = end - 1
    if x == 0:
        out[q] = 48
    while x > 0:
        out[q] = 48 + x % 10
        x //= 10
        q -= 1
    return end


@njit(cache=True, nogil=True)
def render_edges(a, b, w, name_buf, name_ptr, part_buf, part_ptr):
    """One text row per edge: ``P0 name[a] P1 name[b] P2 weight P3`` as UTF-8 bytes.

    ``name_buf``/``name_ptr`` hold each account's already escaped text, ``part_buf``/
    ``part_ptr`` the four fixed parts.
    """
    n = a.shape[0]
    fixed = part_ptr[4] - part_ptr[0]
    size = 0
    for k in range(n):
        size += fixed + name_ptr[a[k] + 1] - name_ptr[a[k]]
        size += name_ptr[b[k] + 1] - name_ptr[b[k]] + _digits(w[k])
    out = np.empty(size, dtype=np.uint8)
    pos = 0
    for k in range(n):
        for part in range(4):
            for q in range(part_ptr[part], part_ptr[part + 1]):
                out[pos] = part_buf[q]
                pos += 1
            if part == 0 or part == 1:
                u = a[k] if part == 0 else b[k]
                for q in range(name_ptr[u], name_ptr[u + 1]):
                    out[pos] = name_buf[q]
                    pos += 1
            elif part == 2:
                pos = _put_int(out, pos, w[k])
    return out
