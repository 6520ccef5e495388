"""Profile ``coortweet`` on hand-computed fixtures, one per rule of CooRTweet 2.1's
``detect_groups`` + ``generate_coordinated_network`` (see the module docstring)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cib_detect.cli_network import network
from cib_detect.compat.coortweet import CoorNetwork, CoorParams, build, quantile_type7
from cib_detect.compat.io import read_coortweet

T0 = 1_767_225_600
Row = tuple[str, str, str, int]  # account, object, content, seconds after T0

app = typer.Typer()
app.command()(network)
runner = CliRunner()


def write(path: Path, rows: list[Row]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["object_id", "account_id", "content_id", "timestamp_share"])
        w.writerows([o, a, c, T0 + t] for a, o, c, t in rows)
    return path


def run(tmp_path: Path, rows: list[Row], **kw: object) -> CoorNetwork:
    return build(read_coortweet(write(tmp_path / "in.csv", rows)), CoorParams(**kw))  # type: ignore[arg-type]


def edges(net: CoorNetwork, *, kept: bool = False) -> dict[tuple[str, str], int]:
    out = {}
    for i, (a, b, w) in enumerate(
        zip(net.a.tolist(), net.b.tolist(), net.weight.tolist(), strict=True)
    ):
        if not kept or net.keep[i]:
            out[(net.accounts[a], net.accounts[b])] = w
    return out


# Object o1, window 10 s: A@0 c1, B@5 c2, A@8 c3, C@9 content "o1" (= the object id),
# D@10 c2 (same content id as B's row), E@21 (no partner within 10 s).
LOOPS: list[Row] = [
    ("A", "o1", "c1", 0), ("B", "o1", "c2", 5), ("A", "o1", "c3", 8),
    ("C", "o1", "o1", 9), ("D", "o1", "c2", 10), ("E", "o1", "c9", 21),
]  # fmt: skip


def test_remove_loops(tmp_path: Path) -> None:
    net = run(tmp_path, LOOPS, min_participation=1)
    # kept pairs: A0-B5, A0-D10 (|dt| = 10: inclusive), B5-A8, A8-D10; dropped: A0-A8
    # (same account), every pair with C (content = object), B5-D10 (equal content ids)
    assert edges(net) == {("A", "B"): 2, ("A", "D"): 2}
    i = list(zip(net.a.tolist(), net.b.tolist(), strict=True)).index((0, 3))  # A-D
    assert net.avg_time_delta[i] == 6.0  # (10 + 2) / 2
    assert (net.n_content_id[i], net.n_content_id_y[i]) == (2, 1)  # {c1, c3}, {c2}
    assert net.edge_symmetry_score[i] == 0.5


def test_keep_loops(tmp_path: Path) -> None:
    net = run(tmp_path, LOOPS, min_participation=1, remove_loops=False)
    assert edges(net) == {
        ("A", "A"): 1, ("A", "B"): 2, ("A", "C"): 2, ("A", "D"): 2,
        ("B", "C"): 1, ("B", "D"): 1, ("C", "D"): 1,
    }  # fmt: skip


def test_min_participation_prefilter(tmp_path: Path) -> None:
    """Only A has two rows: nobody else takes part, and A alone has no pair."""
    net = run(tmp_path, LOOPS, min_participation=2)
    assert edges(net) == {}
    assert net.stats["rows_after_min_participation"] == 2


# P, Q, R, S, T, U have two rows each (they pass the pre-filter). Pairs: x: P-Q, y: P-R,
# z: Q-S, v: T-U. Rows whose content is in a pair: P 2, Q 2, R 1, S 1, T 1, U 1, so only
# P and Q qualify; a pair stays when either content id is one of P's or Q's.
OR_FILTER: list[Row] = [
    ("P", "x", "p1", 0), ("Q", "x", "q1", 5), ("P", "y", "p2", 100), ("R", "y", "r1", 103),
    ("R", "w", "r2", 500), ("Q", "z", "q2", 200), ("S", "z", "s1", 205), ("S", "k", "s2", 900),
    ("T", "v", "t1", 600), ("U", "v", "u1", 605), ("T", "m", "t2", 1000), ("U", "n", "u2", 1400),
]  # fmt: skip


def test_or_post_filter(tmp_path: Path) -> None:
    net = run(tmp_path, OR_FILTER, min_participation=2)
    assert net.stats["pairs_before_post_filter"] == 4
    assert edges(net) == {("P", "Q"): 1, ("P", "R"): 1, ("Q", "S"): 1}  # T-U dropped


def test_post_filter_counts_content_of_any_row(tmp_path: Path) -> None:
    """A content id shared by rows of two accounts is good when either account qualifies."""
    rows = [*OR_FILTER, ("P", "v2", "u1", 1500)]  # P also has a row with U's content id
    net = run(tmp_path, rows, min_participation=2)
    assert edges(net)[("T", "U")] == 1


# Weights A-B 3, A-C 1, B-C 2, D-E 2 (one object per co-action, 1 s apart).
def _weights(spec: dict[tuple[str, str], int]) -> list[Row]:
    rows: list[Row] = []
    for k, ((a, b), w) in enumerate(spec.items()):
        for j in range(w):
            obj = f"o{k}-{j}"
            rows += [(a, obj, f"{obj}-{a}", 100 * k + j), (b, obj, f"{obj}-{b}", 100 * k + j + 1)]
    return rows


QUANTILE = _weights({("A", "B"): 3, ("A", "C"): 1, ("B", "C"): 2, ("D", "E"): 2})


def test_strict_quantile_and_isolated_vertices(tmp_path: Path) -> None:
    net = run(tmp_path, QUANTILE, min_participation=1, edge_weight=0.5)
    # weights 1, 2, 2, 3: the median is 2 and only weights > 2 pass
    assert net.threshold == 2.0
    assert edges(net, kept=True) == {("A", "B"): 3}
    s = net.summary()
    assert s["full_graph"] == {"nodes": 5, "edges": 4}
    assert s["subgraph"] == {"nodes": 2, "edges": 1}  # C, D, E isolated and dropped


def test_interpolated_quantile(tmp_path: Path) -> None:
    rows = _weights({("A", "B"): 1, ("A", "C"): 2, ("B", "C"): 4, ("D", "E"): 7})
    net = run(tmp_path, rows, min_participation=1, edge_weight=0.9)
    assert net.threshold == pytest.approx(6.1)  # R: quantile(c(1, 2, 4, 7), 0.9)
    assert edges(net, kept=True) == {("D", "E"): 7}
    assert net.summary()["subgraph"] == {"nodes": 2, "edges": 1}


@pytest.mark.parametrize(
    ("values", "prob", "expected"),
    [
        ([1, 2, 4, 7], 0.5, 3.0),
        ([1, 2, 4, 7], 0.9, 6.1),
        ([1, 2, 2, 3], 0.5, 2.0),
        (list(range(1, 11)), 0.33, 3.97),
        ([5], 0.5, 5.0),
        ([3, 1, 2], 0.0, 1.0),
        ([3, 1, 2], 1.0, 3.0),
    ],
)
def test_quantile_type7(values: list[int], prob: float, expected: float) -> None:
    import numpy as np

    assert quantile_type7(np.array(values, dtype=np.int64), prob) == pytest.approx(expected)


def test_no_pairs_give_empty_graphs(tmp_path: Path) -> None:
    net = run(tmp_path, [("A", "o", "c1", 0), ("B", "o", "c2", 100)], min_participation=1)
    assert net.n_edges == 0 and math.isnan(net.threshold)
    assert net.summary()["subgraph"] == {"nodes": 0, "edges": 0}


def test_ties_make_the_earlier_input_row_the_older(tmp_path: Path) -> None:
    """X's one content id is on two objects; equal times: the row first in the input is
    the older (``content_id``), as CooRTweet's ``id < id`` join leaves it."""
    x_first: list[Row] = [("X", "t1", "cx", 50), ("Y", "t1", "cy1", 50),
                          ("X", "t2", "cx", 60), ("Y", "t2", "cy2", 60)]  # fmt: skip
    net = run(tmp_path, x_first, min_participation=1)
    assert (net.n_content_id[0], net.n_content_id_y[0]) == (1, 2)
    y_first = [x_first[1], x_first[0], x_first[3], x_first[2]]
    net = run(tmp_path, y_first, min_participation=1)
    assert (net.n_content_id[0], net.n_content_id_y[0]) == (2, 1)


def test_cli_reports_both_graphs_and_writes_the_subgraph(tmp_path: Path) -> None:
    path = write(tmp_path / "q.csv", QUANTILE)
    out = tmp_path / "edges.csv"
    res = runner.invoke(
        app, [str(path), "--profile", "coortweet", "--min-participation", "1", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "full graph: IGRAPH UNW- 5 4 --" in res.output
    assert "IGRAPH UNW- 2 1 --" in res.output
    with out.open(encoding="utf-8") as fh:
        written = list(csv.DictReader(fh))
    assert [(r["account_id"], r["account_id_y"], r["weight"]) for r in written] == [("A", "B", "3")]
    res = runner.invoke(
        app,
        [str(path), "-p", "coortweet", "--min-participation", "1", "--full", "--json",
         "--out", str(tmp_path / "full.graphml")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (tmp_path / "full.graphml").read_text(encoding="utf-8").count("<edge ") == 4
