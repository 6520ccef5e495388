"""The engine end to end: planted campaigns found, traps left alone, evidence that holds.

The session world (``conftest.WORLD_EVENTS``) plants one campaign of every style and one
trap of every archetype. ``rotating_subgroups`` is not recoverable at this size: its 60
members meet in 8-16-account subgroups over only ~19 episodes (episode counts scale with
sqrt(n_events / 400k)), so a given pair shares fewer than one episode on average and no
pair reaches ``min_episodes``; it is recovered in the 400k benchmark world.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import datetime
from typing import Any

import numpy as np
import pytest

from cib_detect.config import DetectParams
from cib_detect.detect import run_detection
from cib_detect.detect.scoring import WEIGHTS
from cib_detect.io.readers import from_columns
from cib_detect.synthetic import ARCHETYPES, STYLES, World

NOT_RECOVERABLE_AT_TEST_SIZE = {"rotating_subgroups"}
RECOVER_COVERAGE = 0.5
PURITY = 0.8
MAX_TRAP_FP = 0.005


def ms(iso: str) -> int:
    return round(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def clusters_of(det: Any) -> list[dict[str, Any]]:
    return list(det.doc["clusters"])


# --------------------------------------------------------------------------- the world


def test_world_plants_every_style_and_trap(small_world: World) -> None:
    truth = small_world.truth
    assert {c["style"] for c in truth["campaigns"]} == set(STYLES)
    assert {t["archetype"] for t in truth["traps"]} == set(ARCHETYPES)
    assert all(len(t["members"]) > 0 for t in truth["traps"])


def test_campaigns_recovered(small_world: World, detection: Any) -> None:
    clusters = clusters_of(detection)
    report = {}
    for camp in small_world.truth["campaigns"]:
        members = set(camp["members"])
        best = (0.0, 0.0)
        for c in clusters:
            cm = set(c["members"])
            overlap = len(cm & members)
            if overlap:
                best = max(best, (overlap / len(members), overlap / len(cm)))
        report[camp["id"]] = (camp["style"], round(best[0], 3), round(best[1], 3))
    missed = {
        cid: r
        for cid, r in report.items()
        if r[0] not in NOT_RECOVERABLE_AT_TEST_SIZE
        and not (r[1] >= RECOVER_COVERAGE and r[2] >= PURITY)
    }
    assert not missed, report
    # all six styles minus the documented one are covered by the check above
    assert {r[0] for r in report.values()} - NOT_RECOVERABLE_AT_TEST_SIZE == set(STYLES) - {
        "rotating_subgroups"
    }


def test_every_cluster_is_mostly_one_campaign(small_world: World, detection: Any) -> None:
    camp_of = {m: c["id"] for c in small_world.truth["campaigns"] for m in c["members"]}
    clusters = clusters_of(detection)
    assert clusters
    for c in clusters:
        counts = Counter(camp_of.get(m, "none") for m in c["members"])
        main, n = counts.most_common(1)[0]
        assert main != "none" and n / c["size"] >= PURITY, (c["rank"], counts)


def test_traps_not_flagged(small_world: World, detection: Any) -> None:
    flagged = {m for c in clusters_of(detection) for m in c["members"]}
    per_arch: dict[str, set[str]] = {}
    for t in small_world.truth["traps"]:
        per_arch.setdefault(t["archetype"], set()).update(t["members"])
    trap_members = set().union(*per_arch.values())
    rate = len(flagged & trap_members) / len(trap_members)
    assert rate <= MAX_TRAP_FP, {a: len(flagged & m) for a, m in per_arch.items()}
    camp = {m for c in small_world.truth["campaigns"] for m in c["members"]}
    organic_flagged = flagged - camp - trap_members
    n_organic = small_world.truth["n_organic_accounts"] - len(trap_members)
    assert len(organic_flagged) / n_organic <= MAX_TRAP_FP


# --------------------------------------------------------------------------- clusters


def test_clusters_sorted_by_rank(detection: Any) -> None:
    clusters = clusters_of(detection)
    assert [c["rank"] for c in clusters] == list(range(1, len(clusters) + 1))
    scores = [c["score"] for c in clusters]
    assert scores == sorted(scores, reverse=True)
    assert [c.rank for c in detection.result.clusters] == [c["rank"] for c in clusters]


def test_cluster_fields_consistent(detection: Any) -> None:
    params: DetectParams = detection.params
    seen: set[str] = set()
    ids = set()
    for c in clusters_of(detection):
        members = c["members"]
        assert c["size"] == len(members) >= params.min_cluster_size
        assert members == sorted(set(members))
        assert not seen & set(members), "an account in two clusters"
        seen |= set(members)
        ids.add(c["cluster_id"])
        possible = c["size"] * (c["size"] - 1) / 2
        assert c["n_edges"] / possible >= params.min_cluster_density
        assert set(c["sub_scores"]) == set(WEIGHTS)
        assert all(0.0 <= v <= 1.0 for v in c["sub_scores"].values())
        expect = sum(WEIGHTS[k] * c["sub_scores"][k] for k in WEIGHTS)
        assert c["score"] == pytest.approx(expect, abs=1e-3)
        assert set(c["signals"]) >= {e["signal"] for e in c["evidence"]}
        assert c["signals"] == sorted(c["signals"])
        tops = c["top_targets"]
        assert 0 < len(tops) <= params.top_targets
        for t in tops:
            assert 2 <= t["accounts"] <= c["size"]
            assert t["accounts"] <= t["popularity"]
            assert ms(t["first_ts"]) <= ms(t["last_ts"])
        assert [t["accounts"] for t in tops] == sorted((t["accounts"] for t in tops), reverse=True)
    assert len(ids) == len(clusters_of(detection))


def test_evidence_edges_hold(small_world: World, detection: Any) -> None:
    params: DetectParams = detection.params
    ev = small_world.events
    acts = set(
        zip(
            ev["account_id"].to_pylist(),
            ev["target"].to_pylist(),
            (np.asarray(ev["timestamp"]) * 1000).tolist(),
            strict=True,
        )
    )
    thr = detection.doc["run"]["stats"]["significance"]["log10_p_threshold"]
    n_edges = 0
    for c in clusters_of(detection):
        members = set(c["members"])
        endpoints: set[str] = set()
        assert c["evidence"]
        for e in c["evidence"]:
            n_edges += 1
            assert e["a"] in members and e["b"] in members
            assert e["a"] < e["b"]
            endpoints |= {e["a"], e["b"]}
            assert 0.0 <= e["p_value"] <= 1.0
            assert e["log10_p"] <= thr + 1e-3
            assert e["p_value"] == pytest.approx(10.0 ** e["log10_p"], rel=2e-3, abs=1e-300)
            assert e["weight"] > 0
            assert params.min_episodes <= e["episodes"] <= e["shared_targets"]
            assert e["expected"] >= 0
            if e["signal"] == "near_duplicate_text":
                assert e["window"] == params.text_window
            else:
                assert e["signal"] == f"co_action@{e['window']}s"
                assert e["window"] in params.windows
            assert 0 <= e["median_dt"] <= e["window"]
            assert ms(e["first_ts"]) <= ms(e["last_ts"])
            assert 1 <= len(e["examples"]) <= params.max_examples
            for x in e["examples"]:
                ta, tb = ms(x["t_a"]), ms(x["t_b"])
                assert x["dt"] == pytest.approx(abs(tb - ta) / 1000.0)
                assert x["dt"] <= e["window"]
                # the example is a real pair of events: a's on target, b's on target_b
                assert (e["a"], x["target"], ta) in acts
                assert (e["b"], x.get("target_b", x["target"]), tb) in acts
                if e["signal"] != "near_duplicate_text":
                    assert "target_b" not in x and "text_a" not in x
        if not c["evidence_truncated"]:
            assert endpoints == members
    assert n_edges > 0


def test_in_process_document_matches_cli(detection: Any, cli_world_doc: Any) -> None:
    _, doc = cli_world_doc
    assert json.loads(json.dumps(detection.doc["clusters"])) == doc["clusters"]


def test_document_shape(cli_world_doc: Any, world_parquet: Any, small_world: World) -> None:
    import hashlib

    _, doc = cli_world_doc
    assert set(doc) == {"run", "clusters"}
    run = doc["run"]
    assert {"version", "params", "seed", "input", "timings"} <= set(run)
    assert isinstance(run["version"], str) and run["version"]
    assert run["params"] == DetectParams().as_record()
    assert run["seed"] == run["params"]["seed"]
    inp = run["input"]
    assert {"path", "sha256", "rows", "rejected"} <= set(inp)
    assert inp["path"] == str(world_parquet)
    assert inp["sha256"] == hashlib.sha256(world_parquet.read_bytes()).hexdigest()
    assert inp["rows"] == small_world.events.num_rows
    assert inp["rejected"] == 0
    assert all(isinstance(v, float | int) and v >= 0 for v in run["timings"].values())
    assert doc["clusters"]
    cluster_keys = {
        "cluster_id", "rank", "score", "sub_scores", "size", "members", "signals",
        "top_targets", "evidence",
    }  # fmt: skip
    for c in doc["clusters"]:
        assert cluster_keys <= set(c)
        assert isinstance(c["cluster_id"], str) and isinstance(c["rank"], int)
        assert isinstance(c["score"], float) and isinstance(c["size"], int)
        assert all(isinstance(m, str) for m in c["members"])
        for t in c["top_targets"]:
            assert {"target", "accounts", "first_ts", "last_ts"} <= set(t)
            ms(t["first_ts"])  # ISO-8601
        for e in c["evidence"]:
            assert {
                "a", "b", "weight", "signal", "window", "p_value", "shared_targets", "examples",
            } <= set(e)  # fmt: skip
            assert isinstance(e["window"], int) and isinstance(e["p_value"], float)
            for x in e["examples"]:
                assert {"target", "t_a", "t_b", "dt"} <= set(x)
                assert x["t_a"].endswith("Z") and x["t_b"].endswith("Z")


# --------------------------------------------------------------------------- small cases


def _planted(seed: int = 0) -> tuple[Any, list[str]]:
    """Five bots hit the same target within 20 s on 8 days; 150 organic accounts."""
    rng = np.random.default_rng(seed)
    base = 1_767_225_600_000
    acc: list[str] = []
    tgt: list[str] = []
    ts: list[int] = []
    bots = [f"bot{i}" for i in range(5)]
    for day in range(8):
        t0 = base + day * 86_400_000 + int(rng.integers(0, 80_000_000))
        for b in bots:
            acc.append(b)
            tgt.append(f"promo{day}")
            ts.append(t0 + int(rng.integers(0, 20_000)))
    for i in range(3000):
        acc.append(f"user{i % 150:03d}")
        tgt.append(f"song{int(rng.zipf(1.3)) % 300}")
        ts.append(base + int(rng.integers(0, 10 * 86_400_000)))
    n = len(acc)
    events = from_columns(acc, ["stream"] * n, tgt, np.array(ts, dtype=np.int64))
    return events, bots


def test_planted_bots_are_the_only_cluster() -> None:
    events, bots = _planted()
    result = run_detection(events, DetectParams())
    assert [list(c.members) for c in result.clusters] == [bots]
    c = result.clusters[0]
    assert "co_action@60s" in c.signals
    assert len(c.evidence) == 10  # every pair of the five
    assert {t.target for t in c.top_targets} == {f"promo{d}" for d in range(8)}


def test_no_events_no_clusters() -> None:
    events = from_columns([], [], [], np.zeros(0, dtype=np.int64))
    result = run_detection(events, DetectParams())
    assert result.clusters == []


def test_progress_reports_stages_and_check_can_cancel() -> None:
    events, _ = _planted(1)
    seen: list[tuple[str, float]] = []
    run_detection(events, DetectParams(), progress=lambda s, f: seen.append((s, f)))
    assert seen and seen[-1] == ("clusters", 1.0)
    assert all(0.0 <= f <= 1.0 for _, f in seen)
    # stages come one after another: a stage never reappears once the next one started
    runs = [s for i, (s, _) in enumerate(seen) if i == 0 or seen[i - 1][0] != s]
    assert len(runs) == len(set(runs)) >= 3

    class Stop(Exception):
        pass

    calls = 0

    def check() -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise Stop

    with pytest.raises(Stop):
        run_detection(events, DetectParams(), check=check)


def test_same_events_same_result_in_process() -> None:
    events, _ = _planted(2)
    a = run_detection(events, DetectParams(seed=7))
    b = run_detection(events, DetectParams(seed=7))
    assert a.clusters == b.clusters
    assert a.stats == b.stats
    assert math.isfinite(a.stats["significance"]["log10_p_threshold"])
