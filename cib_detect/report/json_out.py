"""``clusters.json``: the run record plus ranked clusters with their evidence.

The ``clusters`` array is a pure function of (input events, parameters): timestamps are
ISO-8601 UTC strings with milliseconds, floats are rounded, keys keep a fixed order.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from cib_detect import __version__
from cib_detect.config import DetectParams
from cib_detect.model import Cluster, DetectionResult, Evidence, InputInfo

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


@functools.lru_cache(maxsize=8192)
def _day(days: int) -> str:
    return date.fromordinal(_EPOCH_ORDINAL + days).isoformat()


def iso(ms: int) -> str:
    """Epoch milliseconds as ISO-8601 UTC with milliseconds, e.g. 2026-01-02T03:04:05.006Z."""
    secs, frac = divmod(int(ms), 1000)
    days, rem = divmod(secs, 86400)
    hh, rem = divmod(rem, 3600)
    mm, ss = divmod(rem, 60)
    return f"{_day(days)}T{hh:02d}:{mm:02d}:{ss:02d}.{frac:03d}Z"


def iso_table(values: Iterable[int]) -> dict[int, str]:
    """:func:`iso` of many epoch-millisecond values at once (one NumPy conversion)."""
    keys = list(dict.fromkeys(int(v) for v in values))
    if not keys:
        return {}
    text = np.datetime_as_string(np.array(keys, dtype="datetime64[ms]"), unit="ms")
    return {k: s + "Z" for k, s in zip(keys, text.tolist(), strict=True)}


def _times(c: Cluster) -> dict[int, str]:
    """ISO text of every instant a cluster's record shows."""
    values: list[int] = []
    for t in c.top_targets:
        values += (t.first_ts, t.last_ts)
    for e in c.evidence:
        values += (e.first_ts, e.last_ts)
        for x in e.examples:
            values += (x.t_a, x.t_b)
    return iso_table(values)


def _evidence(e: Evidence, iso_of: dict[int, str]) -> dict[str, Any]:
    examples = []
    for x in e.examples:
        item: dict[str, Any] = {
            "target": x.target,
            "t_a": iso_of[x.t_a],
            "t_b": iso_of[x.t_b],
            "dt": round(x.dt_ms / 1000.0, 3),
        }
        if x.target_b is not None:
            item["target_b"] = x.target_b
        if x.text_a is not None or x.text_b is not None:
            item["text_a"] = x.text_a
            item["text_b"] = x.text_b
        examples.append(item)
    return {
        "a": e.a,
        "b": e.b,
        "weight": round(e.weight, 4),
        "signal": e.signal,
        "window": e.window,
        "p_value": float(f"{e.p_value:.4g}"),
        "log10_p": round(e.log10_p, 3),
        "shared_targets": e.shared_targets,
        "episodes": e.episodes,
        "expected": float(f"{e.expected:.4g}"),
        "median_dt": round(e.median_dt, 3),
        "first_ts": iso_of[e.first_ts],
        "last_ts": iso_of[e.last_ts],
        "examples": examples,
    }


def cluster_record(c: Cluster) -> dict[str, Any]:
    iso_of = _times(c)
    return {
        "cluster_id": c.cluster_id,
        "rank": c.rank,
        "score": c.score,
        "sub_scores": c.sub_scores,
        "size": c.size,
        "members": list(c.members),
        "signals": list(c.signals),
        "n_edges": c.n_edges,
        "top_targets": [
            {
                "target": t.target,
                "accounts": t.accounts,
                "popularity": t.popularity,
                "first_ts": iso_of[t.first_ts],
                "last_ts": iso_of[t.last_ts],
            }
            for t in c.top_targets
        ],
        "evidence_truncated": c.evidence_truncated,
        "evidence": [_evidence(e, iso_of) for e in c.evidence],
    }


def run_record(
    result: DetectionResult, params: DetectParams, info: InputInfo | None
) -> dict[str, Any]:
    return {
        "version": __version__,
        "params": params.as_record(),
        "seed": params.seed,
        "input": info.as_record() if info is not None else None,
        "stats": result.stats,
        "timings": result.timings,
    }


def build_document(
    result: DetectionResult, params: DetectParams, info: InputInfo | None
) -> dict[str, Any]:
    """The whole document as one dict (for small results and tests)."""
    return {
        "run": run_record(result, params, info),
        "clusters": [cluster_record(c) for c in result.clusters],
    }


def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def write_clusters_json(
    result: DetectionResult,
    params: DetectParams,
    info: InputInfo | None,
    path: Path,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write ``clusters.json`` atomically, one cluster per line, streaming cluster by
    cluster so a large run never holds the whole document in memory. ``extra`` keys (a
    stored run's id and source) are added to the ``run`` record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(
                b'{"run":'
                + _dumps({**run_record(result, params, info), **(extra or {})})
                + b',\n"clusters":['
            )
            for i, c in enumerate(result.clusters):
                fh.write((b"\n" if i == 0 else b",\n") + _dumps(cluster_record(c)))
            fh.write(b"\n]}\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
