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
    """
    m = cand_a.shape[0]
    n_w = q.shape[1]
    lam = np.zeros((m, n_w), dtype=np.float64)
    shared = np.zeros(m, dtype=np.int32)
    for p in range(m):
        a = cand_a[p]
        b = cand_b[p]
        i = acc_ptr[a]
        ie = acc_ptr[a + 1]
        j = acc_ptr[b]
        je = acc_ptr[b + 1]
        c = 0
        while i < ie and j < je:
            oa = acc_obj[i]
            ob = acc_obj[j]
            if oa < ob:
                i += 1
            elif ob < oa:
                j += 1
            else:
                nn = float(acc_cnt[i]) * float(acc_cnt[j])
                for w in range(n_w):
                    qq = q[oa, w]
                    if qq >= 1.0:
                        lam[p, w] += 1.0
                    elif qq > 0.0:
                        lam[p, w] += -math.expm1(nn * math.log1p(-qq))
                c += 1
                i += 1
                j += 1
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
