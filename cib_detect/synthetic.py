"""Seeded synthetic worlds: organic background, planted campaigns and organic traps.

A world is an event table (``event_id, account_id, action, target, timestamp, text``) plus
a ground truth naming the members of every planted campaign and of every organic *trap*
(behaviour that looks coordinated but is not: a viral burst, an album release, fan clubs,
sleep loops). Everything is vectorised numpy/pyarrow, so 10^7 events take seconds, and
everything is drawn from one :class:`numpy.random.SeedSequence` built from
``(version, seed, n_events, days, start)``: the same arguments give the same table, byte
for byte, whatever ``PYTHONHASHSEED`` is.

Sizes: one full set of campaigns and traps per 400k events
(``n_sets = max(1, round(n_events / 400_000))``); below 400k events the episode counts
scale by ``sqrt(n_events / 400k)`` (at least 6 episodes) and the trap sizes by
``n_events / 400k``, so that the organic background stays the bulk of a small world.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "ARCHETYPES",
    "STYLES",
    "World",
    "generate_world",
    "truth_path_for",
    "write_world",
]

GENERATOR_VERSION = 1
EVENTS_PER_SET = 400_000
MIN_EVENTS = 20_000
DAY = 86_400

I8 = npt.NDArray[np.int8]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
BoolA = npt.NDArray[np.bool_]

ACTIONS = ("stream", "share", "post")
# Target kinds; a kind's index is also the index of the action done on it.
TRACK, URL, TAG = 0, 1, 2
KIND_PREFIX = ("trk", "url", "tag")
KIND_MIN_DIGITS = (6, 5, 4)
ACCOUNT_PREFIX, ACCOUNT_MIN_DIGITS = "acct", 7
EVENT_PREFIX, EVENT_MIN_DIGITS = "e", 7

STYLES = (
    "lockstep_farm",
    "loose_synchrony",
    "copy_pasta",
    "rotating_subgroups",
    "tiny_cells",
    "slow_campaign",
)
ARCHETYPES = ("viral_burst", "album_release", "fan_club", "sleep_loop")
LABELS = ("organic", "camouflage", *STYLES, *ARCHETYPES)

# Organic background.
N_COMMUNITIES = 50
COMMUNITY_SHARE = 0.8  # share of an account's picks from its own communities
ZIPF_EXPONENT = 1.1
ACTION_MIX = (0.85, 0.10, 0.05)  # stream / share / post, by event
CATALOG_MIX = (0.80, 0.12, 0.08)  # tracks / urls / tags, by target
MEAN_SESSION_LEN = 6.0
SESSION_GAP_S = (150.0, 270.0)  # 2.5-4.5 minutes between events of one session
ACTIVITY_SIGMA = 1.5  # lognormal sigma of account activity
SHORT_TEXT_SHARE = 0.10
COMMON_PHRASES = (
    "love this",
    "so good",
    "🔥🔥🔥",
    "on repeat",
    "this slaps",
    "obsessed",
    "no skips",
    "vibes",
    "can't stop listening",
    "yes!!",
    "goosebumps",
    "😍😍",
    "banger",
    "classic",
    "need more of this",
    "💯",
    "wow",
    "this is everything",
    "play it loud",
    "perfect",
)
EMOJI = ("🔥", "😍", "💯", "🙌", "✨", "🎶", "👏", "❤️", "😭", "🚀")
VOCAB_SIZE = 3000
VOCAB_SEED = 20_260_101  # the "language" is the same in every world


@dataclass(frozen=True)
class World:
    """A generated world: the events and the ground truth that produced them."""

    events: pa.Table
    truth: dict[str, Any]


# --------------------------------------------------------------------------- helpers


def _digits(n: int) -> int:
    return len(str(max(0, n - 1)))


def _fixed_width_strings(prefix: str, numbers: I64, width: int) -> pa.Array:
    """``prefix + zero-padded number`` for every number, built as one Arrow buffer."""
    n = int(numbers.shape[0])
    head = prefix.encode("ascii")
    row = len(head) + width
    if n and int(numbers.max()) >= 10**width:
        raise ValueError(f"number too wide for {width} digits")
    buf = np.empty((n, row), dtype=np.uint8)
    buf[:, : len(head)] = np.frombuffer(head, dtype=np.uint8)
    x = numbers.astype(np.int64, copy=True)
    for k in range(width - 1, -1, -1):
        buf[:, len(head) + k] = 48 + (x % 10)
        x //= 10
    if n * row >= 2**31:
        offsets64 = np.arange(n + 1, dtype=np.int64) * row
        return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets64), pa.py_buffer(buf)).cast(
            pa.string()
        )
    offsets = np.arange(n + 1, dtype=np.int32) * row
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf))


def _hour_weights() -> F64:
    """Hour-of-day density: quiet nights, a lunch bump, an evening peak around 21:00."""
    h = np.arange(24, dtype=np.float64) + 0.5

    def bump(centre: float, width: float) -> F64:
        d = np.abs(h - centre)
        d = np.minimum(d, 24.0 - d)
        return np.asarray(np.exp(-0.5 * (d / width) ** 2), dtype=np.float64)

    w = 0.12 + 1.0 * bump(21.0, 2.5) + 0.45 * bump(13.0, 3.0)
    return np.asarray(w / w.sum(), dtype=np.float64)


HOUR_CDF = np.cumsum(_hour_weights())


def _times_of_day(rng: np.random.Generator, n: int) -> F64:
    """Seconds into the day following the daily rhythm."""
    hour = np.searchsorted(HOUR_CDF, rng.random(n) * HOUR_CDF[-1], side="right")
    hour = np.minimum(hour, 23)
    return np.asarray(hour * 3600.0 + rng.random(n) * 3600.0, dtype=np.float64)


def _vocabulary() -> list[str]:
    """A few thousand pronounceable pseudo-words from random syllables (fixed seed)."""
    rng = np.random.default_rng(VOCAB_SEED)
    onsets = [*"bcdfghjklmnprstvwz", "br", "ch", "dr", "fl", "gr", "kr", "pl", "sh", "st", "tr"]
    vowels = [*"aeiou", "ai", "ea", "oo", "ou", "y"]
    codas = ["", "", "", "n", "r", "s", "t", "l", "m", "ng", "ck", "x"]
    words: dict[str, None] = {}
    while len(words) < VOCAB_SIZE:
        m = 4096
        n_syl = rng.choice(np.array([1, 2, 3]), size=m, p=[0.35, 0.45, 0.20])
        on = rng.integers(0, len(onsets), (m, 3))
        vo = rng.integers(0, len(vowels), (m, 3))
        co = rng.integers(0, len(codas), m)
        for i in range(m):
            w = "".join(onsets[on[i, j]] + vowels[vo[i, j]] for j in range(int(n_syl[i])))
            words.setdefault(w + codas[co[i]], None)
            if len(words) >= VOCAB_SIZE:
                break
    return list(words)


# --------------------------------------------------------------------------- catalog


class _Sampler:
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
class _Catalog:
    organic: tuple[int, int, int]  # organically popular targets per kind (rank 0 = top)
    extra_tracks: int  # album tracks, after the organic tracks
    samplers: tuple[_Sampler, _Sampler, _Sampler]
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
        else:
            free = np.flatnonzero(~used[a:b])
            if free.size == 0:
                free = np.flatnonzero(~used)
                r = (
                    int(free[int(rng.integers(0, free.size))])
                    if free.size
                    else int(rng.integers(0, n))
                )
            else:
                r = a + int(free[int(rng.integers(0, free.size))])
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


# --------------------------------------------------------------------------- parts


@dataclass
class _Part:
    label: str
    acc: I64
    tgt: I64
    ts: F64  # seconds since world start
    act: I8
    texts: pa.Array | None = None  # one per post row, in row order

    @property
    def n(self) -> int:
        return int(self.acc.shape[0])


def _action_of(tgt: I64, catalog: _Catalog) -> I8:
    sizes = catalog.sizes
    b1, b2 = sizes[0], sizes[0] + sizes[1]
    act = np.zeros(tgt.shape[0], dtype=np.int8)
    act[tgt >= b1] = URL
    act[tgt >= b2] = TAG
    return act


def _part(label: str, acc: Any, tgt: Any, ts: Any, catalog: _Catalog) -> _Part:
    a = np.asarray(acc, dtype=np.int64).ravel()
    t = np.asarray(tgt, dtype=np.int64).ravel()
    s = np.asarray(ts, dtype=np.float64).ravel()
    return _Part(label, a, t, s, _action_of(t, catalog))


def _stratified(rng: np.random.Generator, k: int, lo: float, hi: float) -> F64:
    """k episode starts spread over [lo, hi): one uniformly inside each of k equal slots."""
    slot = (hi - lo) / k
    return np.asarray(lo + (np.arange(k) + rng.random(k)) * slot, dtype=np.float64)


# --------------------------------------------------------------------------- campaigns


@dataclass
class _Ctx:
    rng: np.random.Generator
    catalog: _Catalog
    span: float
    episode_scale: float
    vocab: list[str]
    next_account: int
    parts: list[_Part] = field(default_factory=list)
    campaigns: list[dict[str, Any]] = field(default_factory=list)

    def accounts(self, k: int) -> I64:
        a = np.arange(self.next_account, self.next_account + k, dtype=np.int64)
        self.next_account += k
        return a

    def episodes(self, full: int) -> int:
        return max(6, round(full * self.episode_scale))

    def add(self, cid: str, style: str, members: I64, part: _Part) -> None:
        self.parts.append(part)
        self.campaigns.append(
            {
                "id": cid,
                "style": style,
                "_members": members,
                "n_events": part.n,
                "_targets": np.unique(part.tgt),
            }
        )


def _lockstep_farm(ctx: _Ctx, cid: str) -> None:
    rng, m = ctx.rng, 50
    members = ctx.accounts(m)
    pool = ctx.catalog.promoted_pool(rng, 24, url_share=0.0)
    n_ep = ctx.episodes(40)
    starts = _stratified(rng, n_ep, 0.0, ctx.span - 3600.0)
    acc, tgt, ts = [], [], []
    for e in range(n_ep):
        k = math.ceil(rng.uniform(0.9, 1.0) * m)
        who = members[np.sort(rng.choice(m, k, replace=False))]
        nt = int(rng.integers(3, 9))
        tg = rng.choice(pool, nt, replace=False)
        offs = np.arange(nt) * 210.0 + rng.uniform(-10.0, 10.0, nt)
        t = starts[e] + offs[None, :] + rng.uniform(0.0, 20.0, (k, nt))
        acc.append(np.repeat(who, nt))
        tgt.append(np.tile(tg, k))
        ts.append(t.ravel())
    ctx.add(
        cid,
        "lockstep_farm",
        members,
        _part(
            "lockstep_farm",
            np.concatenate(acc),
            np.concatenate(tgt),
            np.concatenate(ts),
            ctx.catalog,
        ),
    )


def _loose_synchrony(ctx: _Ctx, cid: str) -> None:
    rng, m = ctx.rng, 40
    members = ctx.accounts(m)
    pool = ctx.catalog.promoted_pool(rng, 16, url_share=0.25)
    n_ep = ctx.episodes(30)
    starts = _stratified(rng, n_ep, 600.0, ctx.span - 600.0)
    acc, tgt, ts = [], [], []
    for e in range(n_ep):
        k = max(2, round(rng.uniform(0.5, 0.7) * m))
        who = members[np.sort(rng.choice(m, k, replace=False))]
        nt = int(rng.integers(2, 6))
        tg = rng.choice(pool, nt, replace=False)
        t = starts[e] + rng.uniform(-600.0, 600.0, (k, nt))
        acc.append(np.repeat(who, nt))
        tgt.append(np.tile(tg, k))
        ts.append(t.ravel())
    ctx.add(
        cid,
        "loose_synchrony",
        members,
        _part(
            "loose_synchrony",
            np.concatenate(acc),
            np.concatenate(tgt),
            np.concatenate(ts),
            ctx.catalog,
        ),
    )


def _edit_copy(rng: np.random.Generator, template: list[str], vocab: list[str]) -> str:
    words = list(template)
    for _ in range(int(rng.integers(1, 3))):
        op = int(rng.integers(0, 3))
        if op == 0:  # substitute
            words[int(rng.integers(0, len(words)))] = vocab[int(rng.integers(0, len(vocab)))]
        elif op == 1:  # insert
            words.insert(
                int(rng.integers(0, len(words) + 1)), vocab[int(rng.integers(0, len(vocab)))]
            )
        elif len(words) > 3:  # delete
            del words[int(rng.integers(0, len(words)))]
    text = " ".join(words)
    r = rng.random()
    if r < 0.3:
        text += " " + EMOJI[int(rng.integers(0, len(EMOJI)))]
    elif r < 0.5:
        text += " #" + vocab[int(rng.integers(0, len(vocab)))]
    return text


def _copy_pasta(ctx: _Ctx, cid: str) -> None:
    rng, m, cat = ctx.rng, 30, ctx.catalog
    members = ctx.accounts(m)
    n_ep = ctx.episodes(40)
    starts = _stratified(rng, n_ep, 0.0, ctx.span - 1800.0)
    n_tags, tag0 = cat.sizes[TAG], cat.offset(TAG)
    acc, tgt, ts = [], [], []
    texts: list[str] = []
    for e in range(n_ep):
        k = max(2, round(rng.uniform(0.6, 0.9) * m))
        who = members[np.sort(rng.choice(m, k, replace=False))]
        template = [
            ctx.vocab[int(i)] for i in rng.integers(0, len(ctx.vocab), int(rng.integers(15, 26)))
        ]
        tags = rng.choice(n_tags, k, replace=k > n_tags)
        t = starts[e] + rng.uniform(0.0, 1800.0, k)
        acc.append(who)
        tgt.append(tag0 + tags)
        ts.append(t)
        texts.extend(_edit_copy(rng, template, ctx.vocab) for _ in range(k))
    part = _part("copy_pasta", np.concatenate(acc), np.concatenate(tgt), np.concatenate(ts), cat)
    part.texts = pa.array(texts, type=pa.string())
    ctx.add(cid, "copy_pasta", members, part)


def _rotating_subgroups(ctx: _Ctx, cid: str) -> None:
    rng, m = ctx.rng, 60
    members = ctx.accounts(m)
    pool = ctx.catalog.promoted_pool(rng, 30, url_share=0.3)
    n_ep = ctx.episodes(60)
    starts = _stratified(rng, n_ep, 0.0, ctx.span - 120.0)
    acc, tgt, ts = [], [], []
    for e in range(n_ep):
        k = int(rng.integers(8, 16))
        who = members[np.sort(rng.choice(m, k, replace=False))]
        nt = int(rng.integers(1, 4))
        tg = rng.choice(pool, nt, replace=False)
        t = starts[e] + rng.uniform(0.0, 60.0, (k, nt))
        acc.append(np.repeat(who, nt))
        tgt.append(np.tile(tg, k))
        ts.append(t.ravel())
    ctx.add(
        cid,
        "rotating_subgroups",
        members,
        _part(
            "rotating_subgroups",
            np.concatenate(acc),
            np.concatenate(tgt),
            np.concatenate(ts),
            ctx.catalog,
        ),
    )


def _tiny_cell(ctx: _Ctx, cid: str) -> None:
    rng = ctx.rng
    m = int(rng.integers(5, 9))
    members = ctx.accounts(m)
    pool = ctx.catalog.promoted_pool(rng, 8, url_share=0.4)
    n_ep = ctx.episodes(25)
    starts = _stratified(rng, n_ep, 0.0, ctx.span - 120.0)
    acc, tgt, ts = [], [], []
    for e in range(n_ep):
        nt = int(rng.integers(1, 4))
        tg = rng.choice(pool, nt, replace=False)
        t = starts[e] + rng.uniform(0.0, 30.0, (m, nt))
        acc.append(np.repeat(members, nt))
        tgt.append(np.tile(tg, m))
        ts.append(t.ravel())
    ctx.add(
        cid,
        "tiny_cells",
        members,
        _part(
            "tiny_cells", np.concatenate(acc), np.concatenate(tgt), np.concatenate(ts), ctx.catalog
        ),
    )


def _slow_campaign(ctx: _Ctx, cid: str) -> None:
    rng, m = ctx.rng, 25
    members = ctx.accounts(m)
    pool = ctx.catalog.promoted_pool(rng, 8, url_share=0.5)
    n_ep = ctx.episodes(20)
    dur = 3 * 3600.0
    gap = min(12 * 3600.0, (ctx.span - dur) / n_ep)
    free = ctx.span - dur - (n_ep - 1) * gap
    starts = np.sort(rng.uniform(0.0, free, n_ep)) + np.arange(n_ep) * gap
    tg = rng.choice(pool, n_ep, replace=True)
    t = starts[None, :] + rng.uniform(0.0, dur, (m, n_ep))
    ctx.add(
        cid,
        "slow_campaign",
        members,
        _part("slow_campaign", np.repeat(members, n_ep), np.tile(tg, m), t.ravel(), ctx.catalog),
    )


# --------------------------------------------------------------------------- traps


@dataclass
class _TrapCtx:
    rng: np.random.Generator
    catalog: _Catalog
    span: float
    days: int
    size_scale: float
    pool: I64  # shuffled organic accounts not yet used by a trap
    n_organic: int
    pos: int = 0
    parts: list[_Part] = field(default_factory=list)
    traps: list[dict[str, Any]] = field(default_factory=list)

    def take(self, k: int) -> I64:
        k = max(0, min(k, int(self.pool.shape[0]) - self.pos))
        out = np.sort(self.pool[self.pos : self.pos + k])
        self.pos += k
        return out

    def add(self, tid: str, archetype: str, members: I64, part: _Part) -> None:
        self.parts.append(part)
        self.traps.append(
            {
                "id": tid,
                "archetype": archetype,
                "_members": members,
                "n_events": part.n,
                "_targets": np.unique(part.tgt),
            }
        )


def _viral_burst(tc: _TrapCtx, tid: str) -> None:
    rng, cat = tc.rng, tc.catalog
    members = tc.take(min(3000, int(0.3 * tc.n_organic)))
    target = (
        cat.pick(rng, TRACK, 0.0, 0.002) if rng.random() < 0.5 else cat.pick(rng, URL, 0.0, 0.005)
    )
    start = rng.uniform(0.0, tc.span - 3600.0)
    scale, cap = 150.0, 600.0  # exponential decay, truncated at 10 minutes
    u = rng.random(members.shape[0])
    dt = -scale * np.log1p(-u * (1.0 - math.exp(-cap / scale)))
    tc.add(
        tid,
        "viral_burst",
        members,
        _part("viral_burst", members, np.full(members.shape[0], target), start + dt, cat),
    )


def _album_release(tc: _TrapCtx, tid: str) -> None:
    rng, cat = tc.rng, tc.catalog
    members = tc.take(max(20, round(400 * tc.size_scale)))
    tracks = cat.album(12)
    durations = rng.integers(180, 271, 12).astype(np.float64)
    release = float(rng.integers(0, max(1, tc.days - 1))) * DAY
    n = int(members.shape[0])
    begin = release + rng.uniform(0.0, 3600.0, n)
    played = rng.random((n, 12)) >= 0.10
    advance = np.where(played, durations[None, :], rng.uniform(5.0, 30.0, (n, 12)))
    t = begin[:, None] + np.cumsum(advance, axis=1) - advance
    acc = np.repeat(members, 12).reshape(n, 12)
    tgt = np.broadcast_to(tracks, (n, 12))
    tc.add(
        tid,
        "album_release",
        members,
        _part("album_release", acc[played], tgt[played], t[played], cat),
    )


def _fan_club(tc: _TrapCtx, tid: str) -> None:
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
    t = np.minimum(day * DAY + _times_of_day(rng, n), tc.span - 1.0)
    tc.add(
        tid,
        "fan_club",
        members,
        _part("fan_club", np.concatenate(acc), np.concatenate(tgt), t, cat),
    )


def _sleep_loop(tc: _TrapCtx, tid: str) -> None:
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
    tc.add(
        tid,
        "sleep_loop",
        members,
        _part("sleep_loop", np.concatenate(blocks_acc), np.concatenate(blocks_tgt), t, cat),
    )


# --------------------------------------------------------------------------- organic


def _organic(
    rng: np.random.Generator,
    label_counts: list[tuple[str, I64, I64]],
    communities: npt.NDArray[np.int64],
    catalog: _Catalog,
    span: float,
    days: int,
    vocab_arr: pa.Array,
    vocab_cum: F64,
) -> list[_Part]:
    """Sessions of organic activity for the given (label, accounts, counts) groups."""
    accounts = np.concatenate([a for _, a, _ in label_counts])
    counts = np.concatenate([c for _, _, c in label_counts])
    n = int(counts.sum())
    acc = np.repeat(accounts, counts)
    # Sessions: consecutive events of one account, 2.5-4.5 minutes apart.
    first = rng.random(n) < 1.0 / MEAN_SESSION_LEN
    acc_start = np.cumsum(counts) - counts
    first[acc_start[counts > 0]] = True
    start_pos = np.flatnonzero(first)
    sid = np.cumsum(first) - 1
    gaps = rng.uniform(SESSION_GAP_S[0], SESSION_GAP_S[1], n)
    gaps[first] = 0.0
    cum = np.cumsum(gaps)
    within = cum - cum[start_pos][sid]
    del cum, gaps, first
    end_pos = np.append(start_pos[1:], n) - 1
    duration = within[end_pos]
    n_sess = int(start_pos.shape[0])
    t0 = rng.integers(0, days, n_sess).astype(np.float64) * DAY + _times_of_day(rng, n_sess)
    t0 = _no_overlap(acc[start_pos], t0, duration, span)
    ts = t0[sid] + within
    del within, sid, t0
    # Targets: kind by the action mix, 80 % from the account's communities.
    mix = np.cumsum(ACTION_MIX)
    kind: I8 = np.minimum(np.searchsorted(mix, rng.random(n) * mix[-1], side="right"), 2).astype(
        np.int8
    )
    comm = communities[acc, (rng.random(n) * 2).astype(np.int64)]
    comm[rng.random(n) >= COMMUNITY_SHARE] = -1
    tgt = np.empty(n, dtype=np.int64)
    for k in (TRACK, URL, TAG):
        sel = np.flatnonzero(kind == k)
        tgt[sel] = catalog.offset(k) + catalog.samplers[k].sample(rng, comm[sel])
    del comm
    texts = _organic_texts(rng, int(np.count_nonzero(kind == TAG)), vocab_arr, vocab_cum)
    # Split back into labelled parts (organic vs camouflage) for the event counts.
    parts: list[_Part] = []
    lo = 0
    text_lo = 0
    for label, _, c in label_counts:
        hi = lo + int(c.sum())
        n_posts = int(np.count_nonzero(kind[lo:hi] == TAG))
        parts.append(
            _Part(
                label, acc[lo:hi], tgt[lo:hi], ts[lo:hi], kind[lo:hi], texts.slice(text_lo, n_posts)
            )
        )
        lo, text_lo = hi, text_lo + n_posts
    return parts


def _no_overlap(sess_acc: I64, t0: F64, duration: F64, span: float) -> F64:
    """Push an account's sessions later so that they never overlap (>= 10 min apart).

    With sessions of one account sorted by start, ``s_i = max(t0_i, s_{i-1} + d_{i-1} + gap)``
    is ``c_i + max_{j<=i}(t0_j - c_j)`` where ``c`` is the running sum of ``d + gap``: a
    segmented running maximum, done on int64 with the account as a high-order offset.
    """
    n = int(t0.shape[0])
    if n == 0:
        return t0
    order = np.lexsort((t0, sess_acc))
    a = sess_acc[order]
    start = np.floor(t0[order]).astype(np.int64)
    step = np.ceil(duration[order]).astype(np.int64) + 600
    new_acc = np.ones(n, dtype=np.bool_)
    new_acc[1:] = a[1:] != a[:-1]
    seg = np.cumsum(new_acc) - 1
    cum = np.cumsum(step) - step
    c = cum - cum[np.flatnonzero(new_acc)][seg]
    big = np.int64(1) << np.int64(40)
    key = np.maximum.accumulate(start - c + seg * big)
    s = (key - seg * big + c).astype(np.float64)
    out = np.empty(n, dtype=np.float64)
    out[order] = s
    return np.asarray(np.clip(np.minimum(out, span - 1.0 - duration), 0.0, None), dtype=np.float64)


def _organic_texts(
    rng: np.random.Generator, m: int, vocab_arr: pa.Array, vocab_cum: F64
) -> pa.Array:
    short = rng.random(m) < SHORT_TEXT_SHARE
    n_long = int(m - np.count_nonzero(short))
    n_words = rng.integers(8, 26, n_long)
    words = np.searchsorted(vocab_cum, rng.random(int(n_words.sum())) * vocab_cum[-1], side="right")
    words = np.minimum(words, len(vocab_arr) - 1)
    offsets = np.concatenate([[0], np.cumsum(n_words)]).astype(np.int32)
    lists = pa.ListArray.from_arrays(pa.array(offsets), pc.take(vocab_arr, pa.array(words)))
    long_texts = pc.binary_join(lists, " ")
    emoji = np.array(["", *[" " + e for e in EMOJI]], dtype=object)
    suffix_idx = np.where(rng.random(n_long) < 0.15, rng.integers(1, len(emoji), n_long), 0)
    long_texts = pc.binary_join_element_wise(
        long_texts, pc.take(pa.array(list(emoji), type=pa.string()), pa.array(suffix_idx)), ""
    )
    idx = np.empty(m, dtype=np.int64)
    idx[~short] = np.arange(n_long)
    idx[short] = n_long + rng.integers(0, len(COMMON_PHRASES), m - n_long)
    pool = pa.concat_arrays([long_texts, pa.array(list(COMMON_PHRASES), type=pa.string())])
    return pc.take(pool, pa.array(idx))


# --------------------------------------------------------------------------- world


def _rngs(seed: int, n_events: int, days: int, start: int) -> dict[str, np.random.Generator]:
    names = ("catalog", "accounts", "campaigns", "traps", "camouflage", "organic", "ids")
    ss = np.random.SeedSequence([GENERATOR_VERSION, seed, n_events, days, start])
    return {
        name: np.random.default_rng(child)
        for name, child in zip(names, ss.spawn(len(names)), strict=True)
    }


def generate_world(
    n_events: int = 400_000, seed: int = 0, *, days: int = 30, start: int = 1_767_225_600
) -> World:
    """Generate a world of about ``n_events`` events (see the module docstring)."""
    if n_events < MIN_EVENTS:
        raise ValueError(f"n_events must be at least {MIN_EVENTS}")
    if seed < 0:
        raise ValueError("seed must be non-negative")
    if days < 3:
        raise ValueError("days must be at least 3")
    rngs = _rngs(seed, n_events, days, start)
    span = float(days * DAY)
    n_sets = max(1, round(n_events / EVENTS_PER_SET))
    scale = min(1.0, n_events / EVENTS_PER_SET)

    # Catalog: Zipf popularity per kind, interest communities, album slots.
    rng = rngs["catalog"]
    n_targets = max(400, round(n_events / 20))
    sizes = tuple(max(50, round(n_targets * s)) for s in CATALOG_MIX)
    samplers = tuple(
        _Sampler(n, rng.integers(0, N_COMMUNITIES, n).astype(np.int64), ZIPF_EXPONENT)
        for n in sizes
    )
    catalog = _Catalog(
        (sizes[0], sizes[1], sizes[2]), 12 * n_sets, (samplers[0], samplers[1], samplers[2])
    )
    vocab = _vocabulary()
    vocab_arr = pa.array(vocab, type=pa.string())
    vocab_cum = np.cumsum(np.arange(1, len(vocab) + 1, dtype=np.float64) ** -1.0)

    # Campaigns: fresh accounts after the organic ones, fresh targets.
    n_organic = max(200, round(n_events / 40))
    ctx = _Ctx(rngs["campaigns"], catalog, span, math.sqrt(scale), vocab, n_organic)
    for s in range(n_sets):
        _lockstep_farm(ctx, f"s{s:02d}-lockstep_farm")
        _loose_synchrony(ctx, f"s{s:02d}-loose_synchrony")
        _copy_pasta(ctx, f"s{s:02d}-copy_pasta")
        _rotating_subgroups(ctx, f"s{s:02d}-rotating_subgroups")
        for c in range(3):
            _tiny_cell(ctx, f"s{s:02d}-tiny_cells-{c + 1}")
        _slow_campaign(ctx, f"s{s:02d}-slow_campaign")
    n_accounts = ctx.next_account

    # Traps: organic accounts, disjoint across traps.
    rng = rngs["traps"]
    tc = _TrapCtx(
        rng, catalog, span, days, scale, rng.permutation(n_organic).astype(np.int64), n_organic
    )
    for s in range(n_sets):
        _viral_burst(tc, f"s{s:02d}-viral_burst")
        _album_release(tc, f"s{s:02d}-album_release")
        for c in range(3):
            _fan_club(tc, f"s{s:02d}-fan_club-{c + 1}")
        _sleep_loop(tc, f"s{s:02d}-sleep_loop")

    # Camouflage: 50-70 % of every campaign member's events are ordinary organic ones.
    rng = rngs["camouflage"]
    campaign_acc = np.concatenate([p.acc for p in ctx.parts])
    per_member = np.bincount(campaign_acc - n_organic, minlength=n_accounts - n_organic)
    frac = rng.uniform(0.5, 0.7, per_member.shape[0])
    camo = np.maximum(5, np.round(per_member * frac / (1.0 - frac))).astype(np.int64)

    # Organic budget fills the rest; heavy-tailed activity, at least one event each.
    rng = rngs["organic"]
    planted = sum(p.n for p in ctx.parts) + sum(p.n for p in tc.parts)
    budget = max(n_organic, n_events - planted - int(camo.sum()))
    weight = rng.lognormal(0.0, ACTIVITY_SIGMA, n_organic)
    counts = 1 + rng.multinomial(budget - n_organic, weight / weight.sum()).astype(np.int64)
    communities = rng.integers(0, N_COMMUNITIES, (n_accounts, 2)).astype(np.int64)
    single = rng.random(n_accounts) < 0.5
    communities[single, 1] = communities[single, 0]
    organic_parts = _organic(
        rng,
        [
            ("organic", np.arange(n_organic, dtype=np.int64), counts),
            ("camouflage", np.arange(n_organic, n_accounts, dtype=np.int64), camo),
        ],
        communities,
        catalog,
        span,
        days,
        vocab_arr,
        vocab_cum,
    )
    parts = organic_parts + ctx.parts + tc.parts

    # Ids: shuffled numbering, so planted accounts and targets look like any other.
    rng = rngs["ids"]
    acc_width = max(ACCOUNT_MIN_DIGITS, _digits(n_accounts))
    acc_numbers = rng.permutation(n_accounts).astype(np.int64)
    acc_dict = _fixed_width_strings(ACCOUNT_PREFIX, acc_numbers, acc_width)
    tgt_dicts = []
    for k in (TRACK, URL, TAG):
        n_k = catalog.sizes[k]
        width = max(KIND_MIN_DIGITS[k], _digits(n_k))
        tgt_dicts.append(
            _fixed_width_strings(KIND_PREFIX[k], rng.permutation(n_k).astype(np.int64), width)
        )
    tgt_dict = pa.concat_arrays(tgt_dicts)

    events, counts_by_label = _assemble(parts, acc_dict, tgt_dict, start, span)

    def finish(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for e in entries:
            rec = {k: v for k, v in e.items() if not k.startswith("_")}
            rec["members"] = sorted(acc_dict.take(pa.array(e["_members"])).to_pylist())
            rec["targets"] = sorted(tgt_dict.take(pa.array(e["_targets"])).to_pylist())
            out.append(rec)
        return out

    truth: dict[str, Any] = {
        "generator": "cib_detect.synthetic",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "n_events": events.num_rows,
        "n_events_requested": n_events,
        "start": start,
        "days": days,
        "n_sets": n_sets,
        "n_accounts": n_accounts,
        "n_organic_accounts": n_organic,
        "n_targets": int(sum(catalog.sizes)),
        "events_by_label": counts_by_label,
        "campaigns": finish(ctx.campaigns),
        "traps": finish(tc.traps),
    }
    return World(events=events, truth=truth)


def _assemble(
    parts: list[_Part], acc_dict: pa.Array, tgt_dict: pa.Array, start: int, span: float
) -> tuple[pa.Table, dict[str, int]]:
    counts: dict[str, int] = dict.fromkeys(LABELS, 0)
    for p in parts:
        counts[p.label] += p.n
    acc = np.concatenate([p.acc for p in parts]).astype(np.int32)
    tgt = np.concatenate([p.tgt for p in parts]).astype(np.int32)
    act = np.concatenate([p.act for p in parts])
    ts = start + np.clip(np.floor(np.concatenate([p.ts for p in parts])), 0, span - 1).astype(
        np.int64
    )
    text_idx = np.full(acc.shape[0], -1, dtype=np.int64)
    text_chunks = []
    lo = n_text = 0
    for p in parts:
        posts = np.flatnonzero(p.act == TAG)
        n_posts = int(posts.shape[0])
        if n_posts:
            if p.texts is None or len(p.texts) != n_posts:
                raise RuntimeError(f"part {p.label}: {n_posts} posts but no matching texts")
            text_idx[lo + posts] = n_text + np.arange(n_posts)
            text_chunks.append(p.texts)
            n_text += n_posts
        lo += p.n
    parts.clear()
    order = np.argsort(ts, kind="stable")
    n = int(order.shape[0])
    ts = ts[order]
    acc = acc[order]
    tgt = tgt[order]
    act = act[order]
    text_idx = text_idx[order]
    del order
    texts = pa.concat_arrays(text_chunks) if text_chunks else pa.array([], type=pa.string())
    event_id = _fixed_width_strings(
        EVENT_PREFIX, np.arange(n, dtype=np.int64), max(EVENT_MIN_DIGITS, _digits(n))
    )
    table = pa.table(
        {
            "event_id": event_id,
            "account_id": acc_dict.take(pa.array(acc)),
            "action": pa.array(list(ACTIONS), type=pa.string()).take(pa.array(act)),
            "target": tgt_dict.take(pa.array(tgt)),
            "timestamp": pa.array(ts, type=pa.int64()),
            "text": texts.take(pa.array(text_idx, mask=text_idx < 0)),
        }
    )
    return table, counts


# --------------------------------------------------------------------------- output


def truth_path_for(path: str | Path) -> Path:
    """``world.parquet`` -> ``world.truth.json`` (next to it)."""
    p = Path(path)
    return p.with_name(p.stem + ".truth.json")


def _json_string(col: Any) -> Any:
    for a, b in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        col = pc.replace_substring(col, a, b)
    return pc.binary_join_element_wise('"', col, '"', "")


def _write_jsonl(table: pa.Table, path: Path, batch_rows: int = 1_000_000) -> None:
    with path.open("wb") as f:
        for batch in table.to_batches(max_chunksize=batch_rows):
            cols = {name: batch.column(name) for name in batch.schema.names}
            text = cols["text"]
            text_json = pc.if_else(pc.is_null(text), "null", _json_string(pc.fill_null(text, "")))
            line = pc.binary_join_element_wise(
                '{"event_id":',
                _json_string(cols["event_id"]),
                ',"account_id":',
                _json_string(cols["account_id"]),
                ',"action":',
                _json_string(cols["action"]),
                ',"target":',
                _json_string(cols["target"]),
                ',"timestamp":',
                pc.cast(cols["timestamp"], pa.string()),
                ',"text":',
                text_json,
                "}\n",
                "",
            )
            if len(line) == 0:
                continue
            offsets = np.frombuffer(line.buffers()[1], dtype=np.int32)
            data = line.buffers()[2]
            lo = int(offsets[line.offset])
            hi = int(offsets[line.offset + len(line)])
            f.write(memoryview(data)[lo:hi])


def write_world(world: World, path: str | Path) -> Path:
    """Write the events by extension (.parquet, .csv, .jsonl) and the truth next to them.

    Returns the path of the truth file (``<stem>.truth.json``).
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(world.events, p, compression="zstd", row_group_size=1_000_000)
    elif suffix == ".csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(world.events, p)
    elif suffix in (".jsonl", ".ndjson"):
        _write_jsonl(world.events, p)
    else:
        raise ValueError(f"unsupported events format {suffix!r}: use .parquet, .csv or .jsonl")
    truth = truth_path_for(p)
    truth.write_text(json.dumps(world.truth, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return truth
