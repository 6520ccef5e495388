"""Timeline raster of a cluster (matplotlib, Agg backend): x = time, y = member,
colour = target. Lockstep shows as columns of same-coloured ticks.

The points come either from the document itself — the evidence examples hold, for each
example co-action, both accounts' timestamps on the target (:func:`points_from_evidence`)
— or from the events file, which gives the members' full timelines
(:func:`MemberTimelines`). The figure has three panels: the whole period, a zoom on the
busiest stretch (where the members acted closest together) and the distribution of
``|dt|`` over the example co-actions.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.dates as mdates
import numpy as np
import numpy.typing as npt
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from cib_detect.model import EventTable
from cib_detect.report.load import ts_ms

#: Rows drawn at most; further members are left out and the title says so.
MAX_ROWS = 60
#: Targets with their own colour (most members first); the rest share one grey.
MAX_COLOURS = 12
MAX_POINTS = 200_000

_PALETTE = [
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#17becf",
    "#e377c2",
    "#8c564b",
    "#bcbd22",
    "#393b79",
    "#ad494a",
    "#637939",
]
_SHARED_GREY = "#7f7f7f"
_SOLO_GREY = "#d0d0d0"
_INK = "#1f2933"
_MUTED = "#6b7280"


@dataclass(frozen=True)
class Points:
    """Timeline points: parallel lists of member, target and epoch-ms time."""

    members: list[str]
    targets: list[str]
    ts: npt.NDArray[np.int64]
    source: str  # "evidence" or "events"

    @property
    def n(self) -> int:
        return len(self.members)


Action = tuple[str, str, int]  # (member, target, epoch ms)


def text_groups(cluster: dict[str, Any]) -> dict[Action, str]:
    """Actions behind near-duplicate text examples -> a label of their copy-pasta group
    (texts linked by examples, transitively), so the raster colours a copied text like a
    shared target even when it was posted on different targets."""
    parent: dict[Action, Action] = {}
    text: dict[Action, str] = {}

    def find(x: Action) -> Action:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for e in cluster["evidence"]:
        for x in e["examples"]:
            if x.get("text_a") is None or x.get("t_a") is None or x.get("t_b") is None:
                continue
            a = (e["a"], x["target"], ts_ms(x["t_a"]))
            b = (e["b"], x.get("target_b") or x["target"], ts_ms(x["t_b"]))
            text.setdefault(a, x.get("text_a") or "")
            text.setdefault(b, x.get("text_b") or "")
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    groups: dict[Action, list[Action]] = {}
    for node in parent:
        groups.setdefault(find(node), []).append(node)
    out: dict[Action, str] = {}
    used: Counter[str] = Counter()
    for root in sorted(groups):
        words = text.get(root, "").split()
        label = "text “" + " ".join(words[:3]) + ("…”" if len(words) > 3 else "”")
        used[label] += 1
        if used[label] > 1:
            label += f" #{used[label]}"
        for node in groups[root]:
            out[node] = label
    return out


def points_from_evidence(cluster: dict[str, Any]) -> Points:
    """Both accounts' actions of every evidence example (each distinct action once);
    actions of near-duplicate texts are keyed by their text group."""
    seen: set[Action] = set()
    for e in cluster["evidence"]:
        for x in e["examples"]:
            if x.get("t_a") is not None:
                seen.add((e["a"], x["target"], ts_ms(x["t_a"])))
            if x.get("t_b") is not None:
                seen.add((e["b"], x.get("target_b") or x["target"], ts_ms(x["t_b"])))
    groups = text_groups(cluster)
    rows = sorted(seen, key=lambda r: (r[2], r[0], r[1]))
    return Points(
        [r[0] for r in rows],
        [groups.get(r, r[1]) for r in rows],
        np.array([r[2] for r in rows], dtype=np.int64),
        "evidence",
    )


class MemberTimelines:
    """Every event of the given accounts in an events table, indexed once."""

    def __init__(self, events: EventTable) -> None:
        self._events = events
        self._order = np.argsort(events.account, kind="stable")
        self._sorted = events.account[self._order]
        self._code = {a: i for i, a in enumerate(events.accounts)}

    def points(self, members: Sequence[str], groups: dict[Action, str] | None = None) -> Points:
        """The members' events; those in ``groups`` (see :func:`text_groups`) are keyed
        by their text group instead of their target."""
        ev = self._events
        chunks: list[npt.NDArray[np.int64]] = []
        for m in members:
            code = self._code.get(m)
            if code is None:
                continue
            lo, hi = np.searchsorted(self._sorted, [code, code + 1])
            chunks.append(self._order[lo:hi].astype(np.int64))
        rows = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)
        rows = rows[np.lexsort((rows, ev.ts[rows]))][:MAX_POINTS]
        accounts = [ev.accounts[int(i)] for i in ev.account[rows]]
        targets = [ev.targets[int(i)] for i in ev.target[rows]]
        ts = ev.ts[rows].astype(np.int64)
        if groups:
            targets = [
                groups.get((m, t, int(x)), t)
                for m, t, x in zip(accounts, targets, ts.tolist(), strict=True)
            ]
        return Points(accounts, targets, ts, "events")


def _busiest(points: Points, span_ms: int) -> tuple[int, int]:
    """The ``span_ms`` stretch with the most distinct members acting on one target."""
    best, best_lo = -1, int(points.ts[0]) if points.n else 0
    by_target: dict[str, list[int]] = {}
    for i, t in enumerate(points.targets):
        by_target.setdefault(t, []).append(i)
    for idx in by_target.values():
        if len(idx) < 2:
            continue
        ts = points.ts[idx]
        hi = np.searchsorted(ts, ts + span_ms, side="right")
        for j in range(len(idx)):
            n = len({points.members[idx[k]] for k in range(j, int(hi[j]))})
            if n > best:
                best, best_lo = n, int(ts[j])
    inside = points.ts[(points.ts >= best_lo) & (points.ts <= best_lo + span_ms)]
    a, b = (int(inside.min()), int(inside.max())) if inside.size else (best_lo, best_lo)
    half = max((b - a) * 0.7, 60_000.0)
    mid = (a + b) / 2
    return int(mid - half), int(mid + half)


def _num(ms: Any) -> Any:
    """Matplotlib date numbers of epoch-ms values."""
    return mdates.date2num(np.asarray(ms, dtype="datetime64[ms]"))  # type: ignore[no-untyped-call]


def _time_axis(ax: Any, *, offset: bool, ticks: int) -> None:
    locator = mdates.AutoDateLocator(minticks=4, maxticks=ticks)  # type: ignore[no-untyped-call]
    fmt = mdates.ConciseDateFormatter(locator, show_offset=offset)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(fmt)


def _duration(ms: int) -> str:
    s = ms / 1000
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min" if s < 7200 else f"{s / 3600:.1f} h"


def _short(label: str, width: int = 24) -> str:
    return label if len(label) <= width else label[: width - 1].rstrip() + "…"


def _colours(
    points: Points, rows: dict[str, int], first: npt.NDArray[np.bool_]
) -> tuple[list[str], list[tuple[str, str]]]:
    """A colour per point and the legend entries: shared targets of the points marked
    ``first`` (the zoom), then the targets hit by the most members, get their own
    colour; other shared targets are grey, targets of one member light grey."""
    hit: dict[str, set[str]] = {}
    zoom: dict[str, set[str]] = {}
    for i, (m, t) in enumerate(zip(points.members, points.targets, strict=True)):
        if m in rows:
            hit.setdefault(t, set()).add(m)
            if first[i]:
                zoom.setdefault(t, set()).add(m)
    counts = Counter({t: len(ms) for t, ms in hit.items() if len(ms) >= 2})

    def rank(t: str) -> tuple[int, int, str]:
        in_zoom = len(zoom.get(t, ()))
        return (-in_zoom if in_zoom >= 2 else 0, -counts[t], t)

    order = sorted(counts, key=rank)
    top = order[:MAX_COLOURS]
    colour = {t: _PALETTE[i] for i, t in enumerate(top)}
    out = [colour.get(t, _SHARED_GREY if t in counts else _SOLO_GREY) for t in points.targets]
    legend = [(f"{_short(t)} ({counts[t]})", colour[t]) for t in top]
    if len(counts) > len(top):
        legend.append((f"{len(counts) - len(top)} other shared targets", _SHARED_GREY))
    if any(c == _SOLO_GREY for c in out):
        legend.append(("not shared", _SOLO_GREY))
    return out, legend


def _raster(ax: Any, points: Points, rows: dict[str, int], colours: list[str], sel: Any) -> None:
    ys = np.array([rows.get(m, -1) for m in points.members])
    keep = sel & (ys >= 0)
    x = _num(points.ts[keep])
    c = np.array(colours, dtype=object)[keep]
    solo = c == _SOLO_GREY
    size = max(40.0, min(140.0, 1800.0 / max(len(rows), 1)))
    for mask, z in ((solo, 1), (~solo, 2)):
        ax.scatter(
            x[mask], ys[keep][mask], c=list(c[mask]), marker="|", s=size, linewidths=1.3, zorder=z
        )
    ax.set_ylim(len(rows) - 0.5, -0.5)
    labels = sorted(rows, key=rows.__getitem__)
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=6.5 if len(labels) > 30 else 7.5, color=_INK)
    ax.grid(axis="x", color="#e5e7eb", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="x", labelsize=7.5, colors=_INK)


def timeline_png(cluster: dict[str, Any], points: Points, *, dpi: int = 96) -> bytes:
    """The cluster's timeline raster as PNG bytes."""
    members: list[str] = list(cluster["members"])
    first: dict[str, int] = {}
    for m, t in zip(points.members, points.ts.tolist(), strict=True):
        first.setdefault(m, t)
    ordered = sorted(members, key=lambda m: (first.get(m, 2**62), m))[:MAX_ROWS]
    rows = {m: i for i, m in enumerate(ordered)}
    dts = [
        float(x["dt"])
        for e in cluster["evidence"]
        for x in e["examples"]
        if x.get("dt") is not None
    ]
    med = float(np.median(dts)) if dts else 60.0
    span = int(min(6 * 3600, max(600, 30 * med)) * 1000)
    lo, hi = _busiest(points, span) if points.n else (0, 0)
    sel = (points.ts >= lo) & (points.ts <= hi)
    colours, legend = _colours(points, rows, sel)

    n_rows = max(len(ordered), 1)
    panel = 0.45 + 0.125 * n_rows  # inches per raster panel
    width, height = 12.5, 2 * panel + 1.5
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)  # Agg, whatever the process-wide backend
    fig.patch.set_facecolor("white")
    # fixed margins (inches): constrained layout costs more than the drawing itself
    grid = fig.add_gridspec(
        2,
        2,
        width_ratios=(3.7, 1.0),
        height_ratios=(1.0, 1.0),
        left=1.0 / width,
        right=1 - 0.25 / width,
        top=1 - 0.35 / height,
        bottom=0.45 / height,
        hspace=0.9 / panel,
        wspace=0.12,
    )
    ax_all = fig.add_subplot(grid[0, 0])
    ax_zoom = fig.add_subplot(grid[1, 0])
    ax_dt = fig.add_subplot(grid[0, 1])
    ax_leg = fig.add_subplot(grid[1, 1])
    ax_leg.axis("off")
    title: dict[str, Any] = {"loc": "left", "fontsize": 9, "color": _INK}

    what = "evidence examples" if points.source == "evidence" else "events file"
    cut = f"; first {MAX_ROWS} of {len(members)} members" if len(members) > MAX_ROWS else ""
    if points.n == 0:
        ax_all.text(0.5, 0.5, "no timestamps in the evidence", ha="center", va="center")
        ax_all.axis("off")
        ax_zoom.axis("off")
    else:
        _raster(ax_all, points, rows, colours, np.ones(points.n, dtype=bool))
        ax_all.set_title(f"All activity ({points.n:,} actions from the {what}{cut})", **title)
        _time_axis(ax_all, offset=False, ticks=10)
        t0, t1 = (
            str(np.datetime64(int(v), "ms").astype("datetime64[m]")).replace("T", " ")
            for v in (points.ts.min(), points.ts.max())
        )
        ax_all.set_xlabel(f"UTC, {t0} to {t1}", fontsize=8, color=_MUTED)
        _raster(ax_zoom, points, rows, colours, sel)
        ax_zoom.set_xlim(*_num([lo, hi]))
        _time_axis(ax_zoom, offset=True, ticks=9)
        ax_zoom.set_xlabel("UTC", fontsize=8, color=_MUTED)
        ax_zoom.set_title(
            f"Zoom: where most members acted together ({int(sel.sum())} actions"
            f" in {_duration(hi - lo)})",
            **title,
        )
    if dts:
        ax_dt.hist(dts, bins=min(30, max(5, len(set(dts)))), color="#4f46e5", alpha=0.85)
        ax_dt.set_title("|dt| of example co-actions (s)", **title)
        ax_dt.tick_params(labelsize=7.5, colors=_INK)
        ax_dt.set_ylabel("examples", fontsize=8, color=_MUTED)
        for side in ("top", "right"):
            ax_dt.spines[side].set_visible(False)
    else:
        ax_dt.axis("off")
    key = "target or text" if any(t.startswith("text “") for t in points.targets) else "target"
    if legend:
        handles = [
            Line2D([], [], marker="|", linestyle="", color=c, markersize=9, markeredgewidth=2.0)
            for _, c in legend
        ]
        ax_leg.legend(
            handles,
            [label for label, _ in legend],
            title=f"{key} (members)",
            loc="upper left",
            fontsize=7.5,
            title_fontsize=8,
            frameon=False,
        )
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white", metadata={"Software": None})
    return buf.getvalue()
