"""Every investigator query in cypher/investigate/ on a small generated world.

Two runs are written: an *old* one over the first half of the world's time span and a
*new* one over all of it. Each query's rows are compared with what the engine's results
and the events say directly (computed here in Python).
"""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from cib_detect.detect import run_detection
from cib_detect.errors import InvalidInput
from cib_detect.model import Cluster, DetectionResult, EventTable, Evidence
from cib_detect.store import cypher
from cib_detect.store.export import export_events
from cib_detect.store.graph_store import GraphStore
from cib_detect.store.investigate import bind, get_query, list_queries, run_query
from cib_detect.store.runs import sub_score_property, write_run

pytestmark = pytest.mark.neo4j
RunCli = Callable[..., subprocess.CompletedProcess[str]]

QUERIES = {
    "latest_run",
    "runs",
    "top_clusters",
    "cluster_detail",
    "why_flagged",
    "target_amplifiers",
    "co_actors",
    "run_diff",
}


@dataclass
class Runs:
    store: GraphStore
    events: EventTable
    old_id: str
    old: DetectionResult
    new_id: str
    new: DetectionResult


@pytest.fixture(scope="module")
def runs(loaded_world: GraphStore, detection: Any) -> Runs:
    events: EventTable = detection.events
    cut = int(events.ts.min() + (events.ts.max() - events.ts.min()) // 2)
    first_half, _ = export_events(loaded_world, until=cut)
    old = run_detection(first_half, detection.params)
    old_id = write_run(loaded_world, old, detection.params, until=cut).run_id
    new_id = write_run(loaded_world, detection.result, detection.params).run_id
    return Runs(loaded_world, events, old_id, old, new_id, detection.result)


def _sub_scores(row: dict[str, Any]) -> dict[str, float]:
    names = {"significance": "significance", "evidence": "evidence", "density": "density",
             "synchrony": "synchrony", "size": "sizeScore"}  # fmt: skip
    return {k: row[v] for k, v in names.items() if v in row}


def test_every_query_is_documented_and_tested() -> None:
    assert {q.name for q in list_queries()} == QUERIES
    for f in cypher.investigate_files():
        q = get_query(f.name)
        assert q.purpose, f.name
        browser = f.text.split("// Neo4j Browser:")[1].split("\n//\n")[0]
        for p in q.params:
            assert f":param {p.name} =>" in browser, (f.name, p.name)
            assert f"${p.name}" in q.statement, (f.name, p.name)
        if not q.params:
            assert "(no parameters needed)" in browser


def test_bind_checks_parameters() -> None:
    q = get_query("why_flagged")
    assert bind(q, {"accountId": "a", "limit": "3"}) == {"accountId": "a", "runId": None,
                                                         "limit": 3}  # fmt: skip
    with pytest.raises(InvalidInput, match="accountId: required"):
        bind(q, {})
    with pytest.raises(InvalidInput, match="unknown parameter"):
        bind(q, {"accountId": "a", "acount": "b"})
    with pytest.raises(InvalidInput, match="limit: expected integer"):
        bind(q, {"accountId": "a", "limit": "many"})
    t = get_query("target_amplifiers")
    bound = bind(t, {"targetId": "x", "since": "2026-01-01T00:00:00Z", "until": "1767312000"})
    assert (bound["since"], bound["until"]) == (1_767_225_600_000, 1_767_312_000_000)


def test_latest_run_and_runs(runs: Runs) -> None:
    latest = run_query(runs.store, "latest_run")
    assert [r["runId"] for r in latest] == [runs.new_id]
    assert latest[0]["clusters"] == len(runs.new.clusters)
    listed = run_query(runs.store, "runs", {"limit": 10})
    assert [r["runId"] for r in listed] == [runs.new_id, runs.old_id]
    assert {r["status"] for r in listed} == {"complete"}
    assert listed[1]["until"] is not None and listed[0]["until"] is None


def test_top_clusters(runs: Runs) -> None:
    rows = run_query(runs.store, "top_clusters", {"limit": 5})
    expected = runs.new.clusters[:5]
    assert [r["clusterId"] for r in rows] == [c.cluster_id for c in expected]
    for r, c in zip(rows, expected, strict=True):
        assert r["runId"] == runs.new_id
        assert (r["rank"], r["score"], r["size"]) == (c.rank, c.score, c.size)
        assert r["signals"] == list(c.signals) and r["nEdges"] == c.n_edges
        assert _sub_scores(r) == pytest.approx(c.sub_scores)
    old_rows = run_query(runs.store, "top_clusters", {"runId": runs.old_id, "limit": 1000})
    assert [r["clusterId"] for r in old_rows] == [c.cluster_id for c in runs.old.clusters]


def _evidence_key(e: Evidence) -> tuple[str, str, str, int]:
    return (e.a, e.b, e.signal, e.window)


def test_cluster_detail(runs: Runs) -> None:
    for c in runs.new.clusters[:3]:
        rows = run_query(runs.store, "cluster_detail", {"clusterId": c.cluster_id})
        assert len(rows) == 1
        r = rows[0]
        assert (r["runId"], r["rank"], r["size"]) == (runs.new_id, c.rank, c.size)
        assert r["members"] == sorted(c.members)
        assert r["evidenceTruncated"] == c.evidence_truncated
        assert [t["target"] for t in r["topTargets"]] == [t.target for t in c.top_targets]
        assert [(t["accounts"], t["firstTs"], t["lastTs"]) for t in r["topTargets"]] == [
            (t.accounts, t.first_ts, t.last_ts) for t in c.top_targets
        ]
        want = {_evidence_key(e): e for e in c.evidence}
        got = {(e["a"], e["b"], e["signal"], e["window"]): e for e in r["evidence"]}
        assert got.keys() == want.keys()
        weights = [e["weight"] for e in r["evidence"]]
        assert weights == sorted(weights, reverse=True)
        for key, e in want.items():
            g = got[key]
            assert g["weight"] == pytest.approx(e.weight)
            assert g["pValue"] == pytest.approx(e.p_value)
            assert (g["sharedTargets"], g["episodes"]) == (e.shared_targets, e.episodes)
            assert (g["firstTs"], g["lastTs"]) == (e.first_ts, e.last_ts)
            assert [(x["target"], x["tsA"], x["tsB"]) for x in g["examples"]] == [
                (x.target, x.t_a, x.t_b) for x in e.examples
            ]
    assert run_query(runs.store, "cluster_detail", {"clusterId": "c-nope"}) == []


def _clusters_of(result: DetectionResult, account: str) -> list[Cluster]:
    return [c for c in result.clusters if account in c.members]


def test_why_flagged(runs: Runs) -> None:
    c = runs.new.clusters[0]
    account = c.evidence[0].a
    rows = run_query(runs.store, "why_flagged", {"accountId": account, "limit": 4})
    clusters = _clusters_of(runs.new, account)
    assert {r["clusterId"] for r in rows} == {x.cluster_id for x in clusters}
    mine = sorted(
        (e for e in c.evidence if account in (e.a, e.b)),
        key=lambda e: (-e.weight, e.p_value, e.b if e.a == account else e.a),
    )
    assert [r["partner"] for r in rows] == [e.b if e.a == account else e.a for e in mine[:4]]
    for r, e in zip(rows, mine, strict=False):
        assert r["weight"] == pytest.approx(e.weight)
        assert r["sharedTargets"] == e.shared_targets
        mine_first = e.a == account
        for x, ex in zip(r["examples"], e.examples, strict=True):
            assert x["accountTs"] == (ex.t_a if mine_first else ex.t_b)
            assert x["partnerTs"] == (ex.t_b if mine_first else ex.t_a)
            assert x["dtSeconds"] == pytest.approx(abs(ex.t_b - ex.t_a) / 1000)
            assert ex.target in (x["target"], x["partnerTarget"])
    flagged = {m for cl in runs.new.clusters for m in cl.members}
    clean = next(a for a in runs.events.accounts if a not in flagged)
    assert run_query(runs.store, "why_flagged", {"accountId": clean}) == []


def test_target_amplifiers(runs: Runs) -> None:
    ev = runs.events
    top = runs.new.clusters[0].top_targets[0]
    since, until = top.first_ts - 3_600_000, top.last_ts + 1
    rows = run_query(
        runs.store, "target_amplifiers",
        {"targetId": top.target, "since": since, "until": until, "limit": 10_000},
    )  # fmt: skip
    t = ev.targets.index(top.target)
    sel = (ev.target == t) & (ev.ts >= since) & (ev.ts < until)
    per: dict[str, list[int]] = defaultdict(list)
    for a, ts in zip(ev.account[sel].tolist(), ev.ts[sel].tolist(), strict=True):
        per[ev.accounts[a]].append(ts)
    assert {r["account"]: (r["events"], r["firstTs"], r["lastTs"]) for r in rows} == {
        a: (len(v), min(v), max(v)) for a, v in per.items()
    }
    assert [r["firstTs"] for r in rows] == sorted(r["firstTs"] for r in rows)
    cluster_of = {m: c.cluster_id for c in runs.new.clusters for m in c.members}
    for r in rows:
        assert r["clusterId"] == cluster_of.get(r["account"])
        assert r["runId"] == runs.new_id
    assert sum(r["clusterId"] is not None for r in rows) >= top.accounts


def test_co_actors(runs: Runs) -> None:
    ev = runs.events
    account = runs.new.clusters[0].members[0]
    x = ev.accounts.index(account)
    window_ms = 60_000
    shared: dict[str, set[int]] = defaultdict(set)
    pairs: dict[str, int] = defaultdict(int)
    closest: dict[tuple[str, int], int] = {}
    for i in np.flatnonzero(ev.account == x).tolist():
        same = (ev.target == ev.target[i]) & (ev.action == ev.action[i]) & (ev.account != x)
        near = same & (np.abs(ev.ts - ev.ts[i]) <= window_ms)
        for j in np.flatnonzero(near).tolist():
            y = ev.accounts[int(ev.account[j])]
            t = int(ev.target[i])
            shared[y].add(t)
            pairs[y] += 1
            dt = abs(int(ev.ts[j]) - int(ev.ts[i]))
            closest[(y, t)] = min(closest.get((y, t), dt), dt)
    params = {"accountId": account, "window": 60, "maxTargetEvents": 10**9, "limit": 10_000}
    rows = run_query(runs.store, "co_actors", params)
    assert {r["account"]: (r["sharedTargets"], r["coActions"]) for r in rows} == {
        y: (len(ts), pairs[y]) for y, ts in shared.items()
    }
    order = [(-r["sharedTargets"], -r["coActions"], r["account"]) for r in rows]
    assert order == sorted(order)
    for r in rows:
        dts = sorted(closest[(r["account"], t)] / 1000 for t in shared[r["account"]])
        assert [e["dtSeconds"] for e in r["examples"]] == dts[:5]
        assert dts[0] <= r["medianDtSeconds"] <= dts[-1]
        for e in r["examples"]:
            assert abs(e["partnerTs"] - e["accountTs"]) / 1000 == e["dtSeconds"]
    partners = {r["account"] for r in rows}
    assert set(runs.new.clusters[0].members) - {account} <= partners


def _expected_diff(old: DetectionResult, new: DetectionResult) -> list[dict[str, Any]]:
    where: dict[str, list[Cluster]] = defaultdict(list)
    for c in old.clusters:
        for m in c.members:
            where[m].append(c)
    by_id = {o.cluster_id: o for o in old.clusters}
    out = []
    for c in new.clusters:
        overlap: dict[str, int] = defaultdict(int)
        for m in c.members:
            for o in where[m]:
                overlap[o.cluster_id] += 1
        if not overlap:
            out.append({"change": "new", "clusterId": c.cluster_id, "previousClusterId": None,
                        "addedMembers": sorted(c.members), "removedMembers": []})  # fmt: skip
            continue
        best_id = sorted(overlap, key=lambda k: (-overlap[k], by_id[k].rank))[0]
        best = by_id[best_id]
        change = (
            "grown" if c.size > best.size
            else "shrunk" if c.size < best.size
            else "changed" if overlap[best_id] < c.size
            else None
        )  # fmt: skip
        if change is not None:
            out.append({"change": change, "clusterId": c.cluster_id,
                        "previousClusterId": best_id,
                        "addedMembers": sorted(set(c.members) - set(best.members)),
                        "removedMembers": sorted(set(best.members) - set(c.members))})  # fmt: skip
    flagged_now = {m for c in new.clusters for m in c.members}
    for o in old.clusters:
        if not flagged_now & set(o.members):
            out.append({"change": "vanished", "clusterId": o.cluster_id,
                        "previousClusterId": o.cluster_id, "addedMembers": [],
                        "removedMembers": sorted(o.members)})  # fmt: skip
    return out


def test_run_diff(runs: Runs) -> None:
    rows = run_query(runs.store, "run_diff")
    assert {(r["newRunId"], r["oldRunId"]) for r in rows} <= {(runs.new_id, runs.old_id)}
    keys = ("change", "clusterId", "previousClusterId", "addedMembers", "removedMembers")
    got = [{k: r[k] for k in keys} for r in rows]
    assert got == _expected_diff(runs.old, runs.new)
    assert rows, "the full world has clusters the first half lacks or that grew"
    explicit = run_query(runs.store, "run_diff", {"newRunId": runs.new_id, "oldRunId": runs.old_id})
    assert explicit == rows
    # the oldest run against nothing before it: every cluster is new
    first = run_query(runs.store, "run_diff", {"newRunId": runs.old_id})
    assert [r["change"] for r in first] == ["new"] * len(runs.old.clusters)


def test_cli_query(runs: Runs, run_cli: RunCli) -> None:
    proc = run_cli(["query", "top_clusters", "--param", "limit=2", "--json"])
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [r["clusterId"] for r in doc["rows"]] == [c.cluster_id for c in runs.new.clusters[:2]]
    listing = run_cli(["query", "--json"])
    assert {q["name"] for q in json.loads(listing.stdout)["queries"]} == QUERIES
    bad = run_cli(["query", "why_flagged"])
    assert bad.returncode == 2 and "accountId" in bad.stderr
    missing = run_cli(["query", "no_such_query"])
    assert missing.returncode == 2 and "no investigator query" in missing.stderr


def test_sub_score_property_names() -> None:
    assert sub_score_property("significance") == "scoreSignificance"
    assert sub_score_property("size") == "scoreSize"
