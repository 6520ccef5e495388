"""Null-model kernels: expected co-actions per account pair and Poisson tail p-values."""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def expected_coactions(cand_a, cand_b, acc_ptr, acc_obj, acc_cnt, q):
    """Expected number of co-acted objects for each candidate pair, per window.

    ``acc_ptr``/``acc_obj``/``acc_cnt`` list each account's objects (sorted) with its
    event count there; ``q[o, w]`` is the chance that one event pair on ``o`` falls within
    window ``w`` under the null. With ``n_a`` and ``n_b`` events on a shared object,
    the pair co-acts there with probability ``1 - (1 - q)^(n_a * n_b)``.
    Returns ``lam[len(cand_a), n_windows]`` and the number of shared objects.

    Account ``a``'s event counts are spread over a dense per-object array once per run of
    pairs with the same ``a`` (pairs come sorted by ``a``), so each pair walks only
    ``b``'s objects; ``log1p(-q)`` is taken once per (object, window).
    """
    m = cand_a.shape[0]
    n_obj = q.shape[0]
    n_w = q.shape[1]
    lam = np.zeros((m, n_w), dtype=np.float64)
    shared = np.zeros(m, dtype=np.int32)
    log_miss = np.empty((n_obj, n_w), dtype=np.float64)
    for o in range(n_obj):
        for w in range(n_w):
            qq = q[o, w]
            log_miss[o, w] = math.log1p(-qq) if 0.0 < qq < 1.0 else 0.0
    n_of_a = np.zeros(n_obj, dtype=np.float64)
    current = -1
    for p in range(m):
        a = cand_a[p]
        if a != current:
            if current >= 0:
                for i in range(acc_ptr[current], acc_ptr[current + 1]):
                    n_of_a[acc_obj[i]] = 0.0
            for i in range(acc_ptr[a], acc_ptr[a + 1]):
                n_of_a[acc_obj[i]] = float(acc_cnt[i])
            current = a
        b = cand_b[p]
        c = 0
        for j in range(acc_ptr[b], acc_ptr[b + 1]):
            o = acc_obj[j]
            na = n_of_a[o]
            if na == 0.0:
                continue
            nn = na * float(acc_cnt[j])
            for w in range(n_w):
                qq = q[o, w]
                if qq >= 1.0:
                    lam[p, w] += 1.0
                elif qq > 0.0:
                    lam[p, w] += -math.expm1(nn * log_miss[o, w])
            c += 1
        shared[p] = c
    return lam, shared


@njit(cache=True, nogil=True)
def poisson_log10_sf(k, lam):
    """log10 P(X >= k) for X ~ Poisson(lam); exact series, no underflow."""
    if k <= 0:
        return 0.0
    if lam <= 0.0:
        return -np.inf
    if lam >= k:
        # the tail is large: 1 - P(X < k)
        log_term = -lam
        cdf = math.exp(log_term)
        for i in range(1, k):
            log_term += math.log(lam) - math.log(i)
            cdf += math.exp(log_term)
        tail = 1.0 - cdf
        if tail <= 0.0:
            return 0.0
        return math.log10(min(tail, 1.0))
    log_tk = -lam + k * math.log(lam) - math.lgamma(k + 1.0)
    s = 1.0
    t = 1.0
    i = k
    while True:
        i += 1
        t *= lam / i
        s += t
        if t < 1e-16 * s or i > k + 100000:
            break
    return min(0.0, (log_tk + math.log(s)) / math.log(10.0))


@njit(cache=True, nogil=True)
def poisson_log10_sf_many(k, lam):
    out = np.zeros(k.shape[0], dtype=np.float64)
    for i in range(k.shape[0]):
        out[i] = poisson_log10_sf(k[i], lam[i])
    return out
