"""One-permutation MinHash over byte shingles, and LSH banding into near-duplicate groups."""

from __future__ import annotations

import numpy as np
from numba import njit

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


@njit(cache=True, nogil=True)
def _mix64(x):
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


@njit(cache=True, nogil=True)
def oph_signatures(data, offsets, shingle, bin_bits):
    """One-permutation-hashing MinHash signature (``2**bin_bits`` bins) per text.

    ``data`` is the UTF-8 bytes of all texts, ``offsets[i]:offsets[i+1]`` text ``i``.
    Each ``shingle``-byte window hashes to a bin (top bits) and a value (low 32 bits);
    empty bins borrow the next non-empty bin's value (rotation densification).
    """
    n = offsets.shape[0] - 1
    k = 1 << bin_bits
    empty = np.uint32(0xFFFFFFFF)
    sig = np.full((n, k), empty, dtype=np.uint32)
    shift = np.uint64(64 - bin_bits)
    low = np.uint64(0xFFFFFFFF)
    for t in range(n):
        s = offsets[t]
        e = offsets[t + 1]
        span = max(1, e - s - shingle + 1)
        width = min(shingle, e - s)
        for p in range(span):
            h = _FNV_OFFSET
            for q in range(s + p, s + p + width):
                h ^= np.uint64(data[q])
                h *= _FNV_PRIME
            h = _mix64(h)
            b = np.int64(h >> shift)
            v = np.uint32(h & low)
            if v == empty:
                v = np.uint32(0xFFFFFFFE)
            if v < sig[t, b]:
                sig[t, b] = v
        for b in range(k):
            if sig[t, b] == empty:
                for d in range(1, k):
                    c = sig[t, (b + d) % k]
                    if c != empty:
                        sig[t, b] = np.uint32(
                            (np.uint64(c) + np.uint64(d) * np.uint64(0x9E3779B1)) & low
                        )
                        break
    return sig


@njit(cache=True, nogil=True)
def _find(parent, x):
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:
        nxt = parent[x]
        parent[x] = root
        x = nxt
    return root


@njit(cache=True, nogil=True)
def _similarity(sig, i, j):
    same = 0
    k = sig.shape[1]
    for b in range(k):
        if sig[i, b] == sig[j, b]:
            same += 1
    return same / k


@njit(cache=True, nogil=True)
def lsh_groups(sig, bands, rows, threshold):
    """Group texts whose estimated Jaccard similarity reaches ``threshold``.

    Candidates share all ``rows`` values of one of ``bands`` bands; each candidate is
    checked against its bucket's first (smallest-index) member. Buckets live in an
    open-addressing table per band, so each band is one linear pass. Returns, per text,
    the smallest index in its group (so labels are canonical for the input order).
    """
    n = sig.shape[0]
    parent = np.arange(n)
    size = 1
    while size < 2 * n:
        size <<= 1
    tmask = np.uint64(size - 1)
    slot_key = np.zeros(size, dtype=np.uint64)
    slot_head = np.full(size, -1, dtype=np.int64)
    for band in range(bands):
        slot_head[:] = -1
        for i in range(n):
            h = _FNV_OFFSET
            for r in range(band * rows, (band + 1) * rows):
                h ^= np.uint64(sig[i, r])
                h *= _FNV_PRIME
            key = _mix64(h)
            slot = np.int64(key & tmask)
            while slot_head[slot] >= 0 and slot_key[slot] != key:
                slot = (slot + 1) & (size - 1)
            if slot_head[slot] < 0:
                slot_key[slot] = key
                slot_head[slot] = i
                continue
            head = slot_head[slot]
            if _similarity(sig, head, i) >= threshold:
                ra = _find(parent, head)
                rb = _find(parent, i)
                if ra < rb:
                    parent[rb] = ra
                elif rb < ra:
                    parent[ra] = rb
    labels = np.empty(n, dtype=np.int64)
    for i in range(n):
        labels[i] = _find(parent, i)
    return labels
