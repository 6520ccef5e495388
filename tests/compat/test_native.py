"""Profile ``native`` against a brute-force reference on small random event sets."""

from __future__ import annotations

import itertools
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cib_detect.cli_network import network
from cib_detect.compat.native import NativeParams, build
from cib_detect.io.readers import from_columns

BASE_MS = 1_767_225_600_000
SETTINGS = settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def events(draw: Any) -> tuple[list[str], list[str], list[str], list[int]]:
    n = draw(st.integers(0, 25))
    acc = draw(st.lists(st.sampled_from("abcde"), min_size=n, max_size=n))
    act = draw(st.lists(st.sampled_from(["like", "share"]), min_size=n, max_size=n))
    tgt = draw(st.lists(st.sampled_from(["t1", "t2", "t3"]), min_size=n, max_size=n))
    secs = draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))
    jit = draw(st.lists(st.sampled_from([0, 0, 1, -1, 500]), min_size=n, max_size=n))
    ts = [BASE_MS + s * 1000 + j for s, j in zip(secs, jit, strict=True)]
    return acc, act, tgt, ts


def reference(
    acc: list[str], act: list[str], tgt: list[str], ts: list[int], w_ms: int, cap: int | None
) -> dict[tuple[str, str], tuple[int, int]]:
    n = len(acc)

    def crowded(i: int) -> bool:
        same = sum(
            1
            for j in range(n)
            if (act[j], tgt[j]) == (act[i], tgt[i]) and abs(ts[j] - ts[i]) <= w_ms
        )
        return cap is not None and same > cap

    targets: dict[tuple[str, str], set[str]] = defaultdict(set)
    objects: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
    for i, j in itertools.combinations(range(n), 2):
        if acc[i] == acc[j] or (act[i], tgt[i]) != (act[j], tgt[j]):
            continue
        if abs(ts[i] - ts[j]) > w_ms or crowded(i) or crowded(j):
            continue
        key = (min(acc[i], acc[j]), max(acc[i], acc[j]))
        targets[key].add(tgt[i])
        objects[key].add((act[i], tgt[i]))
    return {k: (len(v), len(objects[k])) for k, v in targets.items()}


@SETTINGS
@given(ev=events(), window=st.sampled_from([0, 1, 5, 20]), cap=st.sampled_from([None, 1, 3]))
def test_native_matches_brute_force(
    ev: tuple[list[str], list[str], list[str], list[int]], window: int, cap: int | None
) -> None:
    acc, act, tgt, ts = ev
    table = from_columns(acc, act, tgt, np.array(ts, dtype=np.int64))
    net = build(table, NativeParams(time_window=window, min_weight=1, hub_cap=cap))
    got = {
        (net.accounts[a], net.accounts[b]): (int(w), int(o))
        for a, b, w, o in zip(net.a.tolist(), net.b.tolist(), net.weight, net.objects, strict=True)
    }
    assert got == reference(acc, act, tgt, ts, window * 1000, cap)
    keys = list(got)
    assert keys == sorted(keys, key=lambda k: (k[0].encode(), k[1].encode()))


def test_cli_native(tmp_path: Path) -> None:
    src = tmp_path / "events.csv"
    lines = ["account_id,action,target,timestamp"]
    for day in range(4):
        for bot in range(3):
            lines.append(f"bot{bot},stream,song{day},{1_767_225_600 + day * 86_400 + 5 * bot}")
    lines.append("user,stream,song0,1767225700")
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    app = typer.Typer()
    app.command()(network)
    out = tmp_path / "native.csv"
    res = CliRunner().invoke(
        app, [str(src), "-p", "native", "-w", "60", "--min-edge-weight", "2", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert out.read_text(encoding="utf-8").splitlines() == [
        "source,target,weight,objects",
        "bot0,bot1,4,4",
        "bot0,bot2,4,4",
        "bot1,bot2,4,4",
    ]
