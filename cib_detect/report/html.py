"""The evidence report: one self-contained HTML page per run.

The page is the template ``templates/report.html`` with its stylesheet, script, the
vendored cytoscape.js (``vendor/``) and the data inlined; images are PNG data URIs. A
Content-Security-Policy in the page allows nothing but the inline scripts (by hash),
inline styles and ``data:`` images, so opening it makes no network request.

Data flow: :func:`build_view` turns the document dict (see :mod:`cib_detect.report.load`)
into the page's view model — every cluster as a table row, the first ``max_clusters``
with their details (graph with a precomputed layout, timeline raster, shared targets,
example co-actions, near-duplicate texts) — and :func:`render_html` writes the page.
The browser renders a cluster's graph only when the cluster is opened. Every cap is
written into the page next to what it limits.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import math
import os
import random
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import igraph as ig
import orjson

from cib_detect import __version__
from cib_detect.config import DetectParams
from cib_detect.report import plots
from cib_detect.report.load import Document

#: Progress callback: (clusters done, clusters to do).
Progress = Callable[[int, int], None]

_SIGNAL_COLOURS = ["#2563eb", "#7c3aed", "#0d9488", "#db2777", "#ca8a04", "#4b5563"]
_TEXT_COLOUR = "#ea580c"
_LAYOUT_SEED = 20260101


@dataclass(frozen=True)
class Caps:
    """Limits that keep a large run's page usable; each is stated on the page."""

    max_clusters: int = 50  # clusters with details (graph, raster, evidence tables)
    max_evidence: int = 200  # evidence edges per cluster (graph and edge table)
    max_examples: int = 100  # example co-actions listed per cluster
    max_texts: int = 20  # near-duplicate text pairs per cluster
    page_size: int = 25  # rows per page of the cluster table

    def as_record(self) -> dict[str, int]:
        return {
            "max_clusters": self.max_clusters,
            "max_evidence": self.max_evidence,
            "max_examples": self.max_examples,
            "max_texts": self.max_texts,
            "page_size": self.page_size,
        }


# -- view model -----------------------------------------------------------------------


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def signal_colours(doc: Document) -> dict[str, str]:
    names = sorted({s for c in doc["clusters"] for s in c["signals"]})
    names += sorted({e["signal"] for c in doc["clusters"] for e in c["evidence"]} - set(names))
    out: dict[str, str] = {}
    i = 0
    for name in sorted(set(names), key=_signal_order):
        if "text" in name:
            out[name] = _TEXT_COLOUR
        else:
            out[name] = _SIGNAL_COLOURS[i % len(_SIGNAL_COLOURS)]
            i += 1
    return out


def _signal_order(name: str) -> tuple[int, int, str]:
    """co_action@60s before co_action@600s before co_action@14400s, text last."""
    m = re.search(r"@(\d+)s$", name)
    return (int("text" in name), int(m.group(1)) if m else 0, name)


def layout(members: list[str], edges: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """Deterministic force-directed positions (igraph Fruchterman-Reingold, seeded RNG,
    circle start) about 1000 units wide; members without a shown edge go in rows below."""
    index = {m: i for i, m in enumerate(members)}
    weight: dict[tuple[int, int], float] = {}
    for e in edges:
        a, b = index.get(e["a"]), index.get(e["b"])
        if a is None or b is None or a == b:
            continue
        key = (min(a, b), max(a, b))
        weight[key] = weight.get(key, 0.0) + max(float(e["weight"]), 0.1)
    linked = sorted({i for pair in weight for i in pair})
    local = {v: k for k, v in enumerate(linked)}
    n = len(linked)
    g = ig.Graph(n=n, edges=[(local[a], local[b]) for a, b in weight])
    start = [
        [math.cos(2 * math.pi * i / max(n, 1)), math.sin(2 * math.pi * i / max(n, 1))]
        for i in range(n)
    ]
    ig.set_random_number_generator(random.Random(_LAYOUT_SEED))
    try:
        coords = (
            g.layout_fruchterman_reingold(
                weights=list(weight.values()), seed=start, niter=600, grid=False
            ).coords
            if n
            else []
        )
    finally:
        ig.set_random_number_generator(random)
    xs = [c[0] for c in coords] or [0.0]
    ys = [c[1] for c in coords] or [0.0]
    span = max(max(xs) - min(xs), max(ys) - min(ys), 1e-9)
    out: dict[str, tuple[float, float]] = {}
    for i in linked:
        x, y = coords[local[i]]
        out[members[i]] = (
            round((x - min(xs)) / span * 1000, 1),
            round((y - min(ys)) / span * 1000, 1),
        )
    bottom = max((p[1] for p in out.values()), default=0.0) + 90.0
    isolated = [m for i, m in enumerate(members) if i not in local]
    per_row = 16
    for k, m in enumerate(isolated):
        out[m] = (round(1000 * (k % per_row + 0.5) / per_row, 1), bottom + 60.0 * (k // per_row))
    return out


def _segments(a: str, b: str) -> tuple[list[list[Any]], list[list[Any]], float]:
    """Word-level diff of two texts: ``[[text, changed], ...]`` for each, and the ratio
    of words they share."""
    wa, wb = a.split(), b.split()
    sm = difflib.SequenceMatcher(None, wa, wb, autojunk=False)
    sa: list[list[Any]] = []
    sb: list[list[Any]] = []
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        changed = 0 if op == "equal" else 1
        if i2 > i1:
            sa.append([" ".join(wa[i1:i2]), changed])
        if j2 > j1:
            sb.append([" ".join(wb[j1:j2]), changed])
    return sa, sb, round(sm.ratio(), 3)


def _edge_row(e: dict[str, Any]) -> dict[str, Any]:
    return {
        "a": e["a"],
        "b": e["b"],
        "signal": e["signal"],
        "window": e["window"],
        "weight": e["weight"],
        "p": _finite(e["p_value"]),
        "log10p": _finite(e["log10_p"]),
        "shared": e["shared_targets"],
        "episodes": e["episodes"],
        "expected": _finite(e["expected"]),
        "median_dt": _finite(e["median_dt"]),
        "first": e["first_ts"],
        "last": e["last_ts"],
        "examples": [
            {k: x.get(k) for k in ("target", "target_b", "t_a", "t_b", "dt")} for x in e["examples"]
        ],
    }


def _targets_by_rarity(c: dict[str, Any]) -> list[dict[str, Any]]:
    """Shared targets, rarest first: fewest accounts overall, then most members."""
    rows = [
        {
            "target": t["target"],
            "members": t["accounts"],
            "popularity": t["popularity"],
            "share": round(t["accounts"] / t["popularity"], 3) if t["popularity"] else None,
            "first": t["first_ts"],
            "last": t["last_ts"],
        }
        for t in c["top_targets"]
    ]
    rows.sort(key=lambda r: (r["popularity"] or 2**62, -r["members"], r["target"]))
    return rows


def cluster_detail(
    c: dict[str, Any], caps: Caps, timelines: plots.MemberTimelines | None
) -> dict[str, Any]:
    """Everything the page shows for one opened cluster."""
    evidence = c["evidence"][: caps.max_evidence]
    pos = layout(c["members"], evidence)
    degree = dict.fromkeys(c["members"], 0)
    strength = dict.fromkeys(c["members"], 0.0)
    for e in evidence:
        for m in (e["a"], e["b"]):
            if m in degree:
                degree[m] += 1
                strength[m] += e["weight"]
    examples: list[dict[str, Any]] = []
    texts: list[dict[str, Any]] = []
    n_examples = n_texts = 0
    # round robin over the edges (strongest first): the first example of every edge,
    # then the second, ... so that a cap shows many pairs rather than a few
    depth = max((len(e["examples"]) for e in evidence), default=0)
    for j in range(depth):
        for e in evidence:
            if j >= len(e["examples"]):
                continue
            x = e["examples"][j]
            row = {"a": e["a"], "b": e["b"], "signal": e["signal"], "window": e["window"]}
            row |= {k: x.get(k) for k in ("target", "target_b", "t_a", "t_b", "dt")}
            if x.get("text_a") is not None or x.get("text_b") is not None:
                n_texts += 1
                if len(texts) < caps.max_texts:
                    sa, sb, ratio = _segments(x.get("text_a") or "", x.get("text_b") or "")
                    texts.append(row | {"seg_a": sa, "seg_b": sb, "shared_words": ratio})
            n_examples += 1
            if len(examples) < caps.max_examples:
                examples.append(row)
    points = (
        timelines.points(c["members"], plots.text_groups(c))
        if timelines
        else plots.points_from_evidence(c)
    )
    png = plots.timeline_png(c, points)
    return {
        "nodes": [
            {
                "id": m,
                "x": pos[m][0],
                "y": pos[m][1],
                "degree": degree[m],
                "strength": round(strength[m], 3),
            }
            for m in c["members"]
        ],
        "edges": [_edge_row(e) for e in evidence],
        "edges_in_document": len(c["evidence"]),
        "raster": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
        "raster_source": points.source,
        "raster_points": points.n,
        "targets": _targets_by_rarity(c),
        "examples": examples,
        "examples_total": n_examples,
        "texts": texts,
        "texts_total": n_texts,
    }


def _param_help() -> dict[str, str]:
    return {
        name: f.description or "" for name, f in DetectParams.model_fields.items() if f.description
    }


def build_view(
    doc: Document,
    *,
    source: dict[str, Any],
    caps: Caps = Caps(),
    timelines: plots.MemberTimelines | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The page's data: run record, caps, every cluster's row and the first
    ``caps.max_clusters`` clusters' details. ``source`` describes where the document
    came from (``{"kind": "file", "path", "sha256"}`` or ``{"kind": "run", "run_id"}``)."""
    clusters = doc["clusters"]
    todo = min(len(clusters), caps.max_clusters)
    rows: list[dict[str, Any]] = []
    details: dict[str, Any] = {}
    for i, c in enumerate(clusters):
        rows.append(
            {
                "id": c["cluster_id"],
                "rank": c["rank"],
                "score": c["score"],
                "sub": c["sub_scores"],
                "size": c["size"],
                "n_edges": c["n_edges"],
                "signals": c["signals"],
                "truncated": c["evidence_truncated"],
                "members": c["members"],
                "detail": i < todo,
            }
        )
        if i < todo:
            details[c["cluster_id"]] = cluster_detail(c, caps, timelines)
            if progress:
                progress(i + 1, todo)
    return {
        "generator": f"cib-detect {__version__}",
        "source": source,
        "run": doc["run"],
        "param_help": _param_help(),
        "caps": caps.as_record(),
        "timelines": "events" if timelines else "evidence",
        "signals": signal_colours(doc),
        "clusters": rows,
        "details": details,
    }


# -- page -----------------------------------------------------------------------------


def _asset(*parts: str) -> str:
    return resources.files("cib_detect.report").joinpath(*parts).read_text(encoding="utf-8")


def _json_for_script(obj: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">``."""
    text = orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY).decode("utf-8")
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _csp_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def render_html(view: dict[str, Any], *, title: str | None = None) -> str:
    """The complete page for a view model from :func:`build_view`."""
    library = _asset("vendor", "cytoscape.min.js")
    script = _asset("templates", "report.js")
    csp = "; ".join(
        [
            "default-src 'none'",
            f"script-src {_csp_hash(library)} {_csp_hash(script)}",
            "style-src 'unsafe-inline'",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )
    run = view["run"]
    n = len(view["clusters"])
    where = Path(str((run.get("input") or {}).get("path") or "")).name
    name = title or (
        f"{n} coordinated cluster{'' if n == 1 else 's'}" + (f" in {where}" if where else "")
    )
    sha = ((run.get("input") or {}).get("sha256") or "")[:12]
    values = {
        "CSP": csp,
        "TITLE": _escape(name + (f" (input {sha})" if sha else "")),
        "HEADING": _escape(name),
        "GENERATOR": _escape(view["generator"]),
        "CSS": _asset("templates", "report.css"),
        "DATA": _json_for_script(view),
        "CYTOSCAPE": library,
        "SCRIPT": script,
    }
    template = _asset("templates", "report.html")
    # one pass: substituted text (data, scripts) is never scanned for placeholders
    return re.sub(r"\{\{([A-Z]+)\}\}", lambda m: values[m.group(1)], template)


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def write_report(
    doc: Document,
    out: Path,
    *,
    source: dict[str, Any],
    caps: Caps = Caps(),
    timelines: plots.MemberTimelines | None = None,
    title: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Build and atomically write the report; returns a summary for ``--json``."""
    view = build_view(doc, source=source, caps=caps, timelines=timelines, progress=progress)
    page = render_html(view, title=title).encode("utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=out.name, suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(page)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {
        "out": str(out),
        "bytes": len(page),
        "sha256": hashlib.sha256(page).hexdigest(),
        "clusters": len(view["clusters"]),
        "clusters_detailed": len(view["details"]),
        "timelines": view["timelines"],
        "caps": caps.as_record(),
    }
