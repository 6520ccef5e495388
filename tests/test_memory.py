"""Process memory settings the CLI and the service apply before a run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cib_detect.memory import (
    LARGE_RUN_EVENTS,
    keep_freed_memory,
    no_hugepage_advice,
    prepare_read,
    prepare_run,
    return_large_blocks_to_os,
)


def _in_heap(setup: str, mib: int) -> bool:
    """Does a fresh interpreter, after ``setup``, serve a ``mib`` MiB array from the heap
    (below the program break) rather than from a mapping of its own?"""
    code = (
        "import ctypes, numpy as np\n"
        "from cib_detect import memory\n"
        f"{setup}\n"
        f"a = np.ones(({mib} << 20) // 8)\n"
        "sbrk = ctypes.CDLL('libc.so.6').sbrk\n"
        "sbrk.restype = ctypes.c_void_p\n"
        "print(int(a.ctypes.data < sbrk(0)))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return run.stdout.strip() == "1"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_large_blocks_get_mappings_of_their_own() -> None:
    # by default, freeing a 24 MiB block raises glibc's threshold: 2 MiB then comes from
    # the heap, whose freed holes stay in the process
    freed = "a = np.ones(3 << 20)\ndel a"
    assert _in_heap(freed, 2)
    # mapped instead, and unmapped (returned to the system) when freed
    assert not _in_heap("assert memory.return_large_blocks_to_os()\n" + freed, 2)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_kept_blocks_come_from_the_heap_until_a_large_run() -> None:
    # glibc's default maps a first 20 MiB block on its own (freed: unmapped, re-faulted)
    assert not _in_heap("pass", 20)
    assert _in_heap("assert memory.keep_freed_memory()", 20)
    # a large run switches back: even 2 MiB blocks get mappings returned when freed
    assert not _in_heap(
        "assert memory.keep_freed_memory()\nassert memory.prepare_run(memory.LARGE_RUN_EVENTS)", 2
    )


def test_returns_a_bool() -> None:
    assert isinstance(return_large_blocks_to_os(), bool)
    assert isinstance(keep_freed_memory(), bool)
    return_large_blocks_to_os()


def test_only_large_runs_change_the_setting() -> None:
    assert prepare_run(LARGE_RUN_EVENTS - 1) is False


def test_hugepage_advice_switch() -> None:
    import numpy as np

    set_advice = np._core.multiarray._set_madvise_hugepage
    before = set_advice(True)
    try:
        assert no_hugepage_advice() is True  # it was on
        assert no_hugepage_advice() is False  # and is off now
    finally:
        set_advice(before)


def test_reads_of_large_or_unknown_inputs_reserve_nothing() -> None:
    assert prepare_read(lambda: LARGE_RUN_EVENTS) is None
    assert prepare_read(lambda: None) is None


def _faults_to_touch(setup: str, mib: int) -> tuple[int, bool]:
    """In a fresh interpreter, after ``setup``: the page faults of filling a new ``mib``
    MiB array, and whether it came from the heap (below the program break)."""
    code = (
        "import ctypes, resource, numpy as np\n"
        "from cib_detect import memory\n"
        "memory.no_hugepage_advice()\n"
        f"{setup}\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        f"a = np.ones(({mib} << 20) // 8)\n"
        "faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before\n"
        "sbrk = ctypes.CDLL('libc.so.6').sbrk\n"
        "sbrk.restype = ctypes.c_void_p\n"
        "print(faults, int(a.ctypes.data < sbrk(0)))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    faults, in_heap = run.stdout.split()
    return int(faults), in_heap == "1"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_a_reserved_heap_serves_a_run_without_page_faults() -> None:
    pages = (48 << 20) // 4096
    faults, in_heap = _faults_to_touch("pass", 48)
    assert faults > pages // 2 and not in_heap  # glibc's default: a fresh mapping
    reserve = "memory.keep_one_heap()\nmemory.reserve_heap(64 << 20).join()"
    faults, in_heap = _faults_to_touch(reserve, 48)
    assert faults < pages // 10 and in_heap  # the touched block, kept by the heap
    # prepare_read sizes the block by the rows; a large run goes back to mappings
    faults, _ = _faults_to_touch("memory.prepare_read(lambda: 250_000).join()", 48)
    assert faults < pages // 10
    faults, in_heap = _faults_to_touch(
        "memory.prepare_read(lambda: 250_000).join()\n"
        "assert memory.prepare_run(memory.LARGE_RUN_EVENTS)",
        48,
    )
    assert faults > pages // 2 and not in_heap


def test_row_estimates(tmp_path: Path) -> None:
    import gzip

    import pyarrow as pa
    import pyarrow.parquet as pq

    from cib_detect.io.formats import MIN_TEXT_ROW_BYTES, rows_upper_estimate

    pq.write_table(pa.table({"a": list(range(1234))}), tmp_path / "e.parquet")
    assert rows_upper_estimate(tmp_path / "e.parquet", "parquet") == 1234
    text = b"e1,a1,stream,t1,1767225600\n" * 1000
    (tmp_path / "e.csv").write_bytes(text)
    assert rows_upper_estimate(tmp_path / "e.csv", "csv") == len(text) // MIN_TEXT_ROW_BYTES
    (tmp_path / "e.csv.gz").write_bytes(gzip.compress(text))
    # compressed, missing, not what the format says: unknown
    assert rows_upper_estimate(tmp_path / "e.csv.gz", "csv") is None
    assert rows_upper_estimate(tmp_path / "missing.csv", "csv") is None
    assert rows_upper_estimate(tmp_path / "e.csv", "parquet") is None


def test_frozen_start_up_objects_leave_later_garbage_collectable() -> None:
    code = (
        "import gc\n"
        "from cib_detect import memory\n"
        "import cib_detect.detect.engine\n"
        "n = memory.freeze_startup_objects()\n"
        "class Node:\n"
        "    pass\n"
        "a, b = Node(), Node()\n"
        "a.other, b.other = b, a\n"
        "del a, b\n"
        "print(n, gc.get_freeze_count(), len(gc.get_objects()), gc.collect())\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    frozen, count, tracked, collected = map(int, run.stdout.split())
    assert frozen == count > 10_000  # the start-up objects (imports) are frozen
    assert tracked < 1_000  # a full pass no longer walks them
    assert collected >= 2  # a cycle made afterwards is still collected
