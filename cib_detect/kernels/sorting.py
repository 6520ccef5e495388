"""Shared sorting kernels."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def key_pointers(keys, n_keys):
    """Where each integer key's rows start in key order: ``ptr[k]:ptr[k+1]`` is the span
    of the rows with key ``k`` in ``[0, n_keys)`` (the first pass of a counting sort)."""
    ptr = np.zeros(n_keys + 1, dtype=np.int64)
    for i in range(keys.shape[0]):
        ptr[keys[i] + 1] += 1
    for k in range(n_keys):
        ptr[k + 1] += ptr[k]
    return ptr


@njit(cache=True, nogil=True)
def counting_order(keys, n_keys):
    """Stable counting sort of rows by integer ``keys`` in ``[0, n_keys)``.

    Returns ``(order, ptr)``: ``order[ptr[k]:ptr[k+1]]`` are the rows with key ``k`` in
    their original order.
    """
    n = keys.shape[0]
    ptr = key_pointers(keys, n_keys)
    fill = ptr[:-1].copy()
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        k = keys[i]
        order[fill[k]] = i
        fill[k] += 1
    return order, ptr


@njit(cache=True, nogil=True)
def all_distinct(hashes):
    """True when no two hashes are equal (then the strings are all distinct)."""
    n = hashes.shape[0]
    size = 1
    while size < 2 * n:
        size <<= 1
    mask = np.uint64(size - 1)
    table = np.empty(size, dtype=np.uint64)
    used = np.zeros(size, dtype=np.bool_)
    for i in range(n):
        h = hashes[i]
        slot = (h ^ (h >> np.uint64(29))) & mask
        while used[slot]:
            if table[slot] == h:
                return False
            slot = (slot + np.uint64(1)) & mask
        used[slot] = True
        table[slot] = h
    return True


@njit(cache=True, nogil=True)
def take_runs(values, starts, sizes):
    """``values[starts[0]:starts[0] + sizes[0]]``, then the next run, ... joined in order."""
    total = 0
    for i in range(sizes.shape[0]):
        total += sizes[i]
    out = np.empty(total, dtype=values.dtype)
    k = 0
    for i in range(sizes.shape[0]):
        s = starts[i]
        for j in range(sizes[i]):
            out[k] = values[s + j]
            k += 1
    return out
