"""Read a run's clusters document: from ``clusters.json`` or, once the store offers it,
from a run stored in Neo4j.

Everything downstream (the HTML report, the exports) takes the *document dict* — the
shape of ``clusters.json``: ``{"run": {...}, "clusters": [...]}``. A source only has to
produce that dict; :func:`normalize` then checks it and fills what a source may leave
out (``size``, ``n_edges``, ``dt`` of an example, ...), so a Neo4j source can hand over
timestamps as epoch milliseconds instead of ISO-8601 strings.

Sources:

* :func:`read_clusters_json` — the file written by ``cib-detect detect``. The writer puts
  one cluster per line; that layout is read line by line (no second copy of a large file
  in memory), any other valid JSON layout is read whole.
* :func:`load_run` — a run stored in Neo4j, through the loader named by
  :data:`RUN_LOADER` (``cib_detect.store.run_read.load_run_document``). Until the store
  provides it, :func:`load_run` fails with a clear error; tests and embedders can plug a
  loader in with :func:`set_run_loader`.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from cib_detect.errors import FailedPrecondition, InvalidInput, NotFound
from cib_detect.report.json_out import iso

Document = dict[str, Any]

#: ``load(run_id, neo4j_uri)`` -> the run's document (the ``clusters.json`` shape).
RunLoader = Callable[[str, str | None], Document]

#: Where :func:`load_run` looks for the Neo4j loader: ``(module, function)``. The function
#: takes ``(run_id, uri)`` (``uri`` None = the configured ``CIB_NEO4J__URI``) and returns
#: the document dict; it raises ``NotFound`` for an unknown or incomplete run.
RUN_LOADER: tuple[str, str] = ("cib_detect.store.run_read", "load_run_document")

_plugged: RunLoader | None = None
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def set_run_loader(loader: RunLoader | None) -> None:
    """Use ``loader`` for ``--run`` (None: back to :data:`RUN_LOADER`)."""
    global _plugged
    _plugged = loader


def run_loader() -> RunLoader | None:
    """The loader for ``--run``, or None when the store does not offer one yet."""
    if _plugged is not None:
        return _plugged
    module, name = RUN_LOADER
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    fn = getattr(mod, name, None)
    return fn if callable(fn) else None


def load_run(run_id: str, uri: str | None = None) -> Document:
    """The document of a run stored in Neo4j (normalised)."""
    loader = run_loader()
    if loader is None:
        module, name = RUN_LOADER
        raise FailedPrecondition(
            f"reading a run from Neo4j is not available in this version ({module}.{name} "
            "is missing); export the run to clusters.json and pass the file instead"
        )
    return normalize(loader(run_id, uri), where=f"run {run_id}")


def read_clusters_json(path: str | Path) -> Document:
    """Read ``clusters.json`` (normalised)."""
    p = Path(path)
    if not p.is_file():
        raise NotFound(f"clusters file not found: {p}")
    try:
        doc = _read_lines(p)
        if doc is None:
            doc = orjson.loads(p.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"{p}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise InvalidInput(f"{p}: expected a JSON object with 'run' and 'clusters'")
    return normalize(doc, where=str(p))


def _read_lines(p: Path) -> Document | None:
    """The writer's layout: ``{"run":{..},`` / ``"clusters":[`` / one cluster per line
    (each but the last followed by ``,``) / ``]}``. None when the file is laid out
    otherwise."""
    with p.open("rb") as fh:
        head = fh.readline()
        if not head.startswith(b'{"run":') or not head.rstrip().endswith(b","):
            return None
        run = orjson.loads(head.rstrip()[len(b'{"run":') : -1])
        if fh.readline().strip() != b'"clusters":[':
            return None
        clusters: list[Any] = []
        closed = False
        for raw in fh:
            line = raw.strip()
            if not line:
                continue
            if closed:
                return None
            if line == b"]}":
                closed = True
                continue
            if not line.startswith(b"{"):
                return None
            clusters.append(orjson.loads(line[:-1] if line.endswith(b",") else line))
        if not closed:
            raise InvalidInput(f"{p}: truncated (no closing ']}}')")
    return {"run": run, "clusters": clusters}


# -- normalisation --------------------------------------------------------------------


def ts_ms(value: Any) -> int:
    """Epoch milliseconds from an ISO-8601 string (``...Z`` or with an offset) or a number
    (epoch ms)."""
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        t = datetime.fromisoformat(text)
        if t.tzinfo is None:
            t = t.replace(tzinfo=UTC)
        return (t - _EPOCH) // timedelta(milliseconds=1)
    raise ValueError(f"not a timestamp: {value!r}")


_CANONICAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _iso(value: Any) -> str | None:
    """ISO-8601 UTC with milliseconds, as ``clusters.json`` writes it (kept as is)."""
    if value is None:
        return None
    if isinstance(value, str) and _CANONICAL.fullmatch(value):
        return value
    return iso(ts_ms(value))


def _num(value: Any, default: float = math.nan) -> float:
    return default if value is None else float(value)


def _example(x: dict[str, Any]) -> dict[str, Any]:
    out = dict(x)
    out["t_a"] = _iso(x.get("t_a"))
    out["t_b"] = _iso(x.get("t_b"))
    if out.get("dt") is None and out["t_a"] is not None and out["t_b"] is not None:
        out["dt"] = abs(ts_ms(out["t_b"]) - ts_ms(out["t_a"])) / 1000.0
    return out


def _edge(e: dict[str, Any]) -> dict[str, Any]:
    out = dict(e)
    for key in ("a", "b", "signal"):
        if not isinstance(e.get(key), str):
            raise ValueError(f"evidence edge without {key!r}")
    out["weight"] = _num(e.get("weight"), 0.0)
    out["window"] = int(e.get("window") or 0)
    for key in ("p_value", "log10_p", "expected", "median_dt"):
        out[key] = _num(e.get(key))
    if math.isnan(out["log10_p"]) and out["p_value"] > 0:
        out["log10_p"] = math.log10(out["p_value"])
    out["shared_targets"] = int(e.get("shared_targets") or 0)
    out["episodes"] = int(e.get("episodes") or 0)
    out["first_ts"] = _iso(e.get("first_ts"))
    out["last_ts"] = _iso(e.get("last_ts"))
    out["examples"] = [_example(x) for x in e.get("examples") or []]
    return out


def _cluster(c: dict[str, Any], i: int) -> dict[str, Any]:
    out = dict(c)
    if not isinstance(c.get("cluster_id"), str):
        raise ValueError("no 'cluster_id'")
    members = c.get("members")
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        raise ValueError("'members' must be a list of account ids")
    out["rank"] = int(c.get("rank") or i + 1)
    out["score"] = _num(c.get("score"), 0.0)
    out["sub_scores"] = {str(k): float(v) for k, v in (c.get("sub_scores") or {}).items()}
    out["size"] = int(c.get("size") or len(members))
    out["signals"] = [str(s) for s in c.get("signals") or []]
    out["evidence"] = [_edge(e) for e in c.get("evidence") or []]
    out["n_edges"] = int(c.get("n_edges") or len(out["evidence"]))
    out["evidence_truncated"] = bool(
        c.get("evidence_truncated", out["n_edges"] > len(out["evidence"]))
    )
    out["top_targets"] = [
        {
            **t,
            "accounts": int(t.get("accounts") or 0),
            "popularity": int(t.get("popularity") or 0),
            "first_ts": _iso(t.get("first_ts")),
            "last_ts": _iso(t.get("last_ts")),
        }
        for t in c.get("top_targets") or []
    ]
    return out


def normalize(doc: dict[str, Any], *, where: str = "document") -> Document:
    """Check a document's shape and fill defaults; clusters come back by rank."""
    run = doc.get("run")
    clusters = doc.get("clusters")
    if not isinstance(run, dict) or not isinstance(clusters, list):
        raise InvalidInput(f"{where}: expected a clusters document with 'run' and 'clusters'")
    out: list[dict[str, Any]] = []
    for i, c in enumerate(clusters):
        if not isinstance(c, dict):
            raise InvalidInput(f"{where}: cluster #{i + 1} is not an object")
        try:
            out.append(_cluster(c, i))
        except (ValueError, TypeError, AttributeError) as exc:
            cid = c.get("cluster_id", f"#{i + 1}")
            raise InvalidInput(f"{where}: cluster {cid}: {exc}") from None
    out.sort(key=lambda c: (c["rank"], c["cluster_id"]))
    return {"run": run, "clusters": out}
