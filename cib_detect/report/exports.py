"""Exports of a run's clusters for other tools.

* **GraphML** (:func:`write_graphml`) for Gephi, igraph, networkx, yEd: one node per
  flagged account (``id`` = the account id; attributes ``label``, ``cluster``, ``rank``,
  ``score``, ``cluster_size``, ``degree``, ``strength``) and one undirected edge per
  evidence edge (attributes ``weight``, ``signal``, ``window``, ``p_value``, ``log10_p``,
  ``shared_targets``, ``episodes``, ``expected``, ``median_dt``, ``first_ts``,
  ``last_ts``, ``cluster``). Two accounts linked by several signals get one edge per
  signal. An account in several clusters (possible in merged documents) keeps its best
  ranked cluster. Missing numbers are left out (GraphML defaults), never written as NaN.
* **Tables** (:func:`write_tables`), CSV or Parquet: ``members`` (one row per cluster
  member, with the cluster's score and sub-scores), ``evidence`` (one row per evidence
  edge) and ``examples`` (one row per example co-action, with both timestamps, ``dt``
  and, for the text signal, both texts). Column types are :data:`SCHEMAS`; timestamps
  are UTC milliseconds. CSV is written by Arrow (header row, strings quoted, timestamps
  ``2026-01-02 03:04:05.006Z``, missing values empty) and reads back identically with
  ``pyarrow.csv`` and these column types.

``--out`` for tables is a directory (it exists, or the path ends with ``/``): files
``members.csv``, ``evidence.csv``, ``examples.csv`` inside it; or else a stem:
``out/run7`` (or ``out/run7.csv``) gives ``out/run7_members.csv`` and so on.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from cib_detect import __version__
from cib_detect.report.load import Document

FORMATS = ("graphml", "csv", "parquet")
TABLES = ("members", "evidence", "examples")
_KNOWN_SUBS = ("significance", "evidence", "density", "synchrony", "size")
_TS = pa.timestamp("ms", tz="UTC")

# -- tables ---------------------------------------------------------------------------


def sub_score_keys(doc: Document) -> list[str]:
    """Sub-score names of the document, the five documented ones first."""
    seen = {k for c in doc["clusters"] for k in c["sub_scores"]}
    return [k for k in _KNOWN_SUBS if k in seen] + sorted(seen - set(_KNOWN_SUBS))


def schemas(doc: Document) -> dict[str, pa.Schema]:
    """Column names and types of the three tables for this document."""
    subs = [pa.field(f"score_{k}", pa.float64()) for k in sub_score_keys(doc)]
    cluster = [
        pa.field("cluster_id", pa.string()),
        pa.field("rank", pa.int32()),
    ]
    return {
        "members": pa.schema(
            [
                *cluster,
                pa.field("account", pa.string()),
                pa.field("score", pa.float64()),
                *subs,
                pa.field("size", pa.int32()),
                pa.field("n_edges", pa.int32()),
                pa.field("signals", pa.string()),
                pa.field("evidence_truncated", pa.bool_()),
                pa.field("degree", pa.int32()),
                pa.field("strength", pa.float64()),
            ]
        ),
        "evidence": pa.schema(
            [
                *cluster,
                pa.field("a", pa.string()),
                pa.field("b", pa.string()),
                pa.field("signal", pa.string()),
                pa.field("window", pa.int32()),
                pa.field("weight", pa.float64()),
                pa.field("p_value", pa.float64()),
                pa.field("log10_p", pa.float64()),
                pa.field("shared_targets", pa.int32()),
                pa.field("episodes", pa.int32()),
                pa.field("expected", pa.float64()),
                pa.field("median_dt", pa.float64()),
                pa.field("first_ts", _TS),
                pa.field("last_ts", _TS),
                pa.field("n_examples", pa.int32()),
            ]
        ),
        "examples": pa.schema(
            [
                *cluster,
                pa.field("a", pa.string()),
                pa.field("b", pa.string()),
                pa.field("signal", pa.string()),
                pa.field("target", pa.string()),
                pa.field("target_b", pa.string()),
                pa.field("t_a", _TS),
                pa.field("t_b", _TS),
                pa.field("dt", pa.float64()),
                pa.field("text_a", pa.string()),
                pa.field("text_b", pa.string()),
            ]
        ),
    }


def _num(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _ts(x: Any) -> str | None:
    """Timestamps stay ISO-8601 text here; Arrow parses whole columns (see tables())."""
    return None if x is None else str(x)


def _member_rows(doc: Document, subs: list[str]) -> Iterator[dict[str, Any]]:
    for c in doc["clusters"]:
        degree = dict.fromkeys(c["members"], 0)
        strength = dict.fromkeys(c["members"], 0.0)
        for e in c["evidence"]:
            for m in (e["a"], e["b"]):
                if m in degree:
                    degree[m] += 1
                    strength[m] += e["weight"]
        for m in c["members"]:
            row = {
                "cluster_id": c["cluster_id"],
                "rank": c["rank"],
                "account": m,
                "score": _num(c["score"]),
                "size": c["size"],
                "n_edges": c["n_edges"],
                "signals": ";".join(c["signals"]),
                "evidence_truncated": c["evidence_truncated"],
                "degree": degree[m],
                "strength": round(strength[m], 6),
            }
            row |= {f"score_{k}": _num(c["sub_scores"].get(k)) for k in subs}
            yield row


def _evidence_rows(doc: Document) -> Iterator[dict[str, Any]]:
    for c in doc["clusters"]:
        for e in c["evidence"]:
            yield {
                "cluster_id": c["cluster_id"],
                "rank": c["rank"],
                "a": e["a"],
                "b": e["b"],
                "signal": e["signal"],
                "window": e["window"],
                "weight": _num(e["weight"]),
                "p_value": _num(e["p_value"]),
                "log10_p": _num(e["log10_p"]),
                "shared_targets": e["shared_targets"],
                "episodes": e["episodes"],
                "expected": _num(e["expected"]),
                "median_dt": _num(e["median_dt"]),
                "first_ts": _ts(e["first_ts"]),
                "last_ts": _ts(e["last_ts"]),
                "n_examples": len(e["examples"]),
            }


def _example_rows(doc: Document) -> Iterator[dict[str, Any]]:
    for c in doc["clusters"]:
        for e in c["evidence"]:
            for x in e["examples"]:
                yield {
                    "cluster_id": c["cluster_id"],
                    "rank": c["rank"],
                    "a": e["a"],
                    "b": e["b"],
                    "signal": e["signal"],
                    "target": x.get("target"),
                    "target_b": x.get("target_b"),
                    "t_a": _ts(x.get("t_a")),
                    "t_b": _ts(x.get("t_b")),
                    "dt": _num(x.get("dt")),
                    "text_a": x.get("text_a"),
                    "text_b": x.get("text_b"),
                }


def tables(doc: Document) -> dict[str, pa.Table]:
    """The ``members``, ``evidence`` and ``examples`` tables of a document."""
    sch = schemas(doc)
    rows = {
        "members": list(_member_rows(doc, sub_score_keys(doc))),
        "evidence": list(_evidence_rows(doc)),
        "examples": list(_example_rows(doc)),
    }
    out: dict[str, pa.Table] = {}
    for name in TABLES:
        # timestamps go in as ISO-8601 text and are parsed column-wise by Arrow's cast
        text = pa.schema(
            [pa.field(f.name, pa.string(), f.nullable) if f.type == _TS else f for f in sch[name]]
        )
        out[name] = pa.Table.from_pylist(rows[name], schema=text).cast(sch[name])
    return out


def table_paths(out: str | Path, fmt: str) -> dict[str, Path]:
    """Where ``--out`` puts each table (see the module docstring). Pass the text as
    given: ``Path`` drops the trailing ``/`` that marks a new directory."""
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"not a table format: {fmt}")
    text = str(out)
    out = Path(out)
    if out.is_dir() or text.endswith(("/", os.sep)):
        return {name: out / f"{name}.{fmt}" for name in TABLES}
    stem = out.with_suffix("") if out.suffix.lower() == f".{fmt}" else out
    return {name: stem.with_name(f"{stem.name}_{name}.{fmt}") for name in TABLES}


def _atomic(path: Path) -> tuple[int, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)


def _replace(tmp: str, path: Path) -> None:
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def write_tables(doc: Document, out: str | Path, fmt: str) -> dict[str, Path]:
    """Write the three tables as CSV or Parquet; returns the paths by table name."""
    paths = table_paths(out, fmt)
    for name, table in tables(doc).items():
        fd, tmp = _atomic(paths[name])
        os.close(fd)
        try:
            if fmt == "parquet":
                pq.write_table(table, tmp, compression="zstd")
            else:
                pacsv.write_csv(table, tmp)
            _replace(tmp, paths[name])
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return paths


# -- GraphML --------------------------------------------------------------------------

_NODE_KEYS = (
    ("label", "string"),
    ("cluster", "string"),
    ("rank", "int"),
    ("score", "double"),
    ("cluster_size", "int"),
    ("degree", "int"),
    ("strength", "double"),
)
_EDGE_KEYS = (
    ("weight", "double"),
    ("signal", "string"),
    ("window", "int"),
    ("p_value", "double"),
    ("log10_p", "double"),
    ("shared_targets", "int"),
    ("episodes", "int"),
    ("expected", "double"),
    ("median_dt", "double"),
    ("first_ts", "string"),
    ("last_ts", "string"),
    ("cluster", "string"),
)
_GRAPH_KEYS = (
    ("generator", "string"),
    ("engine_version", "string"),
    ("input_sha256", "string"),
    ("clusters", "int"),
)
# characters XML 1.0 cannot carry, even escaped
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _value(value: Any, kind: str) -> str | None:
    if value is None:
        return None
    if kind == "double":
        f = float(value)
        return None if not math.isfinite(f) else repr(f)
    if kind == "int":
        return str(int(value))
    return escape(_xml(str(value)))


def _data(keys: dict[str, tuple[str, str]], values: dict[str, Any]) -> str:
    parts = []
    for name, (key_id, kind) in keys.items():
        text = _value(values.get(name), kind)
        if text is not None:
            parts.append(f'<data key="{key_id}">{text}</data>')
    return "".join(parts)


def graphml_lines(doc: Document) -> Iterator[str]:
    """The GraphML document, line by line."""
    node_keys = {n: (f"v_{n}", t) for n, t in _NODE_KEYS}
    edge_keys = {n: (f"e_{n}", t) for n, t in _EDGE_KEYS}
    graph_keys = {n: (f"g_{n}", t) for n, t in _GRAPH_KEYS}
    yield '<?xml version="1.0" encoding="UTF-8"?>'
    yield (
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
        'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">'
    )
    for where, keys in (("graph", graph_keys), ("node", node_keys), ("edge", edge_keys)):
        for name, (key_id, kind) in keys.items():
            yield (f'  <key id="{key_id}" for="{where}" attr.name="{name}" attr.type="{kind}"/>')
    yield '  <graph id="cib-detect" edgedefault="undirected">'
    run = doc["run"]
    yield "    " + _data(
        graph_keys,
        {
            "generator": f"cib-detect {__version__}",
            "engine_version": run.get("version"),
            "input_sha256": (run.get("input") or {}).get("sha256"),
            "clusters": len(doc["clusters"]),
        },
    )
    nodes: dict[str, dict[str, Any]] = {}
    for c in doc["clusters"]:
        degree = dict.fromkeys(c["members"], 0)
        strength = dict.fromkeys(c["members"], 0.0)
        for e in c["evidence"]:
            for m in (e["a"], e["b"]):
                if m in degree:
                    degree[m] += 1
                    strength[m] += e["weight"]
        for m in c["members"]:
            if m not in nodes:  # clusters come by rank: the first is the best
                nodes[m] = {
                    "label": m,
                    "cluster": c["cluster_id"],
                    "rank": c["rank"],
                    "score": c["score"],
                    "cluster_size": c["size"],
                    "degree": degree[m],
                    "strength": round(strength[m], 6),
                }
    for c in doc["clusters"]:  # an edge to a non-member still needs its node
        for e in c["evidence"]:
            for end in (e["a"], e["b"]):
                nodes.setdefault(end, {"label": end})
    for m, values in nodes.items():
        yield f"    <node id={quoteattr(_xml(m))}>{_data(node_keys, values)}</node>"
    i = 0
    for c in doc["clusters"]:
        for e in c["evidence"]:
            values = {k: e.get(k) for k, _ in _EDGE_KEYS} | {"cluster": c["cluster_id"]}
            yield (
                f'    <edge id="e{i}" source={quoteattr(_xml(e["a"]))} '
                f"target={quoteattr(_xml(e['b']))}>{_data(edge_keys, values)}</edge>"
            )
            i += 1
    yield "  </graph>"
    yield "</graphml>"


def write_graphml(doc: Document, out: Path) -> Path:
    """Write the GraphML file (atomically)."""
    fd, tmp = _atomic(out)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            for line in graphml_lines(doc):
                fh.write(line + "\n")
        _replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def export(doc: Document, fmt: str, out: str | Path) -> dict[str, Path]:
    """Write ``fmt`` (graphml, csv or parquet) to ``out``; returns what was written."""
    if fmt == "graphml":
        path = Path(out)
        if path.is_dir() or str(out).endswith(("/", os.sep)):
            path = path / "clusters.graphml"
        return {"graph": write_graphml(doc, path)}
    if fmt in ("csv", "parquet"):
        return write_tables(doc, out, fmt)
    raise ValueError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
