"""Process-level memory behaviour for long, array-heavy runs."""

from __future__ import annotations

import ctypes
import sys

#: glibc's ``mallopt`` parameter number of ``M_MMAP_THRESHOLD``.
_M_MMAP_THRESHOLD = -3
#: Allocations of at least this many bytes get a mapping of their own.
MMAP_THRESHOLD = 1 << 20
#: Runs on at least this many events map their large arrays (below it, peak memory is
#: far from any limit and the page faults of fresh mappings cost more than they save).
LARGE_RUN_EVENTS = 4_000_000


def return_large_blocks_to_os() -> bool:
    """Make glibc serve every allocation of 1 MiB or more from its own mapping, which is
    returned to the system when freed.

    By default glibc raises that threshold (up to 32 MiB) each time such a block is
    freed, after which the engine's large temporary arrays come from the heap and the
    freed space stays in the process: about 200 MB more peak memory on 10M events. Does
    nothing (returns False) where the C library is not glibc.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError):
        return False


def prepare_run(n_events: int) -> bool:
    """:func:`return_large_blocks_to_os` for a detection run on ``n_events`` events when
    that is a large run; True when the setting was applied."""
    return n_events >= LARGE_RUN_EVENTS and return_large_blocks_to_os()


def no_hugepage_advice() -> bool:
    """Stop NumPy from asking for transparent huge pages on its large arrays.

    With the kernel's ``defrag=madvise`` setting (Debian's default) every fault on such
    an array may compact memory first: a 2M-event run took 0.85-1.52 s of system time
    with the advice against 0.67-0.78 s without, for the few TLB misses huge pages save.
    Returns the previous setting (False where NumPy does not offer the switch).
    """
    import numpy as np

    switch = getattr(getattr(np, "_core", None), "multiarray", None)
    set_advice = getattr(switch, "_set_madvise_hugepage", None)
    return bool(set_advice(False)) if set_advice is not None else False
