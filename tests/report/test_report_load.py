"""Reading clusters.json (the writer's line layout and plain JSON) and plugging a run
source in through the document dict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cib_detect.errors import FailedPrecondition, InvalidInput, NotFound
from cib_detect.report import load
from cib_detect.report.json_out import build_document


def test_line_layout_reads_like_json(detection: Any, clusters_path: Path) -> None:
    expected = load.normalize(json.loads(json.dumps(build_document(
        detection.result, detection.params, detection.info))))  # fmt: skip
    assert load._read_lines(clusters_path) is not None  # the fast path was taken
    assert load.read_clusters_json(clusters_path) == expected


def test_pretty_printed_json_is_read_whole(doc: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "pretty.json"
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    assert load._read_lines(path) is None
    assert load.read_clusters_json(path) == doc


def test_truncated_and_malformed_files_are_clear_errors(
    clusters_path: Path, tmp_path: Path
) -> None:
    lines = clusters_path.read_bytes().splitlines(keepends=True)
    cut = tmp_path / "cut.json"
    cut.write_bytes(b"".join(lines[:-1]))
    with pytest.raises(InvalidInput, match="truncated"):
        load.read_clusters_json(cut)
    bad = tmp_path / "bad.json"
    bad.write_text('{"run": {}, "clusters": [{"rank": 1}]}', encoding="utf-8")
    with pytest.raises(InvalidInput, match="cluster_id"):
        load.read_clusters_json(bad)
    other = tmp_path / "other.json"
    other.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(InvalidInput, match="'run' and 'clusters'"):
        load.read_clusters_json(other)
    with pytest.raises(NotFound):
        load.read_clusters_json(tmp_path / "missing.json")


def test_normalize_fills_defaults_and_accepts_epoch_ms() -> None:
    """A store-side source may hand over less: epoch-ms times, no size, no dt."""
    doc = load.normalize({"run": {}, "clusters": [
        {"cluster_id": "c-2", "rank": 2, "members": ["a", "b", "c"], "score": 0.4},
        {"cluster_id": "c-1", "rank": 1, "members": ["x", "y", "z"], "score": 0.9,
         "evidence": [{"a": "x", "b": "y", "signal": "co_action@60s", "weight": 3,
                       "p_value": 1e-6, "first_ts": 1_767_225_600_000,
                       "examples": [{"target": "t", "t_a": 1_767_225_600_000,
                                     "t_b": "2026-01-01T00:00:02.500+00:00"}]}]},
    ]})  # fmt: skip
    assert [c["cluster_id"] for c in doc["clusters"]] == ["c-1", "c-2"]
    c = doc["clusters"][0]
    assert c["size"] == 3 and c["n_edges"] == 1 and c["evidence_truncated"] is False
    e = c["evidence"][0]
    assert e["first_ts"] == "2026-01-01T00:00:00.000Z"
    assert e["log10_p"] == pytest.approx(-6.0)
    x = e["examples"][0]
    assert (x["t_a"], x["t_b"], x["dt"]) == (
        "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:02.500Z", 2.5)  # fmt: skip


def test_run_source_plugs_in(doc: dict[str, Any]) -> None:
    seen: list[tuple[str, str | None]] = []

    def loader(run_id: str, uri: str | None) -> dict[str, Any]:
        seen.append((run_id, uri))
        copy: dict[str, Any] = json.loads(json.dumps(doc))
        return copy

    load.set_run_loader(loader)
    try:
        assert load.load_run("r-1", "bolt://127.0.0.1:7687") == doc
    finally:
        load.set_run_loader(None)
    assert seen == [("r-1", "bolt://127.0.0.1:7687")]


def test_run_without_a_store_loader_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load, "RUN_LOADER", ("cib_detect.store.runs", "no_such_function"))
    with pytest.raises(FailedPrecondition, match="not available"):
        load.load_run("r-1")
