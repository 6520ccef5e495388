"""Organic traps: organic accounts whose behaviour looks coordinated but is not."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from cib_detect.synthetic.catalog import ALBUM_TRACKS, Catalog
from cib_detect.synthetic.events import DAY, I64, TRACK, URL
from cib_detect.synthetic.organic import times_of_day
from cib_detect.synthetic.planted import Plan, Planter, plant_sets

ARCHETYPES = ("viral_burst", "album_release", "fan_club", "sleep_loop")


@dataclass
class Traps(Planter):
    """The planted traps; members are organic accounts, disjoint across traps."""

    KIND_KEY: ClassVar[str] = "archetype"

    days: int
    size_scale: float
    pool: I64  # shuffled organic accounts not yet used by a trap
    n_organic: int
    pos: int = 0

    def take(self, k: int) -> I64:
        k = max(0, min(k, int(self.pool.shape[0]) - self.pos))
        out = np.sort(self.pool[self.pos : self.pos + k])
        self.pos += k
        return out


def _viral_burst(tc: Traps, tid: str) -> None:
    """Up to 30 % of the organic accounts hit one very popular target within 10 minutes."""
    rng, cat = tc.rng, tc.catalog
    members = tc.take(min(3000, int(0.3 * tc.n_organic)))
    target = (
        cat.pick(rng, TRACK, 0.0, 0.002) if rng.random() < 0.5 else cat.pick(rng, URL, 0.0, 0.005)
    )
    start = rng.uniform(0.0, tc.span - 3600.0)
    scale, cap = 150.0, 600.0  # exponential decay, truncated at 10 minutes
    u = rng.random(members.shape[0])
    dt = -scale * np.log1p(-u * (1.0 - math.exp(-cap / scale)))
    tc.add(tid, "viral_burst", members, members, np.full(members.shape[0], target), start + dt)


def _album_release(tc: Traps, tid: str) -> None:
    """Fans play a new album through, in order, within an hour of its release."""
    rng = tc.rng
    members = tc.take(max(20, round(400 * tc.size_scale)))
    n_tracks = ALBUM_TRACKS
    tracks = tc.catalog.album(n_tracks)
    durations = rng.integers(180, 271, n_tracks).astype(np.float64)
    release = float(rng.integers(0, max(1, tc.days - 1))) * DAY
    n = int(members.shape[0])
    begin = release + rng.uniform(0.0, 3600.0, n)
    played = rng.random((n, n_tracks)) >= 0.10
    advance = np.where(played, durations[None, :], rng.uniform(5.0, 30.0, (n, n_tracks)))
    t = begin[:, None] + np.cumsum(advance, axis=1) - advance
    acc = np.repeat(members, n_tracks).reshape(n, n_tracks)
    tgt = np.broadcast_to(tracks, (n, n_tracks))
    tc.add(tid, "album_release", members, acc[played], tgt[played], t[played])


def _fan_club(tc: Traps, tid: str) -> None:
    """Fans of one niche artist each stream 15-25 of its 30 tracks, spread over the days."""
    rng, cat = tc.rng, tc.catalog
    members = tc.take(max(10, round(40 * tc.size_scale)))
    pool = np.array([cat.pick(rng, TRACK, 0.5, 1.0) for _ in range(30)], dtype=np.int64)
    acc, tgt = [], []
    for a in members:
        k = int(rng.integers(15, 26))
        acc.append(np.full(k, a))
        tgt.append(rng.choice(pool, k, replace=False))
    n = int(sum(x.shape[0] for x in acc))
    day = rng.integers(0, tc.days, n).astype(np.float64)
    t = np.minimum(day * DAY + times_of_day(rng, n), tc.span - 1.0)
    tc.add(tid, "fan_club", members, np.concatenate(acc), np.concatenate(tgt), t)


def _sleep_loop(tc: Traps, tid: str) -> None:
    """Sleepers loop one of five tracks (every ~3 minutes) for 5-7 hours on several nights."""
    rng, cat = tc.rng, tc.catalog
    members = tc.take(max(5, round(50 * tc.size_scale)))
    nights = max(3, round(10 * math.sqrt(tc.size_scale)))
    tracks = np.array([cat.pick(rng, TRACK, 0.005, 0.3) for _ in range(5)], dtype=np.int64)
    length = rng.uniform(170.0, 200.0, 5)  # every ~3 minutes
    n = int(members.shape[0])
    which = rng.permutation(np.arange(n) % 5)
    last_night = max(1, tc.days - 2)
    blocks_acc, blocks_tgt, blocks_t = [], [], []
    for i in range(n):
        ns = min(nights, last_night)
        days = rng.choice(last_night, ns, replace=False).astype(np.float64)
        begin = days * DAY + rng.uniform(21.5, 25.0, ns) * 3600.0
        hours = rng.uniform(5.0, 7.0, ns)
        plays = np.floor(hours * 3600.0 / length[which[i]]).astype(np.int64)
        tot = int(plays.sum())
        step = length[which[i]] + rng.uniform(0.0, 2.0, tot)
        ends = np.cumsum(plays)
        cum = np.cumsum(step) - step
        first = np.repeat(cum[ends - plays], plays)
        blocks_t.append(np.repeat(begin, plays) + cum - first)
        blocks_acc.append(np.full(tot, members[i]))
        blocks_tgt.append(np.full(tot, tracks[which[i]]))
    t = np.minimum(np.concatenate(blocks_t), tc.span - 1.0)
    tc.add(tid, "sleep_loop", members, np.concatenate(blocks_acc), np.concatenate(blocks_tgt), t)


PLAN: Plan[Traps] = (
    ("viral_burst", 1, _viral_burst),
    ("album_release", 1, _album_release),
    ("fan_club", 3, _fan_club),
    ("sleep_loop", 1, _sleep_loop),
)


def plant_traps(
    rng: np.random.Generator,
    catalog: Catalog,
    span: float,
    days: int,
    size_scale: float,
    n_organic: int,
    n_sets: int,
) -> Traps:
    """``n_sets`` sets of one trap per archetype (three fan clubs), in :data:`PLAN` order."""
    pool = rng.permutation(n_organic).astype(np.int64)
    tc = Traps(rng, catalog, span, days, size_scale, pool, n_organic)
    plant_sets(tc, n_sets, PLAN)
    return tc
