"""Columnar export back into an EventTable, and ``detect --from-neo4j``."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cib_detect.io import read_events
from cib_detect.model import EventTable
from cib_detect.store.export import canonical_order, events_digest, export_events, parse_timestamp
from cib_detect.store.graph_store import GraphStore
from cib_detect.store.runs import get_run

pytestmark = pytest.mark.neo4j
RunCli = Callable[..., subprocess.CompletedProcess[str]]


def _rows(ev: EventTable) -> list[tuple[Any, ...]]:
    """The events as sorted tuples of values (independent of codes and row order)."""
    text = ev.text.to_pylist() if ev.text is not None else [None] * ev.n
    ids = ev.event_id.to_pylist() if ev.event_id is not None else [None] * ev.n
    return sorted(
        (i, ev.accounts[a], ev.actions[c], ev.targets[t], int(ts), x)
        for i, a, c, t, ts, x in zip(
            ids, ev.account.tolist(), ev.action.tolist(), ev.target.tolist(), ev.ts, text,
            strict=True,
        )
    )  # fmt: skip


def _assert_same_table(a: EventTable, b: EventTable) -> None:
    assert a.n == b.n
    assert (a.accounts, a.actions, a.targets) == (b.accounts, b.actions, b.targets)
    for col in ("account", "action", "target", "ts"):
        np.testing.assert_array_equal(getattr(a, col), getattr(b, col))
    for col in ("text", "event_id"):
        x, y = getattr(a, col), getattr(b, col)
        assert (x is None) == (y is None)
        if x is not None:
            assert x.to_pylist() == y.to_pylist()


def test_export_round_trip_equals_input(loaded_world: GraphStore, world_parquet: Path) -> None:
    original, _ = read_events(world_parquet)
    exported, stats = export_events(loaded_world, with_event_ids=True)
    assert stats.events == original.n
    assert _rows(exported) == _rows(original)
    _assert_same_table(exported, canonical_order(original))
    assert events_digest(exported) == events_digest(canonical_order(original))


def test_export_is_independent_of_paging(loaded_world: GraphStore) -> None:
    big, s1 = export_events(loaded_world, with_event_ids=True)
    small, s2 = export_events(loaded_world, with_event_ids=True, page_events=997, workers=3)
    serial, _ = export_events(loaded_world, with_event_ids=True, page_events=5_000, workers=1)
    assert s2.pages > s1.pages
    _assert_same_table(big, small)
    _assert_same_table(big, serial)


def test_export_time_window(loaded_world: GraphStore, world_parquet: Path) -> None:
    original, _ = read_events(world_parquet)
    ts = np.sort(original.ts)
    since, until = int(ts[ts.size // 4]), int(ts[(3 * ts.size) // 4])
    window, _ = export_events(loaded_world, since=since, until=until, with_event_ids=True)
    expected = [r for r in _rows(original) if since <= r[4] < until]
    assert _rows(window) == expected
    assert window.n == int(((original.ts >= since) & (original.ts < until)).sum())


def test_parse_timestamp() -> None:
    assert parse_timestamp("2026-01-01T00:00:00Z") == 1_767_225_600_000
    assert parse_timestamp("2026-01-01T01:00:00+01:00") == 1_767_225_600_000
    assert parse_timestamp("1767225600") == 1_767_225_600_000
    assert parse_timestamp(1_767_225_600_000) == 1_767_225_600_000
    assert parse_timestamp("1767225600.5") == 1_767_225_600_500
    for bad in ("2026-01-01T00:00:00", "soon", "nan"):
        with pytest.raises(ValueError):
            parse_timestamp(bad)


def test_detect_from_neo4j_matches_detect_on_the_file(
    loaded_world: GraphStore,
    cli_world_doc: tuple[Path, dict[str, Any]],
    tmp_path: Path,
    run_cli: RunCli,
) -> None:
    _, file_doc = cli_world_doc
    out = tmp_path / "from-neo4j.json"
    proc = run_cli(["detect", "--from-neo4j", "--out", out, "--json"], timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["clusters"] == file_doc["clusters"]
    assert doc["clusters"], "the small world has planted campaigns"
    run_id = doc["run"]["run_id"]
    assert run_id == summary["run_id"]
    assert doc["run"]["params"] == file_doc["run"]["params"]
    assert doc["run"]["input"]["format"] == "neo4j"
    assert doc["run"]["input"]["rows"] == file_doc["run"]["input"]["accepted"]
    run = get_run(loaded_world, run_id)
    assert run is not None and run["status"] == "complete"
    assert run["clusters"] == len(doc["clusters"])
    assert run["evidenceEdges"] == sum(len(c["evidence"]) for c in doc["clusters"])
    assert run["memberships"] == sum(c["size"] for c in doc["clusters"])


def test_detect_from_neo4j_records_the_window(
    loaded_world: GraphStore, tmp_path: Path, run_cli: RunCli
) -> None:
    out = tmp_path / "window.json"
    since, until = "2026-01-05T00:00:00Z", "1768435200"  # 2026-01-15T00:00:00Z
    proc = run_cli(
        ["detect", "--from-neo4j", "--since", since, "--until", until, "--out", out, "--json"],
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["run"]["source"]["since"] == "2026-01-05T00:00:00.000Z"
    assert doc["run"]["source"]["until"] == "2026-01-15T00:00:00.000Z"
    run = get_run(loaded_world, doc["run"]["run_id"])
    assert run is not None and run["status"] == "complete"
    params = json.loads(run["params"])
    assert (params["since"], params["until"]) == (1_767_571_200_000, 1_768_435_200_000)
    assert (run["since"], run["until"]) == (1_767_571_200_000, 1_768_435_200_000)
    window, _ = export_events(loaded_world, since=run["since"], until=run["until"])
    assert doc["run"]["input"]["rows"] == window.n


def test_detect_from_neo4j_rejects_bad_options(tmp_path: Path, run_cli: RunCli) -> None:
    bad = run_cli(["detect", "--from-neo4j", "--since", "yesterday", "--out", tmp_path / "x"])
    assert bad.returncode == 2 and "--since" in bad.stderr
    file_only = run_cli(["detect", tmp_path / "x.csv", "--since", "1767225600"])
    assert file_only.returncode == 2 and "--from-neo4j" in file_only.stderr
