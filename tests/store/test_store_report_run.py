"""A run read back from Neo4j (``load_run_document``, ``report --run``) is the run that
``detect --from-neo4j`` wrote to clusters.json."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cib_detect.errors import FailedPrecondition, NotFound, Unavailable
from cib_detect.report import load
from cib_detect.store import cypher
from cib_detect.store.graph_store import GraphStore
from cib_detect.store.run_read import load_run_document
from cib_detect.store.runs import _write_rows, new_run_id

pytestmark = pytest.mark.neo4j
RunCli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def stored_run(
    loaded_world: GraphStore, tmp_path_factory: pytest.TempPathFactory, run_cli: RunCli
) -> tuple[str, Path, dict[str, Any]]:
    """``detect --from-neo4j`` on the small world: (run id, clusters.json, parsed)."""
    out = tmp_path_factory.mktemp("report-run") / "clusters.json"
    proc = run_cli(["detect", "--from-neo4j", "--out", out, "--json"], timeout=300)
    if proc.returncode != 0:
        pytest.fail(f"detect --from-neo4j failed ({proc.returncode}):\n{proc.stderr}")
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["clusters"], "the small world has planted campaigns"
    return str(json.loads(proc.stdout)["run_id"]), out, doc


def _pairs(c: dict[str, Any]) -> list[tuple[str, str, str, int]]:
    return [(e["a"], e["b"], e["signal"], e["window"]) for e in c["evidence"]]


def test_run_document_equals_clusters_json(
    loaded_world: GraphStore, stored_run: tuple[str, Path, dict[str, Any]]
) -> None:
    run_id, path, file_doc = stored_run
    doc = load_run_document(run_id)
    # formatted as detect writes it: the clusters are identical, field for field
    assert doc["clusters"] == file_doc["clusters"]
    got = load.load_run(run_id)  # what `report --run` reads (normalised)
    want = load.read_clusters_json(path)
    assert got["clusters"] == want["clusters"]
    for g, w in zip(got["clusters"], file_doc["clusters"], strict=True):
        assert (g["cluster_id"], g["rank"], g["score"]) == (w["cluster_id"], w["rank"], w["score"])
        assert g["members"] == w["members"] and g["sub_scores"] == w["sub_scores"]
        assert g["signals"] == w["signals"] and _pairs(g) == _pairs(w)
        assert [x["target"] for x in g["top_targets"]] == [x["target"] for x in w["top_targets"]]
    assert [c["rank"] for c in doc["clusters"]] == list(range(1, len(doc["clusters"]) + 1))
    assert any(x.get("text_a") for c in doc["clusters"] for e in c["evidence"]
               for x in e["examples"]), "the world has a near-duplicate text campaign"  # fmt: skip

    run = doc["run"]
    assert run["run_id"] == run_id and run["status"] == "complete"
    assert run["params"] == file_doc["run"]["params"] and run["seed"] == file_doc["run"]["seed"]
    assert run["version"] == file_doc["run"]["version"]
    assert run["stats"] == file_doc["run"]["stats"]
    assert run["source"] == file_doc["run"]["source"]
    assert run["input"]["format"] == "neo4j"
    assert run["input"]["rows"] == file_doc["run"]["input"]["rows"]
    assert run["window"] == {"since": None, "until": None}
    assert run["counts"]["clusters"] == len(doc["clusters"])
    assert run["counts"]["evidence_edges"] == sum(len(c["evidence"]) for c in doc["clusters"])
    assert run["created_at"] <= run["completed_at"]
    # the uri argument overrides the configured one
    assert load_run_document(run_id, loaded_world.uri)["clusters"] == doc["clusters"]


def test_unknown_and_incomplete_runs(loaded_world: GraphStore) -> None:
    with pytest.raises(NotFound, match="no detection run 'r-nope'"):
        load_run_document("r-nope")
    rid = new_run_id()
    _write_rows(loaded_world, cypher.RUN_CREATE,
                {"runId": rid, "createdAt": 1, "params": "{}", "since": None, "until": None,
                 "source": "{}", "version": "test", "events": 0})  # fmt: skip
    with pytest.raises(FailedPrecondition, match=r"not complete.*'writing'"):
        load_run_document(rid)
    with pytest.raises(Unavailable):
        load_run_document(rid, "bolt://127.0.0.1:1")


def test_report_from_run(
    stored_run: tuple[str, Path, dict[str, Any]], tmp_path: Path, run_cli: RunCli
) -> None:
    run_id, _, file_doc = stored_run
    out = tmp_path / "x.html"
    proc = run_cli(["report", "--run", run_id, "--out", out, "--json"], timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["clusters"] == len(file_doc["clusters"])
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!") and run_id in page
    for c in file_doc["clusters"]:
        assert c["cluster_id"] in page

    missing = tmp_path / "missing.html"
    bad = run_cli(["report", "--run", "r-does-not-exist", "--out", missing])
    assert bad.returncode == 2
    assert "no detection run 'r-does-not-exist'" in bad.stderr
    assert not missing.exists()
