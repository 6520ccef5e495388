"""How an ingest's events are cut into batches and handed to concurrent writers.

Creating a relationship locks both of its nodes until commit, so two concurrent batches
that share an account or a target wait for each other and run one after the other. The
events are therefore split into a G x G grid of cells by a hash of the account (the
cell's row) and a hash of the target (its column), G = 2 x writers. A writer takes one
batch at a time from a cell whose row and column no other writer holds, so concurrent
batches never share an account or a target, and gives the cell back after the batch
committed. It takes the free cell with the most events left (longest first), which keeps
the writers busy to the end: no writer waits for a phase to finish, and the last batches
are small cells' remainders, not a whole lane.

A cell is cut into batches when it is first taken, by the writer that took it, so the
first batch is written while the other cells are still being planned. Inside a cell,
batches are grouped by account and ordered by target.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cib_detect.errors import InvalidInput
from cib_detect.model import EventTable

MAX_BATCH_SIZE = 100_000
#: Grid cells per writer along each axis (G = CELLS_PER_WRITER x writers).
CELLS_PER_WRITER = 2

Rows = npt.NDArray[np.int64]


def check_batch_size(batch_size: int) -> None:
    if batch_size < 1 or batch_size > MAX_BATCH_SIZE:
        raise InvalidInput(f"batch size must be between 1 and {MAX_BATCH_SIZE}")


def plan_batches(events: EventTable, rows: Rows, batch_size: int) -> list[Rows]:
    """Cut ``rows`` into batches: grouped by account, ordered by target inside a batch."""
    check_batch_size(batch_size)
    order = rows[np.lexsort((events.target[rows], events.account[rows]))]
    batches: list[Rows] = []
    for lo in range(0, order.size, batch_size):
        chunk = order[lo : lo + batch_size]
        batches.append(chunk[np.argsort(events.target[chunk], kind="stable")])
    return batches


def bucket(codes: npt.NDArray[np.int32], n: int) -> npt.NDArray[np.int64]:
    """A well-mixed hash of integer codes into ``n`` buckets."""
    h = codes.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return ((h >> np.uint64(33)) % np.uint64(n)).astype(np.int64)


@dataclass
class Cell:
    """One grid cell: its events, cut into batches when it is first taken."""

    row: int  # account bucket
    col: int  # target bucket
    rows: Rows
    left: int = 0  # events not yet handed out
    batches: list[Rows] | None = None
    next: int = 0  # index of the next batch to hand out


@dataclass(frozen=True)
class Claim:
    """A batch handed to one writer; give it back with :meth:`BatchScheduler.release`."""

    cell: Cell
    rows: Rows


class BatchScheduler:
    """Hands out the batches of ``rows`` to ``workers`` writers (module docstring).

    ``take()`` blocks until a batch whose cell shares no row and no column with the
    cells held by other writers is free, and returns None when every batch was handed
    out (or after :meth:`stop`). Each batch is handed out exactly once."""

    def __init__(self, events: EventTable, rows: Rows, batch_size: int, workers: int) -> None:
        check_batch_size(batch_size)  # now, not when a cell is first planned
        self._events = events
        self._batch_size = batch_size
        g = 1 if workers <= 1 else CELLS_PER_WRITER * workers
        if g == 1:
            cells = [Cell(0, 0, rows)]
        else:
            cell_of = bucket(events.account[rows], g) * g + bucket(events.target[rows], g)
            order = np.argsort(cell_of, kind="stable")
            bounds = np.searchsorted(cell_of[order], np.arange(g * g + 1))
            cells = [
                Cell(k // g, k % g, rows[order[bounds[k] : bounds[k + 1]]]) for k in range(g * g)
            ]
        self.cells = [c for c in cells if c.rows.size]
        for c in self.cells:
            c.left = int(c.rows.size)
        self._busy_rows: set[int] = set()
        self._busy_cols: set[int] = set()
        self._stopped = False
        self._cv = threading.Condition()

    def take(self) -> Claim | None:
        with self._cv:
            while True:
                if self._stopped:
                    return None
                todo = [c for c in self.cells if c.left > 0]
                if not todo:
                    return None
                free = [
                    c for c in todo
                    if c.row not in self._busy_rows and c.col not in self._busy_cols
                ]  # fmt: skip
                if free:
                    cell = max(free, key=lambda c: c.left)  # first of the longest
                    self._busy_rows.add(cell.row)
                    self._busy_cols.add(cell.col)
                    break
                self._cv.wait()
        # the cell is this writer's until released: plan it (first take) outside the lock
        try:
            if cell.batches is None:
                cell.batches = plan_batches(self._events, cell.rows, self._batch_size)
        except BaseException:
            self.release_cell(cell)
            raise
        batch = cell.batches[cell.next]
        with self._cv:
            cell.next += 1
            cell.left -= int(batch.size)
        return Claim(cell, batch)

    def release(self, claim: Claim) -> None:
        """The writer is done with the claim's batch (committed, or given up)."""
        self.release_cell(claim.cell)

    def release_cell(self, cell: Cell) -> None:
        with self._cv:
            self._busy_rows.discard(cell.row)
            self._busy_cols.discard(cell.col)
            self._cv.notify_all()

    def stop(self) -> None:
        """Hand out nothing more (a writer failed); waiting writers return None."""
        with self._cv:
            self._stopped = True
            self._cv.notify_all()
