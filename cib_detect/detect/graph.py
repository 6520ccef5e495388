"""Coordination graph from significant pairs, and seeded Leiden communities."""

from __future__ import annotations

import random
from dataclasses import dataclass

import igraph as ig
import numpy as np
import numpy.typing as npt

from cib_detect.detect.pairs import PairSignal

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]


@dataclass
class CoordinationGraph:
    """Undirected weighted graph in canonical order (edges sorted by account codes)."""

    a: I32
    b: I32
    weight: F64

    @property
    def key(self) -> I64:
        return (self.a.astype(np.int64) << 32) | self.b.astype(np.int64)


def build_graph(signals: list[PairSignal], masks: list[Mask]) -> CoordinationGraph:
    """Edge weight: per signal the strongest significant window, summed over signals."""
    keys: list[I64] = []
    weights: list[F64] = []
    for s, m in zip(signals, masks, strict=True):
        any_sig = m.any(axis=1)
        if not any_sig.any():
            continue
        w = np.where(m, s.weight, 0.0).max(axis=1)
        idx = np.flatnonzero(any_sig)
        keys.append((s.pair_a[idx].astype(np.int64) << 32) | s.pair_b[idx].astype(np.int64))
        weights.append(w[idx])
    if not keys:
        z = np.zeros(0, dtype=np.int32)
        return CoordinationGraph(z, z.copy(), np.zeros(0))
    k = np.concatenate(keys)
    wt = np.concatenate(weights)
    uniq, inv = np.unique(k, return_inverse=True)
    total = np.zeros(uniq.size, dtype=np.float64)
    np.add.at(total, inv, wt)
    return CoordinationGraph(
        a=(uniq >> 32).astype(np.int32),
        b=(uniq & 0xFFFFFFFF).astype(np.int32),
        weight=total,
    )


def leiden(
    graph: CoordinationGraph, *, seed: int, resolution: float, iterations: int
) -> tuple[I32, I32]:
    """Return (node account codes, community per node); communities numbered canonically.

    Nodes are the accounts on significant edges, in code order. Leiden runs with the
    modularity objective and igraph's RNG seeded from ``seed`` (restored afterwards).
    """
    if graph.a.size == 0:
        z = np.zeros(0, dtype=np.int32)
        return z, z.copy()
    nodes = np.unique(np.concatenate((graph.a, graph.b)))
    ia = np.searchsorted(nodes, graph.a)
    ib = np.searchsorted(nodes, graph.b)
    g = ig.Graph(n=int(nodes.size), edges=np.column_stack((ia, ib)).tolist(), directed=False)
    g.es["weight"] = graph.weight.tolist()
    ig.set_random_number_generator(random.Random(seed))
    try:
        part = g.community_leiden(
            objective_function="modularity",
            weights="weight",
            resolution=resolution,
            n_iterations=iterations,
        )
    finally:
        ig.set_random_number_generator(random)
    raw = np.asarray(part.membership, dtype=np.int64)
    # renumber communities by their smallest node, so labels do not depend on RNG order
    first = np.full(int(raw.max()) + 1, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, raw, np.arange(raw.size))
    order = np.argsort(first, kind="stable")
    relabel = np.empty_like(order)
    relabel[order] = np.arange(order.size)
    return nodes.astype(np.int32), relabel[raw].astype(np.int32)
