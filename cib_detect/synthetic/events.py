"""Event parts: id-free rows (account, target, time, action) and the shared units and kinds.

Every generator (organic background, campaigns, traps) produces :class:`Part` objects with
accounts and targets as dense integer indices; the world assembles them into one table and
only then turns the indices into id strings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

DAY = 86_400

I8 = npt.NDArray[np.int8]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
BoolA = npt.NDArray[np.bool_]

ACTIONS = ("stream", "share", "post")
# Target kinds; a kind's index is also the index of the action done on it.
TRACK, URL, TAG = 0, 1, 2


@dataclass
class Part:
    """A labelled block of events; ``texts`` holds one text per post row, in row order."""

    label: str
    acc: I64
    tgt: I64
    ts: F64  # seconds since world start
    act: I8
    texts: pa.Array | None = None

    @property
    def n(self) -> int:
        return int(self.acc.shape[0])
