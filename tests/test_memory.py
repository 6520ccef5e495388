"""Process memory settings the CLI and the service apply before a run."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cib_detect.memory import (
    LARGE_RUN_EVENTS,
    no_hugepage_advice,
    prepare_run,
    return_large_blocks_to_os,
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_large_blocks_are_mapped_and_returned() -> None:
    code = (
        "import resource, numpy as np\n"
        "from cib_detect.memory import return_large_blocks_to_os\n"
        "import sys\n"
        "if sys.argv[1] == 'on': assert return_large_blocks_to_os()\n"
        # free a 24 MiB block (glibc then raises its threshold), then churn 16 MiB arrays
        "a = np.ones(3 << 20); del a\n"
        "keep = []\n"
        "for i in range(40):\n"
        "    b = np.ones((2 << 20) + i * 8192); keep.append(np.ones(64)); del b\n"
        "with open('/proc/self/statm') as f: print(int(f.read().split()[1]) * 4096)\n"
    )

    def rss(mode: str) -> int:
        run = subprocess.run(
            [sys.executable, "-c", code, mode], capture_output=True, text=True, check=True
        )
        return int(run.stdout)

    # growing 16 MiB temporaries, each followed by a small block that outlives it: from
    # the heap they leave holes that are never given back; mapped, they are
    assert rss("on") + (24 << 20) < rss("off")


def test_returns_a_bool() -> None:
    assert isinstance(return_large_blocks_to_os(), bool)


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
