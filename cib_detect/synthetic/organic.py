"""The organic background: activity, interest communities, daily rhythm and sessions.

Also the camouflage of campaign members (ordinary organic events of planted accounts),
which is generated together with the organic accounts' events.
"""

from __future__ import annotations

import numpy as np

from cib_detect.synthetic.catalog import N_COMMUNITIES, Catalog
from cib_detect.synthetic.events import DAY, F64, I8, I64, TAG, TRACK, URL, Part
from cib_detect.synthetic.text import Vocabulary, organic_texts

COMMUNITY_SHARE = 0.8  # share of an account's picks from its own communities
ACTION_MIX = (0.85, 0.10, 0.05)  # stream / share / post, by event
MEAN_SESSION_LEN = 6.0
SESSION_GAP_S = (150.0, 270.0)  # 2.5-4.5 minutes between events of one session
ACTIVITY_SIGMA = 1.5  # lognormal sigma of account activity
CAMOUFLAGE_SHARE = (0.5, 0.7)  # share of a campaign member's events that are organic


# --------------------------------------------------------------------------- daily rhythm


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


def times_of_day(rng: np.random.Generator, n: int) -> F64:
    """Seconds into the day following the daily rhythm."""
    hour = np.searchsorted(HOUR_CDF, rng.random(n) * HOUR_CDF[-1], side="right")
    hour = np.minimum(hour, 23)
    return np.asarray(hour * 3600.0 + rng.random(n) * 3600.0, dtype=np.float64)


# --------------------------------------------------------------------------- population


def camouflage_counts(
    rng: np.random.Generator, campaign_acc: I64, first: int, n_accounts: int
) -> I64:
    """Organic events per campaign member (accounts ``first..n_accounts``): 50-70 % of all."""
    per_member = np.bincount(campaign_acc - first, minlength=n_accounts - first)
    frac = rng.uniform(CAMOUFLAGE_SHARE[0], CAMOUFLAGE_SHARE[1], per_member.shape[0])
    return np.maximum(5, np.round(per_member * frac / (1.0 - frac))).astype(np.int64)


def background(
    rng: np.random.Generator,
    n_organic: int,
    budget: int,
    camouflage: I64,
    catalog: Catalog,
    span: float,
    days: int,
    vocab: Vocabulary,
) -> list[Part]:
    """``budget`` events of accounts ``0..n_organic`` (heavy-tailed activity, at least one
    each) and the camouflage events of the campaign accounts after them."""
    n_accounts = n_organic + int(camouflage.shape[0])
    weight = rng.lognormal(0.0, ACTIVITY_SIGMA, n_organic)
    counts = 1 + rng.multinomial(budget - n_organic, weight / weight.sum()).astype(np.int64)
    communities = rng.integers(0, N_COMMUNITIES, (n_accounts, 2)).astype(np.int64)
    single = rng.random(n_accounts) < 0.5
    communities[single, 1] = communities[single, 0]
    return _sessions(
        rng,
        [
            ("organic", np.arange(n_organic, dtype=np.int64), counts),
            ("camouflage", np.arange(n_organic, n_accounts, dtype=np.int64), camouflage),
        ],
        communities,
        catalog,
        span,
        days,
        vocab,
    )


# --------------------------------------------------------------------------- sessions


def _sessions(
    rng: np.random.Generator,
    label_counts: list[tuple[str, I64, I64]],
    communities: I64,
    catalog: Catalog,
    span: float,
    days: int,
    vocab: Vocabulary,
) -> list[Part]:
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
    t0 = rng.integers(0, days, n_sess).astype(np.float64) * DAY + times_of_day(rng, n_sess)
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
    texts = organic_texts(rng, int(np.count_nonzero(kind == TAG)), vocab)
    # Split back into labelled parts (organic vs camouflage) for the event counts.
    parts: list[Part] = []
    lo = 0
    text_lo = 0
    for label, _, c in label_counts:
        hi = lo + int(c.sum())
        n_posts = int(np.count_nonzero(kind[lo:hi] == TAG))
        parts.append(
            Part(
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
