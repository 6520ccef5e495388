"""Profile ``cnt`` on our event files, and the ``network`` command itself.

Events map to the toolkit's messages as its ``preprocess_data`` receives them (the
function its JSON importers feed): ``(event_id, account_id, account_id, repost_id,
reply_id, text or "", seconds, [target] for link actions else [])``.
"""

from __future__ import annotations

import io
import json
import random
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import typer
from cnt_toolkit import Toolkit, as_list, make_rows, write_csv
from coordination_network_toolkit.preprocess import preprocess_data
from typer.testing import CliRunner

from cib_detect.cli_network import network
from cib_detect.compat import cnt
from cib_detect.io import read_events

T0_MS = 1_767_225_600_000
ACTIONS = ["retweet", "reply", "link", "post", "stream", "repost", "url"]

app = typer.Typer()
app.command()(network)
runner = CliRunner()


def make_events(path: Path, n: int, seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    for i in range(n):
        acc = rng.choice(["a", "b", "c", "d", "e", "f"])
        action = rng.choice(ACTIONS)
        target = rng.choice(["t1", "t2", "t3", "http://x", "http://y"])
        ts = T0_MS + rng.choice([0, 500, 1000, 1001, 2000, 5000, 5999, 6000]) + rng.randint(0, 3)
        text = rng.choice(["Hello @z world", "hello world", "", None, "Other thing here"])
        rows.append({"event_id": f"e{i}", "account_id": acc, "action": action,
                     "target": target, "timestamp": ts, "text": text})  # fmt: skip
    import csv

    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return rows


def toolkit_from_events(rows: list[dict[str, object]], db: Path) -> Toolkit:
    messages = []
    for r in rows:
        action, target = str(r["action"]), str(r["target"])
        messages.append(
            (
                r["event_id"], r["account_id"], r["account_id"],
                target if action in cnt.REPOST_ACTIONS else None,
                target if action in cnt.REPLY_ACTIONS else None,
                r["text"] or "",
                int(str(r["timestamp"])) / 1000.0,
                [target] if action in cnt.LINK_ACTIONS else [],
            )
        )  # fmt: skip
    with redirect_stdout(io.StringIO()):
        preprocess_data(str(db), messages)
    toolkit = Toolkit.__new__(Toolkit)
    toolkit.db = str(db)
    return toolkit


@pytest.mark.parametrize("network_type", cnt.NETWORK_TYPES)
def test_events_match_the_toolkit_on_the_mapped_messages(network_type: str, tmp_path: Path) -> None:
    rows = make_events(tmp_path / "events.csv", 250, seed=3)
    toolkit = toolkit_from_events(rows, tmp_path / "events.db")
    events, _ = read_events(tmp_path / "events.csv")
    msgs = cnt.messages_from_events(events)
    for window, min_w in ((1, 1), (5, 2)):
        toolkit.compute(network_type, window, min_w)
        params = cnt.CntParams(
            network=network_type, time_window=window, min_edge_weight=min_w,
            include_self_loops=True,
        )  # fmt: skip
        assert sorted(as_list(cnt.compute(msgs, params))) == sorted(toolkit.edges(network_type))


def test_cli_on_the_toolkit_layout(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "in.csv", make_rows(120, seed=4))
    toolkit = Toolkit(path, tmp_path / "t.db")
    toolkit.compute("co_link", 5, 2)
    theirs = toolkit.write("co_link", tmp_path / "t.csv", "csv", loops=False)
    out = tmp_path / "o.csv"
    res = runner.invoke(
        app, [str(path), "--network", "co_link", "-w", "5", "--out", str(out), "--json"]
    )
    assert res.exit_code == 0, res.output
    assert out.read_bytes() == theirs
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["layout"] == "cnt" and summary["edges"] == theirs.count(b"\r\n") - 1
    assert summary["params"]["min_edge_weight"] == 2  # the toolkit CLI's default


def test_cli_on_events_with_action_filter(tmp_path: Path) -> None:
    rows = make_events(tmp_path / "events.csv", 200, seed=6)
    kept = [r for r in rows if r["action"] in ("post", "link")]
    toolkit = toolkit_from_events(kept, tmp_path / "k.db")
    toolkit.compute("co_tweet", 3, 1)
    theirs = toolkit.write("co_tweet", tmp_path / "t.csv", "csv", loops=False)
    out = tmp_path / "o.csv"
    args = [str(tmp_path / "events.csv"), "-n", "co_tweet", "-w", "3", "--min-edge-weight", "1",
            "--action", "post", "--action", "link", "--out", str(out)]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert out.read_bytes() == theirs


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("h\n1,2,3\n", [], "without exactly 8 fields"),
        ("h\nm,u,n,,,t,soon,x\n", [], "data row 1: timestamp"),
        ("h\nm,u,n,,,t,1,x\n", ["--network", "co_nothing"], "--network"),
        ("h\nm,u,n,,,t,1,x\n", ["--profile", "other"], "--profile"),
        ("h\nm,u,n,,,t,1,x\n", ["--out", "x.json"], "output format"),
    ],
)
def test_cli_errors_exit_2(tmp_path: Path, content: str, args: list[str], message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    res = runner.invoke(app, [str(path), "--out", str(tmp_path / "o.csv"), *args])
    assert res.exit_code == 2
    assert message in res.output
