"""Planted campaigns: fresh accounts pushing fresh targets in six styles of coordination."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pyarrow as pa

from cib_detect.synthetic.catalog import Catalog
from cib_detect.synthetic.events import F64, I64, TAG
from cib_detect.synthetic.planted import Plan, Planter, plant_sets
from cib_detect.synthetic.text import edit_copy

STYLES = (
    "lockstep_farm",
    "loose_synchrony",
    "copy_pasta",
    "rotating_subgroups",
    "tiny_cells",
    "slow_campaign",
)


@dataclass
class Campaigns(Planter):
    """The planted campaigns; members are new accounts numbered from ``next_account``."""

    KIND_KEY: ClassVar[str] = "style"

    episode_scale: float
    vocab: list[str]
    next_account: int

    def accounts(self, k: int) -> I64:
        a = np.arange(self.next_account, self.next_account + k, dtype=np.int64)
        self.next_account += k
        return a

    def episodes(self, full: int) -> int:
        return max(6, round(full * self.episode_scale))


def stratified(rng: np.random.Generator, k: int, lo: float, hi: float) -> F64:
    """k episode starts spread over [lo, hi): one uniformly inside each of k equal slots."""
    slot = (hi - lo) / k
    return np.asarray(lo + (np.arange(k) + rng.random(k)) * slot, dtype=np.float64)


def _bursts(
    ctx: Campaigns,
    cid: str,
    style: str,
    m: int,
    *,
    pool: tuple[int, float],
    episodes: int,
    margins: tuple[float, float],
    group: Callable[[np.random.Generator, int], int] | None,
    n_targets: tuple[int, int],
    jitter: tuple[float, float],
    spacing: float | None = None,
) -> None:
    """A campaign of ``m`` members acting in bursts on a pool of promoted targets.

    ``pool`` is (size, url share); ``episodes`` the full-size episode count, whose starts
    are stratified between ``margins[0]`` after the world start and ``margins[1]`` before
    its end. In each episode a group of members (``group(rng, m)`` of them, or all when
    ``None``) hits ``n_targets`` (a half-open range) pool targets, each member at
    ``jitter`` (a uniform range) from the episode start, plus, with ``spacing``, the
    target's slot ``i * spacing ± 10 s``.
    """
    rng = ctx.rng
    members = ctx.accounts(m)
    targets = ctx.catalog.promoted_pool(rng, pool[0], url_share=pool[1])
    n_ep = ctx.episodes(episodes)
    starts = stratified(rng, n_ep, margins[0], ctx.span - margins[1])
    acc, tgt, ts = [], [], []
    for start in starts:
        if group is None:
            k, who = m, members
        else:
            k = group(rng, m)
            who = members[np.sort(rng.choice(m, k, replace=False))]
        nt = int(rng.integers(n_targets[0], n_targets[1]))
        tg = rng.choice(targets, nt, replace=False)
        if spacing is None:
            t = start + rng.uniform(jitter[0], jitter[1], (k, nt))
        else:
            offs = np.arange(nt) * spacing + rng.uniform(-10.0, 10.0, nt)
            t = start + offs[None, :] + rng.uniform(jitter[0], jitter[1], (k, nt))
        acc.append(np.repeat(who, nt))
        tgt.append(np.tile(tg, k))
        ts.append(t.ravel())
    ctx.add(cid, style, members, np.concatenate(acc), np.concatenate(tgt), np.concatenate(ts))


def _lockstep_farm(ctx: Campaigns, cid: str) -> None:
    """Almost all 50 members hit 3-8 targets in sequence, within 20 s of each other."""
    _bursts(
        ctx,
        cid,
        "lockstep_farm",
        50,
        pool=(24, 0.0),
        episodes=40,
        margins=(0.0, 3600.0),
        group=lambda rng, m: math.ceil(rng.uniform(0.9, 1.0) * m),
        n_targets=(3, 9),
        jitter=(0.0, 20.0),
        spacing=210.0,
    )


def _loose_synchrony(ctx: Campaigns, cid: str) -> None:
    """Half to 70 % of 40 members hit 2-5 targets within ±10 minutes."""
    _bursts(
        ctx,
        cid,
        "loose_synchrony",
        40,
        pool=(16, 0.25),
        episodes=30,
        margins=(600.0, 600.0),
        group=lambda rng, m: max(2, round(rng.uniform(0.5, 0.7) * m)),
        n_targets=(2, 6),
        jitter=(-600.0, 600.0),
    )


def _rotating_subgroups(ctx: Campaigns, cid: str) -> None:
    """Changing subgroups of 8-15 out of 60 members hit 1-3 targets within a minute."""
    _bursts(
        ctx,
        cid,
        "rotating_subgroups",
        60,
        pool=(30, 0.3),
        episodes=60,
        margins=(0.0, 120.0),
        group=lambda rng, m: int(rng.integers(8, 16)),
        n_targets=(1, 4),
        jitter=(0.0, 60.0),
    )


def _tiny_cell(ctx: Campaigns, cid: str) -> None:
    """All of 5-8 members hit 1-3 targets within 30 s."""
    _bursts(
        ctx,
        cid,
        "tiny_cells",
        int(ctx.rng.integers(5, 9)),
        pool=(8, 0.4),
        episodes=25,
        margins=(0.0, 120.0),
        group=None,
        n_targets=(1, 4),
        jitter=(0.0, 30.0),
    )


def _copy_pasta(ctx: Campaigns, cid: str) -> None:
    """60-90 % of 30 members post near-copies of one text within half an hour."""
    rng, m, cat = ctx.rng, 30, ctx.catalog
    members = ctx.accounts(m)
    n_ep = ctx.episodes(40)
    starts = stratified(rng, n_ep, 0.0, ctx.span - 1800.0)
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
        texts.extend(edit_copy(rng, template, ctx.vocab) for _ in range(k))
    ctx.add(
        cid,
        "copy_pasta",
        members,
        np.concatenate(acc),
        np.concatenate(tgt),
        np.concatenate(ts),
        pa.array(texts, type=pa.string()),
    )


def _slow_campaign(ctx: Campaigns, cid: str) -> None:
    """All 25 members hit one target per 3-hour episode; episodes >= 12 h apart if they fit."""
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
    ctx.add(cid, "slow_campaign", members, np.repeat(members, n_ep), np.tile(tg, m), t.ravel())


PLAN: Plan[Campaigns] = (
    ("lockstep_farm", 1, _lockstep_farm),
    ("loose_synchrony", 1, _loose_synchrony),
    ("copy_pasta", 1, _copy_pasta),
    ("rotating_subgroups", 1, _rotating_subgroups),
    ("tiny_cells", 3, _tiny_cell),
    ("slow_campaign", 1, _slow_campaign),
)


def plant_campaigns(
    rng: np.random.Generator,
    catalog: Catalog,
    span: float,
    episode_scale: float,
    vocab: list[str],
    first_account: int,
    n_sets: int,
) -> Campaigns:
    """``n_sets`` sets of one campaign per style (three tiny cells), in :data:`PLAN` order."""
    ctx = Campaigns(rng, catalog, span, episode_scale, vocab, first_account)
    plant_sets(ctx, n_sets, PLAN)
    return ctx
