"""``cib-detect detect`` as a user runs it: a fresh process, exit codes, stdout and stderr."""

from __future__ import annotations

import json
import subprocess
import sys
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


# --------------------------------------------------------------------------- network
# ``cib-detect network`` runs as an app of that one command (``cli_network.run``).

COMMANDS = (
    "neo4j", "report", "export", "network", "schema", "ingest", "query", "erase",
    "retention", "serve", "client", "detect", "warm", "version",
)  # fmt: skip


def toolkit_csv(path: Path) -> Path:
    """A small CSV in coordination-network-toolkit's layout: three users sharing urls."""
    rows = ["message_id,user_id,username,repost_id,reply_id,message,timestamp,urls"]
    k = 0
    for day in range(4):
        for u in range(3):
            k += 1
            ts = T0 + day * 86_400 + 5 * u
            rows.append(f'm{k},u{u},"name {u}",,,"text {k}",{ts},http://x/{day}')
    rows.append(f"m{k + 1},u9,name9,m1,,,{T0},")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_help_lists_every_command(run_cli: RunCli) -> None:
    proc = run_cli(["--help"])
    assert proc.returncode == 0, proc.stderr
    for name in COMMANDS:
        assert f" {name} " in proc.stdout, name


def test_network_help(run_cli: RunCli) -> None:
    proc = run_cli(["network", "--help"])
    assert proc.returncode == 0, proc.stderr
    out = _flat(proc.stdout)
    assert "Usage: cib-detect network [OPTIONS]" in out
    assert "--min-edge-weight" in out and "--profile" in out


@pytest.mark.parametrize("suffix", ["csv", "graphml"])
def test_network_console_script_writes_what_the_command_writes(
    tmp_path: Path, run_cli: RunCli, suffix: str
) -> None:
    src = toolkit_csv(tmp_path / "cnt.csv")
    ours = tmp_path / f"ours.{suffix}"
    proc = run_cli(["network", src, "--time-window", "60", "--out", ours, "--json"])
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)  # stdout flushed before the process ends
    assert summary["edges"] == 6 and summary["out"] == str(ours)
    alone = tmp_path / f"alone.{suffix}"
    ref = subprocess.run(
        [sys.executable, "-m", "cib_detect.cli_network", src, "--time-window", "60",
         "--out", alone],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert ref.returncode == 0, ref.stderr
    assert ours.read_bytes() == alone.read_bytes()
    assert "6 edges" in ref.stderr


def test_network_errors_keep_their_exit_codes(tmp_path: Path, run_cli: RunCli) -> None:
    missing = run_cli(["network", tmp_path / "nope.csv", "--out", tmp_path / "e.csv"])
    assert missing.returncode == 2
    assert "error: input file not found" in missing.stderr
    usage = run_cli(["network"])
    assert usage.returncode == 2
    assert "Missing argument" in usage.stderr
    bad = run_cli(["network", toolkit_csv(tmp_path / "cnt.csv"), "--out", tmp_path / "e.xml"])
    assert bad.returncode == 2
    assert "pass --output-format" in _flat(bad.stderr)
    assert "Traceback" not in missing.stderr + usage.stderr + bad.stderr


def test_network_entry_imports_only_its_command() -> None:
    """``main`` hands ``network`` to ``cli_network.run`` before importing the app."""
    code = (
        "import sys, cib_detect.cli_network as n\n"
        "n.run = lambda args, prog_name: print(prog_name, args, sorted(sys.modules))\n"
        "sys.argv = ['cib-detect', 'network', 'in.csv']\n"
        "from cib_detect.cli import main\n"
        "main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("cib-detect network ['in.csv']")
    loaded = set(proc.stdout.split(" ", 3)[3].strip("[]\n").replace("'", "").split(", "))
    for heavy in ("cib_detect.config", "cib_detect.cli_store", "pydantic_settings", "rich"):
        assert heavy not in loaded, heavy
