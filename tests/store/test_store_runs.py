"""Run write-back: complete only when everything is written; a killed run never looks done."""

from __future__ import annotations

import pickle
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from neo4j_helpers import count

from cib_detect.errors import FailedPrecondition
from cib_detect.store.graph_store import GraphStore
from cib_detect.store.investigate import run_query
from cib_detect.store.runs import get_run, latest_complete_run, new_run_id, write_run

pytestmark = pytest.mark.neo4j

#: Writes a pickled (result, params) as run argv[2] with tiny batches and kills itself
#: with SIGKILL after batch number argv[3] (0: after the last batch, before completion).
KILLER = """
import os, pickle, signal, sys
from cib_detect.config import load_settings
from cib_detect.store.graph_store import GraphStore
from cib_detect.store.runs import write_run

result, params = pickle.loads(open(sys.argv[1], "rb").read())
kill_at = int(sys.argv[3])
seen = 0

def hook(stage, done, total):
    global seen
    seen += 1
    if seen == kill_at or (kill_at == 0 and stage == "evidence" and done == total):
        os.kill(os.getpid(), signal.SIGKILL)

store = GraphStore.open(load_settings().neo4j)
write_run(store, result, params, run_id=sys.argv[2], cluster_batch=2, evidence_batch=100,
          on_batch=hook)
"""


@pytest.fixture(scope="module")
def complete_run(loaded_world: GraphStore, detection: Any) -> str:
    """A first, complete run of the small world."""
    report = write_run(loaded_world, detection.result, detection.params)
    return report.run_id


def _visible_run(store: GraphStore) -> str | None:
    rows = run_query(store, "latest_run")
    return rows[0]["runId"] if rows else None


def test_complete_run_is_visible(
    loaded_world: GraphStore, detection: Any, complete_run: str
) -> None:
    run = get_run(loaded_world, complete_run)
    assert run is not None and run["status"] == "complete"
    clusters = detection.result.clusters
    assert run["clusters"] == len(clusters)
    assert run["memberships"] == sum(c.size for c in clusters)
    assert run["evidenceEdges"] == sum(len(c.evidence) for c in clusters)
    assert run["createdAt"] <= run["completedAt"]
    stored = count(
        loaded_world, "MATCH (c:Cluster {runId: $r}) RETURN count(c) AS n", r=complete_run
    )
    assert stored == len(clusters)
    latest = latest_complete_run(loaded_world)
    assert latest is not None and latest["runId"] == complete_run
    assert _visible_run(loaded_world) == complete_run


def test_exception_between_batches_leaves_run_failed(
    loaded_world: GraphStore, detection: Any, complete_run: str
) -> None:
    rid = new_run_id()
    calls: list[str] = []

    def hook(stage: str, done: int, total: int) -> None:
        calls.append(stage)
        if len(calls) == 3:
            raise RuntimeError("injected failure between batches")

    with pytest.raises(RuntimeError, match="injected"):
        write_run(loaded_world, detection.result, detection.params, run_id=rid,
                  cluster_batch=2, evidence_batch=100, on_batch=hook)  # fmt: skip
    run = get_run(loaded_world, rid)
    assert run is not None and run["status"] == "failed"
    assert "injected" in run["error"]
    written = count(loaded_world, "MATCH (c:Cluster {runId: $r}) RETURN count(c) AS n", r=rid)
    assert 0 < written < len(detection.result.clusters)  # partially written ...
    assert _visible_run(loaded_world) == complete_run  # ... and not visible
    top = run_query(loaded_world, "top_clusters", {"limit": 100})
    assert {r["runId"] for r in top} == {complete_run}
    assert run_query(loaded_world, "top_clusters", {"runId": rid}) == []


@pytest.mark.parametrize("kill_at", [3, 0], ids=["during-clusters", "before-complete"])
def test_sigkill_mid_write_never_looks_complete(
    loaded_world: GraphStore, detection: Any, complete_run: str, tmp_path: Path, kill_at: int
) -> None:
    blob = tmp_path / "result.pickle"
    blob.write_bytes(pickle.dumps((detection.result, detection.params)))
    rid = new_run_id()
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, str(blob), rid, str(kill_at)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    run = get_run(loaded_world, rid)
    assert run is not None and run["status"] == "writing"
    clusters = count(loaded_world, "MATCH (c:Cluster {runId: $r}) RETURN count(c) AS n", r=rid)
    if kill_at == 0:  # everything written but the final transaction
        assert clusters == len(detection.result.clusters)
        edges = count(
            loaded_world, "MATCH ()-[e:COORDINATED {runId: $r}]->() RETURN count(e) AS n", r=rid
        )
        assert edges == sum(len(c.evidence) for c in detection.result.clusters)
    else:
        assert 0 < clusters < len(detection.result.clusters)
    assert _visible_run(loaded_world) == complete_run
    latest = latest_complete_run(loaded_world)
    assert latest is not None and latest["runId"] == complete_run
    statuses = {r["runId"]: r["status"] for r in run_query(loaded_world, "runs", {"limit": 50})}
    assert statuses[rid] == "writing" and statuses[complete_run] == "complete"
    assert run_query(loaded_world, "top_clusters", {"runId": rid}) == []


def test_completion_checks_what_was_stored(
    loaded_world: GraphStore, detection: Any, complete_run: str
) -> None:
    """An evidence edge lost between the batches and the final transaction (here deleted
    by the hook) keeps the run from being marked complete."""
    rid = new_run_id()

    def hook(stage: str, done: int, total: int) -> None:
        if stage == "evidence" and done == total:
            loaded_world.write(
                "MATCH ()-[e:COORDINATED {runId: $r}]->() WITH e LIMIT 1 DELETE e", {"r": rid}
            )

    with pytest.raises(FailedPrecondition, match="incomplete"):
        write_run(loaded_world, detection.result, detection.params, run_id=rid, on_batch=hook)
    run = get_run(loaded_world, rid)
    assert run is not None and run["status"] == "failed"
    assert _visible_run(loaded_world) == complete_run


def test_batches_rerun_after_ambiguous_commit_write_once(
    loaded_world: GraphStore, detection: Any
) -> None:
    """Each write-back batch claims its key on the run in the same transaction as its rows:
    re-running a batch whose commit was ambiguous writes nothing twice."""
    from cib_detect.store import cypher
    from cib_detect.store.runs import _write_batch, _write_rows, evidence_row

    rid = new_run_id()
    create = {"runId": rid, "createdAt": 1, "params": "{}", "since": None, "until": None,
              "source": "{}", "version": "test", "events": 0}  # fmt: skip
    _write_rows(loaded_world, cypher.RUN_CREATE, create)
    _write_rows(loaded_world, cypher.RUN_CREATE, create)  # the run node is MERGEd
    c = detection.result.clusters[0]
    rows = [evidence_row(c.cluster_id, e) for e in c.evidence[:30]]
    assert _write_batch(loaded_world, rid, "evidence:0", cypher.RUN_WRITE_EVIDENCE, rows, 30) == 30
    assert _write_batch(loaded_world, rid, "evidence:0", cypher.RUN_WRITE_EVIDENCE, rows, 30) == 30
    edges = count(loaded_world, "MATCH ()-[e:COORDINATED {runId: $r}]->() RETURN count(e)", r=rid)
    assert edges == 30
    run = get_run(loaded_world, rid)
    assert run is not None and run["batches"] == ["evidence:0"] and run["status"] == "writing"
    assert count(loaded_world, "MATCH (r:DetectionRun {runId: $r}) RETURN count(r)", r=rid) == 1
