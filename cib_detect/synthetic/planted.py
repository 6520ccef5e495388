"""Bookkeeping shared by campaigns and traps: planted parts and their truth records."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import numpy as np
import pyarrow as pa

from cib_detect.synthetic.catalog import Catalog
from cib_detect.synthetic.events import I64, Part


@dataclass
class Planter:
    """Collects planted parts and one truth record per planted group."""

    KIND_KEY: ClassVar[str]  # the record key naming the group's kind ("style", "archetype")

    rng: np.random.Generator
    catalog: Catalog
    span: float
    parts: list[Part] = field(default_factory=list, kw_only=True)
    records: list[dict[str, Any]] = field(default_factory=list, kw_only=True)

    def add(
        self,
        gid: str,
        kind: str,
        members: I64,
        acc: Any,
        tgt: Any,
        ts: Any,
        texts: pa.Array | None = None,
    ) -> None:
        """Plant the events of group ``gid`` (labelled ``kind``) and record its truth."""
        part = self.catalog.part(kind, acc, tgt, ts)
        part.texts = texts
        self.parts.append(part)
        self.records.append(
            {
                "id": gid,
                self.KIND_KEY: kind,
                "_members": members,
                "n_events": part.n,
                "_targets": np.unique(part.tgt),
            }
        )


P = TypeVar("P", bound=Planter)

# (kind, copies per set, planting function taking the planter and the group id)
Plan = Sequence[tuple[str, int, Callable[[P, str], None]]]


def plant_sets(planter: P, n_sets: int, plan: Plan[P]) -> None:
    """Plant ``n_sets`` sets; ids are ``sNN-kind``, or ``sNN-kind-i`` for several copies."""
    for s in range(n_sets):
        for kind, copies, plant in plan:
            if copies == 1:
                plant(planter, f"s{s:02d}-{kind}")
            else:
                for c in range(copies):
                    plant(planter, f"s{s:02d}-{kind}-{c + 1}")
