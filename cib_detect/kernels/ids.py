"""Checks of an id column: problem flags, 64-bit hashes, whether all hashes differ.

Two implementations give the same results: the Numba kernels (``strings.scan_ids``,
``sorting.all_distinct``) and NumPy versions here. Importing Numba and loading the two
kernels from its cache costs a process about 0.4 s, more than the NumPy versions take
for up to a few million ids. So :func:`scan_ids` and :func:`all_distinct` use NumPy
while Numba is not loaded yet and the input is below :data:`NUMPY_MAX` ids and
:data:`NUMPY_MAX_BYTES`, and the kernels otherwise (``detect`` loads them anyway).
``cib-detect ingest`` of such a file never loads Numba.
"""

from __future__ import annotations

import sys

import numpy as np
import numpy.typing as npt

EMPTY = 1  # empty, or only ASCII whitespace
NUL = 2  # holds a NUL byte
TOO_LONG = 4  # longer than max_bytes
#: Above this many ids, or bytes of ids, the Numba kernels are used even when Numba has
#: to be loaded (the NumPy versions take ~0.1-0.2 s per million ids, ~4 ns per byte).
NUMPY_MAX = 2_000_000
NUMPY_MAX_BYTES = 64 << 20

FNV_BASIS = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
_ASCII_WS = np.zeros(256, dtype=np.bool_)
_ASCII_WS[[9, 10, 11, 12, 13, 32]] = True
_BLOCK = 1 << 15  # strings per block of the hash loop

Flags = npt.NDArray[np.uint8]
Hashes = npt.NDArray[np.uint64]


def numba_loaded() -> bool:
    """Numba is imported in this process already (its start-up cost is paid)."""
    return "numba" in sys.modules


def scan_ids(
    data: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64], max_bytes: int
) -> tuple[Flags, Hashes]:
    """Per string ``offsets[i]:offsets[i+1]`` of ``data``: flags and FNV-1a hash."""
    big = offsets.size - 1 > NUMPY_MAX or int(offsets[-1] - offsets[0]) > NUMPY_MAX_BYTES
    if numba_loaded() or big:
        from cib_detect.kernels import strings

        flags, hashes = strings.scan_ids(data, offsets, max_bytes)
        return flags, hashes
    return scan_ids_numpy(data, offsets, max_bytes)


def all_distinct(hashes: Hashes) -> bool:
    """True when no two hashes are equal."""
    if numba_loaded() or hashes.size > NUMPY_MAX:
        from cib_detect.kernels.sorting import all_distinct as kernel

        return bool(kernel(hashes))
    return all_distinct_numpy(hashes)


def scan_ids_numpy(
    data: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64], max_bytes: int
) -> tuple[Flags, Hashes]:
    """``strings.scan_ids`` in NumPy. The hash of a string longer than ``max_bytes``
    covers its first ``max_bytes + 1`` bytes only (such ids are rejected, their hash is
    never used); every other hash and every flag equals the kernel's."""
    offsets = np.asarray(offsets, dtype=np.int64)
    n = offsets.size - 1
    flags = np.zeros(n, dtype=np.uint8)
    hashes = np.full(n, FNV_BASIS, dtype=np.uint64)
    if n <= 0:
        return flags, hashes
    lo = int(offsets[0])
    lengths = np.diff(offsets)
    body = np.asarray(data[lo : int(offsets[-1])], dtype=np.uint8)
    rel = offsets - lo
    # a string whose bytes are all ASCII whitespace (or that has none) is EMPTY
    space = np.bincount(_owner(rel, np.flatnonzero(_ASCII_WS[body])), minlength=n)
    flags[space == lengths] |= EMPTY
    flags[_owner(rel, np.flatnonzero(body == 0))] |= NUL
    flags[lengths > max_bytes] |= TOO_LONG
    # FNV-1a one byte position at a time, over the strings that long: longest first, in
    # blocks whose bytes stay in the CPU cache for all their positions
    cap = max_bytes + 1
    key = cap - np.minimum(lengths, cap)
    order = np.argsort(key.astype(np.uint16) if cap <= 0xFFFF else key, kind="stable")  # radix
    neg = -np.minimum(lengths[order], cap)  # ascending
    starts = rel[:-1][order]
    h = hashes[order]
    for b0 in range(0, n, _BLOCK):
        nb, st, hb = neg[b0 : b0 + _BLOCK], starts[b0 : b0 + _BLOCK], h[b0 : b0 + _BLOCK]
        for k in range(int(-nb[0])):
            m = int(np.searchsorted(nb, -k, side="left"))  # strings longer than k
            hb[:m] ^= body[st[:m] + k]
            hb[:m] *= FNV_PRIME
    hashes[order] = h
    return flags, hashes


def _owner(rel: npt.NDArray[np.int64], pos: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
    """The string each byte position ``pos`` belongs to."""
    return np.searchsorted(rel, pos, side="right") - 1


def all_distinct_numpy(hashes: Hashes) -> bool:
    """``sorting.all_distinct`` in NumPy (a sort)."""
    if hashes.size < 2:
        return True
    s = np.sort(hashes)
    return not bool((s[1:] == s[:-1]).any())
