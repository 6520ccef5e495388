"""The target catalog: Zipf popularity per kind, interest communities and album slots."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cib_detect.synthetic.events import I8, I64, TAG, TRACK, URL, BoolA, Part

N_COMMUNITIES = 50
ZIPF_EXPONENT = 1.1
CATALOG_MIX = (0.80, 0.12, 0.08)  # tracks / urls / tags, by target
ALBUM_TRACKS = 12  # tracks per album release (one album per set of traps)


class Sampler:
    """Zipf-weighted target sampling, globally or within one interest community."""

    def __init__(self, n: int, communities: I64, exponent: float) -> None:
        self.n = n
        w = (np.arange(1, n + 1, dtype=np.float64)) ** (-exponent)
        self.cum_global = np.cumsum(w)
        self.order = np.argsort(communities, kind="stable").astype(np.int64)
        self.cum_comm = np.cumsum(w[self.order])
        counts = np.bincount(communities, minlength=N_COMMUNITIES)
        self.ends = np.cumsum(counts).astype(np.int64)
        self.starts = self.ends - counts
        base = np.concatenate([[0.0], self.cum_comm])
        self.cstart = base[self.starts]
        self.ctotal = base[self.ends] - self.cstart

    def sample(self, rng: np.random.Generator, community: I64) -> I64:
        """One target rank per entry; ``community < 0`` (or an empty one) picks globally."""
        m = int(community.shape[0])
        u = rng.random(m)
        out = np.empty(m, dtype=np.int64)
        c = np.where(community >= 0, community, 0)
        glob = (community < 0) | (self.ctotal[c] <= 0)
        g = np.flatnonzero(glob)
        out[g] = np.searchsorted(self.cum_global, u[g] * self.cum_global[-1], side="right")
        loc = np.flatnonzero(~glob)
        cl = c[loc]
        x = self.cstart[cl] + u[loc] * self.ctotal[cl]
        j = np.searchsorted(self.cum_comm, x, side="right")
        j = np.clip(j, self.starts[cl], self.ends[cl] - 1)
        out[loc] = self.order[j]
        return np.minimum(out, self.n - 1)


@dataclass
class Catalog:
    """Targets as one index range: tracks (organic, then album), urls, tags."""

    organic: tuple[int, int, int]  # organically popular targets per kind (rank 0 = top)
    extra_tracks: int  # album tracks, after the organic tracks
    samplers: tuple[Sampler, Sampler, Sampler]
    used: tuple[BoolA, BoolA, BoolA] = field(init=False)
    n_album_used: int = 0

    def __post_init__(self) -> None:
        self.used = tuple(np.zeros(n, dtype=np.bool_) for n in self.organic)  # type: ignore[assignment]

    @property
    def sizes(self) -> tuple[int, int, int]:
        return (self.organic[0] + self.extra_tracks, self.organic[1], self.organic[2])

    def offset(self, kind: int) -> int:
        return int(sum(self.sizes[:kind]))

    def pick(self, rng: np.random.Generator, kind: int, lo: float, hi: float) -> int:
        """A not yet planted target of ``kind`` with popularity rank in [lo, hi) (fractions)."""
        n = self.organic[kind]
        a = min(int(lo * n), n - 1)
        b = max(a + 1, min(n, int(hi * n)))
        used = self.used[kind]
        for _ in range(64):
            r = int(rng.integers(a, b))
            if not used[r]:
                break
        else:  # mostly used up: a free rank in the range, else anywhere, else any rank
            free = a + np.flatnonzero(~used[a:b])
            if free.size == 0:
                free = np.flatnonzero(~used)
            r = int(free[int(rng.integers(0, free.size))]) if free.size else int(rng.integers(0, n))
        used[r] = True
        return self.offset(kind) + r

    def promoted_pool(
        self, rng: np.random.Generator, k: int, url_share: float, popular_share: float = 0.1
    ) -> I64:
        """Campaign targets: mostly low/mid popularity, a few popular ones."""
        out = np.empty(k, dtype=np.int64)
        for i in range(k):
            kind = URL if rng.random() < url_share else TRACK
            if rng.random() < popular_share:
                out[i] = self.pick(rng, kind, 0.0, 0.01)
            else:
                out[i] = self.pick(rng, kind, 0.02, 1.0)
        return out

    def album(self, k: int) -> I64:
        start = self.organic[0] + self.n_album_used
        if self.n_album_used + k > self.extra_tracks:
            raise RuntimeError("album tracks exhausted")
        self.n_album_used += k
        return np.arange(start, start + k, dtype=np.int64)

    def actions(self, tgt: I64) -> I8:
        """The action done on each target: its kind."""
        sizes = self.sizes
        b1, b2 = sizes[0], sizes[0] + sizes[1]
        act = np.zeros(tgt.shape[0], dtype=np.int8)
        act[tgt >= b1] = URL
        act[tgt >= b2] = TAG
        return act

    def part(self, label: str, acc: Any, tgt: Any, ts: Any) -> Part:
        """A part from array-likes (flattened), with the actions its targets imply."""
        a = np.asarray(acc, dtype=np.int64).ravel()
        t = np.asarray(tgt, dtype=np.int64).ravel()
        s = np.asarray(ts, dtype=np.float64).ravel()
        return Part(label, a, t, s, self.actions(t))


def build_catalog(rng: np.random.Generator, n_events: int, n_albums: int) -> Catalog:
    """About one target per 20 events, split by :data:`CATALOG_MIX`, plus album slots."""
    n_targets = max(400, round(n_events / 20))
    sizes = tuple(max(50, round(n_targets * s)) for s in CATALOG_MIX)
    samplers = tuple(
        Sampler(n, rng.integers(0, N_COMMUNITIES, n).astype(np.int64), ZIPF_EXPONENT) for n in sizes
    )
    return Catalog(
        (sizes[0], sizes[1], sizes[2]),
        ALBUM_TRACKS * n_albums,
        (samplers[0], samplers[1], samplers[2]),
    )
