"""World assembly: the seeded streams, the parts in order, the event table and the truth."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from cib_detect.synthetic.campaigns import STYLES, plant_campaigns
from cib_detect.synthetic.catalog import build_catalog
from cib_detect.synthetic.events import ACTIONS, DAY, TAG, Part
from cib_detect.synthetic.ids import account_ids, event_ids, target_ids
from cib_detect.synthetic.organic import background, camouflage_counts
from cib_detect.synthetic.text import vocabulary
from cib_detect.synthetic.traps import ARCHETYPES, plant_traps

GENERATOR_VERSION = 1
EVENTS_PER_SET = 400_000
MIN_EVENTS = 20_000

LABELS = ("organic", "camouflage", *STYLES, *ARCHETYPES)


@dataclass(frozen=True)
class World:
    """A generated world: the events and the ground truth that produced them."""

    events: pa.Table
    truth: dict[str, Any]


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
    """Generate a world of about ``n_events`` events (see the package docstring)."""
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

    catalog = build_catalog(rngs["catalog"], n_events, n_albums=n_sets)
    vocab = vocabulary()

    # Campaigns: fresh accounts after the organic ones, fresh targets.
    n_organic = max(200, round(n_events / 40))
    campaigns = plant_campaigns(
        rngs["campaigns"], catalog, span, math.sqrt(scale), vocab.words, n_organic, n_sets
    )
    n_accounts = campaigns.next_account

    # Traps: organic accounts, disjoint across traps.
    traps = plant_traps(rngs["traps"], catalog, span, days, scale, n_organic, n_sets)

    # Camouflage: 50-70 % of every campaign member's events are ordinary organic ones.
    campaign_acc = np.concatenate([p.acc for p in campaigns.parts])
    camo = camouflage_counts(rngs["camouflage"], campaign_acc, n_organic, n_accounts)

    # Organic budget fills the rest.
    planted = sum(p.n for p in campaigns.parts) + sum(p.n for p in traps.parts)
    budget = max(n_organic, n_events - planted - int(camo.sum()))
    organic_parts = background(rngs["organic"], n_organic, budget, camo, catalog, span, days, vocab)
    parts = organic_parts + campaigns.parts + traps.parts

    # Ids: shuffled numbering, so planted accounts and targets look like any other.
    rng = rngs["ids"]
    acc_dict = account_ids(rng, n_accounts)
    tgt_dict = target_ids(rng, catalog.sizes)

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
        "campaigns": finish(campaigns.records),
        "traps": finish(traps.records),
    }
    return World(events=events, truth=truth)


def _assemble(
    parts: list[Part], acc_dict: pa.Array, tgt_dict: pa.Array, start: int, span: float
) -> tuple[pa.Table, dict[str, int]]:
    """The parts as one time-ordered event table (``parts`` is emptied), and events by label."""
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
    table = pa.table(
        {
            "event_id": event_ids(n),
            "account_id": acc_dict.take(pa.array(acc)),
            "action": pa.array(list(ACTIONS), type=pa.string()).take(pa.array(act)),
            "target": tgt_dict.take(pa.array(tgt)),
            "timestamp": pa.array(ts, type=pa.int64()),
            "text": texts.take(pa.array(text_idx, mask=text_idx < 0)),
        }
    )
    return table, counts
