"""Process-level memory behaviour for long, array-heavy runs."""

from __future__ import annotations

import ctypes
import sys

#: glibc's ``mallopt`` parameter numbers of ``M_TRIM_THRESHOLD`` and ``M_MMAP_THRESHOLD``.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Allocations of at least this many bytes get a mapping of their own.
MMAP_THRESHOLD = 1 << 20
#: glibc's default trim threshold: free space above it at the heap's top goes back.
TRIM_THRESHOLD = 128 << 10
#: The largest mapping threshold glibc accepts (64-bit): blocks below it can be reused.
KEEP_MMAP_THRESHOLD = 32 << 20
#: A trim threshold (a C ``int``) that in practice never trims.
KEEP_TRIM_THRESHOLD = 2**31 - 1
#: Runs on at least this many events map their large arrays (below it, peak memory is
#: far from any limit and the page faults of fresh mappings cost more than they save).
LARGE_RUN_EVENTS = 4_000_000


def _mallopt(settings: tuple[tuple[int, int], ...], trim: bool = False) -> bool:
    """Apply glibc ``mallopt`` settings; False where the C library is not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = all(bool(libc.mallopt(param, value)) for param, value in settings)
        if ok and trim:
            libc.malloc_trim(0)
        return ok
    except (OSError, AttributeError):
        return False


def keep_freed_memory() -> bool:
    """Make glibc keep freed blocks under 32 MiB in the process for the next allocations.

    A detection run allocates and frees arrays of tens of MiB stage after stage. By
    default glibc maps the larger ones on their own and unmaps them when freed, and
    trims the heap's top, so the next stage's arrays fault in fresh zeroed pages again:
    on this project's 2-core VM a first touch costs several microseconds per 4 KiB
    page. Keeping the blocks took a 2M-event run from 206-214k to 166-175k page faults
    and from 0.79-1.39 s to 0.64-0.89 s of system time (ad hoc, benchmarks/RESULTS.md).
    The CLI applies it before reading inputs of fewer rows than a large run
    (:func:`prepare_read`); :func:`prepare_run` switches runs that turn out large back
    to returning memory.
    """
    return _mallopt(
        ((_M_MMAP_THRESHOLD, KEEP_MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, KEEP_TRIM_THRESHOLD))
    )


def return_large_blocks_to_os() -> bool:
    """Make glibc serve every allocation of 1 MiB or more from its own mapping, which is
    returned to the system when freed.

    By default glibc raises that threshold (up to 32 MiB) each time such a block is
    freed, after which the engine's large temporary arrays come from the heap and the
    freed space stays in the process: about 200 MB more peak memory on 10M events. Also
    restores the default trim threshold (undoing :func:`keep_freed_memory`) and gives
    back the free memory the heap holds now. Does nothing (returns False) where the C
    library is not glibc.
    """
    return _mallopt(
        ((_M_MMAP_THRESHOLD, MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, TRIM_THRESHOLD)), trim=True
    )


def prepare_read(n_rows_estimate: int | None) -> bool:
    """:func:`keep_freed_memory` before reading an input of (at most about)
    ``n_rows_estimate`` rows, unless that may be a large run (or the size is unknown);
    True when applied."""
    if n_rows_estimate is None or n_rows_estimate >= LARGE_RUN_EVENTS:
        return False
    return keep_freed_memory()


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


def freeze_startup_objects() -> int:
    """Keep the objects alive now (modules, classes, compiled kernels: ~190k after the
    imports) out of the cyclic garbage collector's full passes; returns how many.

    A full pass walks every tracked object. Assembling a 2M-event run's clusters creates
    enough objects to set one off, and it took ~95 ms walking start-up objects, none of
    them garbage. Frozen objects are still freed by reference counting; objects made
    later are collected as before. No collection first: that would cost the same pass.
    """
    import gc

    gc.freeze()
    return gc.get_freeze_count()
