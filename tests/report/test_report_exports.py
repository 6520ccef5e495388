"""GraphML round-trips through igraph; CSV and Parquet round-trip through pyarrow."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import igraph as ig
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from cib_detect.report import exports
from cib_detect.report.load import normalize, ts_ms


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, float) or isinstance(y, float):
        return math.isclose(float(x), float(y), rel_tol=1e-12, abs_tol=0.0)
    return bool(x == y)


def test_graphml_round_trips_through_igraph(doc: dict[str, Any], tmp_path: Path) -> None:
    path = exports.write_graphml(doc, tmp_path / "run.graphml")
    ET.parse(path)  # well-formed XML
    g = ig.Graph.Read_GraphML(str(path))
    members = {m: c for c in reversed(doc["clusters"]) for m in c["members"]}
    assert not g.is_directed()
    assert sorted(g.vs["id"]) == sorted(members)
    for v in g.vs:
        c = members[v["id"]]
        assert v["label"] == v["id"]
        assert v["cluster"] == c["cluster_id"]
        assert v["rank"] == c["rank"] and _same(v["score"], c["score"])
        assert v["cluster_size"] == c["size"]
    edges = [(c, e) for c in doc["clusters"] for e in c["evidence"]]
    assert g.ecount() == len(edges)
    names = g.vs["id"]
    for edge, (c, e) in zip(g.es, edges, strict=True):
        assert {names[edge.source], names[edge.target]} == {e["a"], e["b"]}
        assert _same(edge["weight"], e["weight"]) and edge["signal"] == e["signal"]
        assert edge["window"] == e["window"] and edge["cluster"] == c["cluster_id"]
        assert _same(edge["p_value"], e["p_value"]) and edge["episodes"] == e["episodes"]
        assert edge["first_ts"] == e["first_ts"]
    assert g["clusters"] == len(doc["clusters"])
    assert g["input_sha256"] == doc["run"]["input"]["sha256"]


def test_graphml_escapes_hostile_ids(tmp_path: Path) -> None:
    odd = ["a\"<&>'", "b\x01c", "ünï ☃"]
    doc = normalize({"run": {}, "clusters": [{"cluster_id": "c-1", "rank": 1, "score": 0.5,
        "members": odd, "evidence": [{"a": odd[0], "b": odd[2], "signal": "s", "weight": 1.0,
                                       "p_value": None}]}]})  # fmt: skip
    path = exports.write_graphml(doc, tmp_path / "odd.graphml")
    safe = sorted([odd[0], "b\ufffdc", odd[2]])  # XML 1.0 cannot carry \x01
    ns = "{http://graphml.graphdrawing.org/xmlns}"
    assert sorted(n.get("id", "") for n in ET.parse(path).getroot().iter(f"{ns}node")) == safe
    g = ig.Graph.Read_GraphML(str(path))
    # (igraph's reader returns '&' in an *attribute* as '&#38;'; the label is element text)
    assert sorted(g.vs["label"]) == safe
    assert math.isnan(g.es[0]["p_value"])  # missing, not written as NaN text


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_tables_round_trip_through_pyarrow(doc: dict[str, Any], tmp_path: Path, fmt: str) -> None:
    expected = exports.tables(doc)
    schemas = exports.schemas(doc)
    paths = exports.write_tables(doc, tmp_path / "out" / "run7", fmt)
    assert paths == {n: tmp_path / "out" / f"run7_{n}.{fmt}" for n in exports.TABLES}
    for name, path in paths.items():
        if fmt == "parquet":
            table = pq.read_table(path)
        else:
            table = pacsv.read_csv(
                path,
                convert_options=pacsv.ConvertOptions(
                    column_types=schemas[name],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                ),
            )
        assert table.schema.equals(schemas[name].remove_metadata(), check_metadata=False)
        assert table.equals(expected[name]), name


def test_tables_hold_the_document(doc: dict[str, Any]) -> None:
    t = exports.tables(doc)
    members = t["members"].to_pylist()
    assert len(members) == sum(c["size"] for c in doc["clusters"])
    assert {(r["cluster_id"], r["account"]) for r in members} == {
        (c["cluster_id"], m) for c in doc["clusters"] for m in c["members"]
    }
    top = doc["clusters"][0]
    row = next(r for r in members if r["cluster_id"] == top["cluster_id"])
    assert row["score_significance"] == top["sub_scores"]["significance"]
    evidence = t["evidence"].to_pylist()
    assert len(evidence) == sum(len(c["evidence"]) for c in doc["clusters"])
    e0 = top["evidence"][0]
    assert evidence[0]["a"] == e0["a"] and evidence[0]["weight"] == e0["weight"]
    assert int(evidence[0]["first_ts"].timestamp() * 1000) == ts_ms(e0["first_ts"])
    examples = t["examples"].to_pylist()
    x0 = e0["examples"][0]
    assert int(examples[0]["t_b"].timestamp() * 1000) == ts_ms(x0["t_b"])
    assert examples[0]["dt"] == x0["dt"]
    texts = [r for r in examples if r["signal"] == "near_duplicate_text"]
    assert texts and all(r["text_a"] and r["text_b"] and r["target_b"] for r in texts)


def test_out_paths(tmp_path: Path) -> None:
    assert exports.table_paths(tmp_path, "csv")["members"] == tmp_path / "members.csv"
    assert exports.table_paths(Path("x/run.parquet"), "parquet")["evidence"] == Path(
        "x/run_evidence.parquet"
    )
    assert exports.table_paths("x/new/", "csv")["examples"] == Path("x/new/examples.csv")
    assert exports.table_paths("x/new", "csv")["examples"] == Path("x/new_examples.csv")
