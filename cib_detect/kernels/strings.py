"""Byte-level scans of Arrow string columns: id checks and 64-bit hashes in one pass."""

from __future__ import annotations

import numpy as np
from numba import njit

EMPTY = 1
NUL = 2
TOO_LONG = 4


@njit(cache=True, nogil=True)
def scan_ids(data, offsets, max_bytes):
    """Per string: problem flags (EMPTY, NUL, TOO_LONG) and a 64-bit FNV-1a hash.

    ``offsets[i]:offsets[i+1]`` delimits string ``i`` inside ``data`` (UTF-8 bytes).
    A string of only ASCII whitespace counts as empty.
    """
    n = offsets.shape[0] - 1
    flags = np.zeros(n, dtype=np.uint8)
    hashes = np.empty(n, dtype=np.uint64)
    prime = np.uint64(0x100000001B3)
    for i in range(n):
        s = offsets[i]
        e = offsets[i + 1]
        h = np.uint64(0xCBF29CE484222325)
        blank = True
        f = 0
        for k in range(s, e):
            c = data[k]
            if c == 0:
                f |= NUL
            if c != 32 and c != 9 and c != 10 and c != 13 and c != 11 and c != 12:
                blank = False
            h ^= np.uint64(c)
            h *= prime
        if blank:
            f |= EMPTY
        if e - s > max_bytes:
            f |= TOO_LONG
        flags[i] = f
        hashes[i] = h
    return flags, hashes
