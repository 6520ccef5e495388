"""Byte-level scans of Arrow string columns: id checks and 64-bit hashes in one pass."""

from __future__ import annotations

import numpy as np
from numba import njit

from cib_detect.kernels.ids import EMPTY, NUL, TOO_LONG


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


@njit(cache=True, nogil=True)
def ascii_words(data, offsets):
    """Per string: its ASCII letters and digits, each run of other bytes turned into one
    space, leading and trailing ones dropped (``"Hi, you!"`` -> ``"Hi you"``).

    Returns ``(out_data, out_offsets, non_ascii)``. A string holding any byte >= 0x80 is
    flagged in ``non_ascii`` and left empty: Unicode classes are the caller's to apply.
    """
    n = offsets.shape[0] - 1
    out = np.empty(max(0, offsets[n] - offsets[0]), dtype=np.uint8)
    out_offsets = np.zeros(n + 1, dtype=np.int64)
    non_ascii = np.zeros(n, dtype=np.bool_)
    pos = 0
    for i in range(n):
        start = pos
        gap = False
        for k in range(offsets[i], offsets[i + 1]):
            c = data[k]
            if c >= 128:
                non_ascii[i] = True
                pos = start
                break
            if (48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122):
                if gap and pos > start:
                    out[pos] = 32
                    pos += 1
                gap = False
                out[pos] = c
                pos += 1
            else:
                gap = True
        out_offsets[i + 1] = pos
    return out[:pos], out_offsets, non_ascii
