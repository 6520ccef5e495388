"""The synthetic world generator and the benchmark scorer."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[1]
try:
    from cib_detect import synthetic
except ImportError:  # a checkout without the package installed
    sys.path.insert(0, str(REPO))
    from cib_detect import synthetic

N = 60_000
SEED = 7


def _load_score() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "cib_bench_score", REPO / "benchmarks" / "score.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


score_mod = _load_score()


def digest(table: pa.Table) -> str:
    h = hashlib.sha256()
    for name in table.column_names:
        h.update(name.encode())
        h.update(json.dumps(table.column(name).to_pylist(), ensure_ascii=False).encode())
    return h.hexdigest()


@pytest.fixture(scope="module")
def world() -> synthetic.World:
    return synthetic.generate_world(N, SEED)


def test_schema_and_order(world: synthetic.World) -> None:
    t = world.events
    assert t.schema.names == ["event_id", "account_id", "action", "target", "timestamp", "text"]
    assert t.schema.field("timestamp").type == pa.int64()
    for name in ("event_id", "account_id", "action", "target", "text"):
        assert t.schema.field(name).type == pa.string()
    ids = t["event_id"].to_pylist()
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"e\d{7,}", x) for x in ids[:100])
    ts = t["timestamp"].to_numpy()
    assert np.all(np.diff(ts) >= 0)
    assert ids == sorted(ids)  # zero-padded: lexicographic = numeric = time order
    start, days = world.truth["start"], world.truth["days"]
    assert ts.min() >= start and ts.max() < start + days * 86_400
    assert set(t["action"].unique().to_pylist()) == {"stream", "share", "post"}
    is_post = pc.equal(t["action"], "post")
    assert pc.all(pc.equal(is_post, pc.is_valid(t["text"]))).as_py()
    # action follows the target kind
    for action, prefix in (("stream", "trk"), ("share", "url"), ("post", "tag")):
        targets = t.filter(pc.equal(t["action"], action))["target"]
        assert pc.all(pc.starts_with(targets, prefix)).as_py()
    accounts = t["account_id"].unique().to_pylist()
    assert all(re.fullmatch(r"acct\d{7}", a) for a in accounts)


def test_size_within_tolerance(world: synthetic.World) -> None:
    assert abs(world.events.num_rows - N) <= 0.05 * N
    small = synthetic.generate_world(synthetic.MIN_EVENTS, 1)
    assert abs(small.events.num_rows - synthetic.MIN_EVENTS) <= 0.05 * synthetic.MIN_EVENTS
    assert world.truth["n_events"] == world.events.num_rows
    assert sum(world.truth["events_by_label"].values()) == world.events.num_rows
    # the organic background is the bulk
    by = world.truth["events_by_label"]
    assert by["organic"] > 0.5 * world.events.num_rows
    assert by["camouflage"] > 0


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        synthetic.generate_world(100, 0)
    with pytest.raises(ValueError):
        synthetic.generate_world(N, -1)


def test_deterministic_in_process(world: synthetic.World) -> None:
    again = synthetic.generate_world(N, SEED)
    assert again.events.equals(world.events)
    assert again.truth == world.truth
    other = synthetic.generate_world(N, SEED + 1)
    assert not other.events.equals(world.events)


def test_deterministic_across_hash_seeds(world: synthetic.World) -> None:
    code = (
        "import sys, json, hashlib\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "from cib_detect.synthetic import generate_world\n"
        f"t = generate_world({N}, {SEED}).events\n"
        "h = hashlib.sha256()\n"
        "for name in t.column_names:\n"
        "    h.update(name.encode())\n"
        "    h.update(json.dumps(t.column(name).to_pylist(), ensure_ascii=False).encode())\n"
        "print(h.hexdigest())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == digest(world.events)


def test_truth_members(world: synthetic.World) -> None:
    truth = world.truth
    accounts = set(world.events["account_id"].unique().to_pylist())
    assert truth["n_accounts"] == len(accounts)
    styles = {c["style"] for c in truth["campaigns"]}
    assert styles == set(synthetic.STYLES)
    archetypes = {t["archetype"] for t in truth["traps"]}
    assert archetypes == set(synthetic.ARCHETYPES)
    assert sum(c["style"] == "tiny_cells" for c in truth["campaigns"]) == 3
    assert sum(t["archetype"] == "fan_club" for t in truth["traps"]) == 3
    campaign_members: set[str] = set()
    for c in truth["campaigns"]:
        assert c["members"] == sorted(c["members"])
        assert set(c["members"]) <= accounts
        assert not campaign_members & set(c["members"]), "campaigns share members"
        campaign_members |= set(c["members"])
    trap_members: set[str] = set()
    for t in truth["traps"]:
        assert t["members"] == sorted(t["members"])
        assert set(t["members"]) <= accounts
        assert not trap_members & set(t["members"]), "traps share members"
        trap_members |= set(t["members"])
    assert not campaign_members & trap_members
    sizes = {
        c["style"]: len(c["members"]) for c in truth["campaigns"] if c["style"] != "tiny_cells"
    }
    assert sizes == {
        "lockstep_farm": 50,
        "loose_synchrony": 40,
        "copy_pasta": 30,
        "rotating_subgroups": 60,
        "slow_campaign": 25,
    }
    cells = [len(c["members"]) for c in truth["campaigns"] if c["style"] == "tiny_cells"]
    assert all(5 <= k <= 8 for k in cells)


def test_campaign_behaviour(world: synthetic.World) -> None:
    """Lockstep members hit the same targets within seconds; copy-pasta posts look alike."""
    t = world.events
    truth = world.truth
    farm = next(c for c in truth["campaigns"] if c["style"] == "lockstep_farm")
    ev = t.filter(pc.is_in(t["account_id"], value_set=pa.array(farm["members"])))
    ev = ev.filter(pc.is_in(ev["target"], value_set=pa.array(farm["targets"])))
    # every member has camouflage events beyond its campaign ones (50-70 % of its total)
    members_ev = t.filter(pc.is_in(t["account_id"], value_set=pa.array(farm["members"])))
    total = dict(
        zip(
            *np.unique(members_ev["account_id"].to_numpy(zero_copy_only=False), return_counts=True),
            strict=True,
        )
    )
    planted = dict(
        zip(
            *np.unique(ev["account_id"].to_numpy(zero_copy_only=False), return_counts=True),
            strict=True,
        )
    )
    assert len(total) == 50
    share = np.array([1.0 - planted.get(a, 0) / n for a, n in total.items()])
    assert 0.4 < float(np.median(share)) < 0.8
    # Campaign events come in tight bursts per target.
    ts = np.sort(ev.filter(pc.equal(ev["target"], farm["targets"][0]))["timestamp"].to_numpy())
    gaps = np.diff(ts)
    assert np.mean(gaps <= 20) > 0.8
    pasta = next(c for c in truth["campaigns"] if c["style"] == "copy_pasta")
    posts = t.filter(
        pc.and_(
            pc.is_in(t["account_id"], value_set=pa.array(pasta["members"])),
            pc.equal(t["action"], "post"),
        )
    )
    texts = [x for x in posts["text"].to_pylist() if len(x.split()) >= 14]
    assert len(texts) >= pasta["n_events"]


def test_write_world_formats(tmp_path: Path) -> None:
    w = synthetic.generate_world(synthetic.MIN_EVENTS, 2)
    for ext in ("parquet", "csv", "jsonl"):
        path = tmp_path / f"world.{ext}"
        truth_path = synthetic.write_world(w, path)
        assert truth_path == tmp_path / "world.truth.json"
        assert json.loads(truth_path.read_text(encoding="utf-8")) == w.truth
        if ext == "parquet":
            back = pq.read_table(path)
            assert back.equals(w.events)
        elif ext == "csv":
            back = pacsv.read_csv(path)
            assert back.num_rows == w.events.num_rows
            assert back["event_id"].to_pylist() == w.events["event_id"].to_pylist()
        else:
            lines = path.read_text(encoding="utf-8").splitlines()
            assert len(lines) == w.events.num_rows
            rows = [json.loads(line) for line in lines[:2000]]
            assert rows == w.events.slice(0, 2000).to_pylist()
    with pytest.raises(ValueError):
        synthetic.write_world(w, tmp_path / "world.xlsx")


# --------------------------------------------------------------------------- score.py


def _clusters(groups: list[list[str]]) -> list[dict[str, Any]]:
    return [
        {"cluster_id": f"c{i + 1}", "rank": i + 1, "score": 1.0, "size": len(g), "members": g}
        for i, g in enumerate(groups)
    ]


def test_score_perfect_and_empty(world: synthetic.World) -> None:
    truth = world.truth
    perfect = score_mod.score(_clusters([c["members"] for c in truth["campaigns"]]), truth)
    assert perfect["overall"]["f1"] == 1.0
    assert perfect["recovered"]["recovered"] == perfect["recovered"]["total"] == 8
    assert all(s["recall"] == 1.0 for s in perfect["styles"].values())
    assert perfect["precision_at_10"]["value"] == 1.0
    assert perfect["precision_at_10"]["k"] == 8
    assert perfect["ari"] == 1.0
    assert perfect["trap_fp"]["fp_rate"] == 0.0
    assert perfect["organic"]["flagged"] == 0

    empty = score_mod.score([], truth)
    assert empty["overall"]["recall"] == 0.0
    assert empty["overall"]["f1"] == 0.0
    assert empty["recovered"]["recovered"] == 0
    assert empty["n_clusters"] == 0


def test_score_partial(world: synthetic.World) -> None:
    truth = world.truth
    camp = {c["id"]: c for c in truth["campaigns"]}
    farm = next(c for c in camp.values() if c["style"] == "lockstep_farm")["members"]
    loose = next(c for c in camp.values() if c["style"] == "loose_synchrony")["members"]
    viral = next(t for t in truth["traps"] if t["archetype"] == "viral_burst")["members"]
    organic = sorted(
        set(world.events["account_id"].unique().to_pylist())
        - {m for c in truth["campaigns"] for m in c["members"]}
        - {m for t in truth["traps"] for m in t["members"]}
    )
    clusters = _clusters(
        [
            farm[:30],  # 60 % of the farm, pure -> recovered
            loose[:10] + farm[30:40],  # mixed -> not correct
            viral[:20],  # trap members
            organic[:5],
        ]
    )
    r = score_mod.score(clusters, truth)
    assert r["styles"]["lockstep_farm"]["recovered"] == 1
    assert r["styles"]["lockstep_farm"]["recall"] == pytest.approx(0.8)
    assert r["styles"]["loose_synchrony"]["recovered"] == 0
    assert r["precision_at_10"]["correct"] == 1 and r["precision_at_10"]["k"] == 4
    assert r["traps"]["viral_burst"]["flagged"] == 20
    assert r["trap_fp"]["flagged"] == 20
    assert r["organic"]["flagged"] == 5
    assert r["overall"]["precision"] == pytest.approx(50 / 75, abs=1e-4)
    assert 0.0 < r["ari"] < 1.0


def test_ari_matches_igraph() -> None:
    igraph = pytest.importorskip("igraph")
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, 300).tolist()
    b = [x if rng.random() < 0.7 else int(rng.integers(0, 7)) for x in a]
    ours = score_mod.adjusted_rand_index(a, b)
    theirs = igraph.compare_communities(a, b, method="adjusted_rand")
    assert ours == pytest.approx(theirs, abs=1e-9)
    assert score_mod.adjusted_rand_index(a, a) == pytest.approx(1.0)


def test_score_cli_json(world: synthetic.World, tmp_path: Path) -> None:
    truth_path = tmp_path / "w.truth.json"
    truth_path.write_text(json.dumps(world.truth), encoding="utf-8")
    clusters_path = tmp_path / "clusters.json"
    groups = [c["members"] for c in world.truth["campaigns"]]
    clusters_path.write_text(json.dumps({"run": {"id": "x"}, "clusters": _clusters(groups)}))
    out = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "score.py"),
            str(clusters_path),
            str(truth_path),
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["overall"]["f1"] == 1.0
    assert report["recovered"]["recovered"] == 8
    missing = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "score.py"),
            str(tmp_path / "nope.json"),
            str(truth_path),
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 0
    assert "error" in json.loads(missing.stdout)
