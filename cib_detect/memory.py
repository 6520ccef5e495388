"""Process-level memory behaviour for long, array-heavy runs."""

from __future__ import annotations

import ctypes
import sys
import threading
from collections.abc import Callable

#: glibc's ``mallopt`` parameter numbers (``malloc.h``).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
#: glibc's default for ``M_MMAP_MAX``: how many blocks may have mappings of their own.
DEFAULT_MMAP_MAX = 65536
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
#: Heap touched ahead of a run, per event of its input (:func:`reserve_heap`): a 2M-event
#: run from Parquet left ~34k page faults inside the run with 150 bytes per event, ~9k
#: with 225 (ad hoc, in-process).
RESERVE_BYTES_PER_EVENT = 256


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def _mallopt(settings: tuple[tuple[int, int], ...], trim: bool = False) -> bool:
    """Apply glibc ``mallopt`` settings; False where the C library is not glibc."""
    libc = _libc()
    if libc is None:
        return False
    try:
        ok = all(bool(libc.mallopt(param, value)) for param, value in settings)
        if ok and trim:
            libc.malloc_trim(0)
        return ok
    except AttributeError:
        return False


def keep_freed_memory() -> bool:
    """Make glibc keep freed blocks under 32 MiB in the process for the next allocations.

    A detection run allocates and frees arrays of tens of MiB stage after stage. By
    default glibc maps the larger ones on their own and unmaps them when freed, and
    trims the heap's top, so the next stage's arrays fault in fresh zeroed pages again:
    on this project's 2-core VM a first touch costs several microseconds per 4 KiB
    page. Keeping the blocks took a 2M-event run from 206-214k to 166-175k page faults
    and from 0.79-1.39 s to 0.64-0.89 s of system time (ad hoc, benchmarks/RESULTS.md).
    ``detect --from-neo4j`` applies it to runs below a large run once the events are
    exported (the file CLI goes further: :func:`prepare_read`).
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
    restores the default trim threshold and limit on mappings (undoing
    :func:`keep_freed_memory` and :func:`keep_one_heap`, except its single arena) and
    gives back the free memory the heap holds now. Does nothing (returns False) where the C
    library is not glibc.
    """
    return _mallopt(
        (
            (_M_MMAP_MAX, DEFAULT_MMAP_MAX),
            (_M_MMAP_THRESHOLD, MMAP_THRESHOLD),
            (_M_TRIM_THRESHOLD, TRIM_THRESHOLD),
        ),
        trim=True,
    )


def keep_one_heap() -> bool:
    """Serve every allocation from one heap that keeps what is freed: no per-block
    mappings, no per-thread arenas, no trimming (``M_MMAP_MAX`` 0, ``M_ARENA_MAX`` 1).
    Apply it before the process starts threads that allocate: an arena a thread has
    already made stays its own. False where the C library is not glibc."""
    return _mallopt(((_M_MMAP_MAX, 0), (_M_ARENA_MAX, 1), (_M_TRIM_THRESHOLD, KEEP_TRIM_THRESHOLD)))


def reserve_heap(n_bytes: int) -> threading.Thread | None:
    """Touch ``n_bytes`` of the heap now, on a thread of its own, and free them to the
    heap (after :func:`keep_one_heap`: kept for the run); returns that thread (join it
    before the run), or None where the C library is not glibc.

    On this project's 2-core VM (nested virtualisation) the first touch of a fresh 4 KiB
    page costs about 2 µs when the machine is quiet and several times that in its slow
    phases, and a 2M-event run touched ~120k of them between opening the input and
    writing its JSON: system time was the part of the run that moved most with the
    machine's load (benchmarks/RESULTS.md). The block touched here serves the run's arrays
    without faults, and the touching overlaps the loading of the kernels, when the
    second core is idle.
    """
    libc = _libc()
    if libc is None:
        return None
    malloc, memset, free = libc.malloc, libc.memset, libc.free
    malloc.restype = ctypes.c_void_p
    malloc.argtypes = [ctypes.c_size_t]
    memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
    free.argtypes = [ctypes.c_void_p]

    def touch() -> None:  # ctypes calls release the GIL
        block = malloc(n_bytes) if n_bytes > 0 else None
        if block:
            memset(block, 0, n_bytes)
            free(block)

    thread = threading.Thread(target=touch, name="cib-reserve-heap", daemon=True)
    thread.start()
    return thread


def prepare_read(n_rows_estimate: Callable[[], int | None]) -> threading.Thread | None:
    """Before reading an input: :func:`keep_one_heap` (again: the CLI applies it at its
    start, before the imports start threads; here, at least before the estimate, which
    may start the reader's), then for an input of fewer rows than a large run,
    :func:`reserve_heap` with :data:`RESERVE_BYTES_PER_EVENT` per row; an input that may
    be large (or of unknown size) goes back to returning large blocks instead. Returns
    the thread touching the heap (join it before the run), or None."""
    keep_one_heap()
    n = n_rows_estimate()
    if n is None or n >= LARGE_RUN_EVENTS:
        return_large_blocks_to_os()
        return None
    return reserve_heap(n * RESERVE_BYTES_PER_EVENT)


def prepare_run(n_events: int) -> bool:
    """:func:`return_large_blocks_to_os` for a detection run on ``n_events`` events when
    that is a large run (also after :func:`reserve_heap`, whose estimate may have been
    low); True when the setting was applied."""
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
