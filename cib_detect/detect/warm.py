"""Compile (or load from Numba's cache) every kernel once, on a tiny input."""

from __future__ import annotations

import time

import numpy as np

from cib_detect.config import DetectParams
from cib_detect.detect.engine import run_detection
from cib_detect.io.readers import from_columns


def warm_up() -> float:
    """Run the engine on a small planted world; return the seconds it took."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    acc: list[str] = []
    tgt: list[str] = []
    ts: list[int] = []
    texts: list[str | None] = []
    base = 1_767_225_600_000
    for ep in range(6):
        for m in range(5):
            for k in range(2):
                acc.append(f"w{m}")
                tgt.append(f"t{ep}-{k}")
                ts.append(base + ep * 86_400_000 + k * 200_000 + int(rng.integers(0, 5000)))
                texts.append(
                    f"the same message number {ep} posted by the group again" if k else None
                )
    for i in range(200):
        acc.append(f"o{i % 40}")
        tgt.append(f"t{i % 17}")
        ts.append(base + int(rng.integers(0, 7 * 86_400_000)))
        texts.append(None)
    events = from_columns(acc, ["stream"] * len(acc), tgt, np.array(ts, dtype=np.int64), text=texts)
    run_detection(events, DetectParams())
    return time.perf_counter() - t0
