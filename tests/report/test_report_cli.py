"""``report`` and ``export`` as typer commands (registered here on a test app, as the
main CLI registers them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import typer
from typer.testing import CliRunner

from cib_detect.cli_report import export, report
from cib_detect.report import load

app = typer.Typer()
app.command()(report)
app.command()(export)
runner = CliRunner()


def _run(*args: str | Path) -> Any:
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200", "NO_COLOR": "1"})


def test_report_writes_the_page(clusters_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    res = _run("report", clusters_path, "--out", out, "--max-clusters", "1", "--json")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["ok"] and summary["clusters_detailed"] == 1
    assert out.read_bytes().startswith(b"<!doctype html>")


def test_report_with_events(clusters_path: Path, world_parquet: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    res = _run("report", clusters_path, "-o", out, "--events", world_parquet,
               "--max-clusters", "1")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert '"timelines":"events"' in out.read_text(encoding="utf-8")


def test_export_each_format(clusters_path: Path, tmp_path: Path) -> None:
    res = _run("export", clusters_path, "--format", "graphml", "--out", tmp_path / "g.graphml")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "g.graphml").stat().st_size > 0
    res = _run("export", clusters_path, "-f", "parquet", "-o", f"{tmp_path}/tables/", "--json")
    assert res.exit_code == 0, res.output
    record = json.loads(res.stdout.strip().splitlines()[-1])
    assert set(record["files"]) == {"members", "evidence", "examples"}
    assert pq.read_table(tmp_path / "tables" / "members.parquet").num_rows == record["members"]


def test_usage_errors(clusters_path: Path, tmp_path: Path) -> None:
    res = _run("report", "--out", tmp_path / "x.html")
    assert res.exit_code == 2 and "exactly one" in res.output
    res = _run("report", clusters_path, "--run", "r-1")
    assert res.exit_code == 2 and "exactly one" in res.output
    res = _run("export", clusters_path, "--out", tmp_path / "x")
    assert res.exit_code == 2 and "--format" in res.output
    res = _run("report", tmp_path / "missing.json")
    assert res.exit_code == 2 and "not found" in res.output


def test_run_source(doc: dict[str, Any], tmp_path: Path, monkeypatch: Any) -> None:
    # until the store offers a loader, --run fails with a clear message
    monkeypatch.setattr(load, "RUN_LOADER", ("cib_detect.store.runs", "no_such_function"))
    res = _run("export", "--run", "r-1", "-f", "csv", "-o", tmp_path / "t")
    assert res.exit_code == 2 and "not available" in res.output
    # a plugged-in loader is all --run needs
    load.set_run_loader(lambda run_id, uri: json.loads(json.dumps(doc)))
    try:
        res = _run("export", "--run", "r-1", "-f", "csv", "-o", tmp_path / "t", "--json")
    finally:
        load.set_run_loader(None)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout.strip().splitlines()[-1])["source"] == {
        "kind": "run",
        "run_id": "r-1",
    }
