"""``cib-detect detect`` as a user runs it: a fresh process, exit codes, stdout and stderr."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

T0 = 1_767_225_600
RunCli = Callable[..., subprocess.CompletedProcess[str]]


def _flat(text: str) -> str:
    """Whitespace-normalised text (rich may wrap long lines)."""
    return " ".join(text.split())


def events_csv(path: Path, *, bad: bool = True) -> Path:
    """A small CSV: five bots in lockstep on 6 targets, some organic noise, 3 bad rows."""
    lines = ["event_id,account_id,action,target,timestamp,text"]
    k = 0
    for day in range(6):
        for b in range(5):
            k += 1
            lines.append(f"e{k},bot{b},stream,promo{day},{T0 + day * 86_400 + 7 * b},")
    for i in range(120):
        k += 1
        lines.append(f"e{k},user{i % 40},stream,song{(i * 7) % 23},{T0 + i * 3_637},")
    if bad:
        lines.insert(3, "e900,bot9,stream,promo0,not-a-time,")  # data row 3
        lines.insert(10, "e901,,stream,promo1,1767225600,")  # data row 10: empty account
        lines.insert(20, "e902,x,stream")  # data row 20: 3 fields
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_detect_with_bad_rows_succeeds_and_reports_rejects(tmp_path: Path, run_cli: RunCli) -> None:
    src = events_csv(tmp_path / "events.csv")
    out = tmp_path / "out" / "clusters.json"
    proc = run_cli(["detect", src, "--out", out])
    assert proc.returncode == 0, proc.stderr
    err = _flat(proc.stderr)
    assert "3 invalid row(s) skipped" in err
    assert out.exists()
    doc = json.loads(out.read_text(encoding="utf-8"))
    inp = doc["run"]["input"]
    assert inp["rejected"] == 3
    assert inp["rows"] == 153
    assert inp["accepted"] == 150
    assert inp["rejected_by_reason"] == {
        "<row>: expected 6 fields, found 3": 1,
        "account_id: empty": 1,
        "timestamp: not epoch seconds, epoch milliseconds or ISO-8601": 1,
    }
    assert [c["members"] for c in doc["clusters"]] == [[f"bot{b}" for b in range(5)]]
    assert proc.stdout.strip() == ""  # the table and messages go to stderr


def test_strict_fails_naming_row_and_field(tmp_path: Path, run_cli: RunCli) -> None:
    src = events_csv(tmp_path / "events.csv")
    out = tmp_path / "clusters.json"
    proc = run_cli(["detect", src, "--out", out, "--strict"])
    assert proc.returncode != 0
    err = _flat(proc.stderr)
    assert "row 3: timestamp" in err
    assert "row 10: account_id: empty" in err
    assert "row 20: <row>" in err
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_json_summary_on_stdout(tmp_path: Path, run_cli: RunCli) -> None:
    src = events_csv(tmp_path / "events.csv")
    out = tmp_path / "clusters.json"
    proc = run_cli(["detect", src, "--out", out, "--json"])
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)  # the whole of stdout is one JSON document
    assert summary["out"] == str(out)
    assert summary["clusters"] == 1
    assert summary["flagged_accounts"] == 5
    assert summary["input"]["rejected"] == 3
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert summary["top"][0]["cluster_id"] == doc["clusters"][0]["cluster_id"]


def test_unknown_extension_needs_format(tmp_path: Path, run_cli: RunCli) -> None:
    src = events_csv(tmp_path / "events.csv", bad=False).rename(tmp_path / "events.dat")
    out = tmp_path / "clusters.json"
    proc = run_cli(["detect", src, "--out", out])
    assert proc.returncode != 0
    err = _flat(proc.stderr)
    assert "events.dat" in err and "--format" in err
    assert "Traceback" not in proc.stderr
    assert not out.exists()
    ok = run_cli(["detect", src, "--out", out, "--format", "csv", "--json"])
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["clusters"] == 1


@pytest.mark.parametrize("value", ["0", "-5"])
def test_bad_window_fails_clearly(tmp_path: Path, run_cli: RunCli, value: str) -> None:
    src = events_csv(tmp_path / "events.csv", bad=False)
    out = tmp_path / "clusters.json"
    proc = run_cli(["detect", src, "--out", out, "--window", "60", "--window", value])
    assert proc.returncode != 0
    err = _flat(proc.stderr)
    assert "window" in err
    assert "between 1 second and 7 days" in err
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_missing_input_fails_clearly(tmp_path: Path, run_cli: RunCli) -> None:
    proc = run_cli(["detect", tmp_path / "nope.csv", "--out", tmp_path / "c.json"])
    assert proc.returncode != 0
    assert "not found" in _flat(proc.stderr)
    assert "Traceback" not in proc.stderr
