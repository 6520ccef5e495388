"""Side by side: coordination-network-toolkit 1.5.2 and ``cib-detect network --profile cnt``
on the same CSV, each as a whole process.

    .venv/bin/python benchmarks/compat_bench.py --sizes 1e5,1e6 --results benchmarks/RESULTS.md

For each size the synthetic world ``benchmarks/data/world_<size>_s0.parquet`` (made by
``make_world.py`` when missing) is written once in the toolkit's CSV layout, every event a
message sharing its ``target`` as the url (``message_id, user_id, username, repost_id,
reply_id, message, timestamp, urls`` = ``event_id, account_id, account_id, "", "", text,
timestamp, target``). Then, with the same network (default ``co_link``, 60 s window,
minimum edge weight 2: the toolkit CLI's default):

* the toolkit, as its README runs it, on a fresh SQLite database::

      compute_networks DB preprocess CSV
      compute_networks DB compute co_link --time_window 60 --min_edge_weight 2 \\
          --output_file OUT.graphml

* cib-detect, as the ``cib-detect`` console script (or, where the app does not have the
  command yet, ``python -c`` registering it as ``cib_detect.cli`` does:
  ``app.command("network")(network)``), and alone (``python -m cib_detect.cli_network``)::

      cib-detect network CSV --profile cnt --network co_link --time-window 60 \\
          --min-edge-weight 2 --out OUT.graphml

GraphML on both sides: the toolkit's command line writes no CSV (``--output_format csv``
fails in 1.5.2). The two files are compared byte for byte. Wall time is measured around
each child; peak memory is ``ru_maxrss`` from ``os.wait4`` on it (the largest process of
its tree: the toolkit's worker processes run at the same time, so for it the summed RSS
of the process tree is also sampled from ``/proc`` every 0.1 s). One untimed warm-up run
of cib-detect fills Numba's cache first; cib-detect runs ``--repeat`` times (median
reported), the toolkit once (``--toolkit-repeat``). A toolkit run over
``--toolkit-timeout`` seconds is stopped and reported as not finished.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from make_world import parse_count, size_label  # noqa: E402

BIN = Path(sys.executable).parent
REGISTERED = (
    "import sys; from cib_detect.cli import app; from cib_detect.cli_network import network; "
    "app.command('network')(network); sys.argv[0] = 'cib-detect'; app()"
)
SECTION = "## Compatibility profiles (`cib-detect network`)"
#: The least any run of the command does (``python -c FLOOR CSV OPTIONS``): start the
#: interpreter; import what the command imports, with typer parsing its options (typer's
#: coercion imports pydantic), NumPy, Arrow and Numba; load every kernel of a GraphML run
#: from Numba's cache on a thread (``warm_cnt``: a three-row run) while the CSV is parsed
#: as the command parses it; exit without tearing the interpreter down. No network is
#: computed and nothing is written, so no run of the command can be faster.
FLOOR = """\
import gc, os, sys, threading
gc.disable()
import typer
from cib_detect.cli_network import network
app = typer.Typer(add_completion=False)
app.command()(network)
typer.main.get_command(app).make_context("cib-detect network", sys.argv[1:])


def load():
    from cib_detect.compat.warm import warm_cnt

    warm_cnt(graphml=True)


thread = threading.Thread(target=load)
thread.start()
from pathlib import Path
from cib_detect.compat.io import read_cnt_table

read_cnt_table(Path(sys.argv[1]))
thread.join()
os._exit(0)
"""


@dataclass
class Run:
    cmd: list[str]
    returncode: int
    wall_s: float
    peak_rss_mb: float
    tree_rss_mb: float | None = None
    timed_out: bool = False
    inproc_s: float | None = None  # cib-detect's own timing of the command (``--json``)


@dataclass
class SizeResult:
    size: int
    label: str
    csv: str
    csv_mb: float
    toolkit: list[Run] = field(default_factory=list)
    toolkit_steps: list[list[Run]] = field(default_factory=list)
    registered: list[Run] = field(default_factory=list)
    lean: list[Run] = field(default_factory=list)
    identical: bool | None = None
    edges: int | None = None
    floor: list[Run] = field(default_factory=list)


def _tree_rss_kb(root: int) -> int:
    """Summed VmRSS of ``root`` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as fh:
                text = fh.read()
        except OSError:
            continue
        pid = int(entry)
        m = re.search(r"^PPid:\s+(\d+)", text, re.M)
        r = re.search(r"^VmRSS:\s+(\d+)", text, re.M)
        if m:
            children.setdefault(int(m.group(1)), []).append(pid)
        rss[pid] = int(r.group(1)) if r else 0
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def run(cmd: list[str], log: Path, *, timeout: float | None = None, tree: bool = False) -> Run:
    log.parent.mkdir(parents=True, exist_ok=True)
    peak_tree = 0
    done = threading.Event()
    timed_out = threading.Event()
    with log.with_suffix(".stdout").open("wb") as fo, log.with_suffix(".stderr").open("wb") as fe:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL, cwd=REPO)

        def sample() -> None:
            nonlocal peak_tree
            while not done.wait(0.1):
                peak_tree = max(peak_tree, _tree_rss_kb(proc.pid))

        def kill() -> None:
            timed_out.set()
            proc.kill()

        sampler = threading.Thread(target=sample, daemon=True) if tree else None
        if sampler:
            sampler.start()
        timer = threading.Timer(timeout, kill) if timeout else None
        if timer:
            timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            done.set()
            if timer:
                timer.cancel()
        wall = time.perf_counter() - t0
    if sampler:
        sampler.join()
    inproc = None
    try:
        last = log.with_suffix(".stdout").read_text(encoding="utf-8").strip().splitlines()[-1]
        inproc = float(json.loads(last)["timings"]["total"])
    except (IndexError, ValueError, KeyError, TypeError):
        pass
    return Run(
        cmd=[str(c) for c in cmd],
        returncode=os.waitstatus_to_exitcode(status),
        wall_s=round(wall, 3),
        peak_rss_mb=round(usage.ru_maxrss / 1024.0, 1),
        tree_rss_mb=round(peak_tree / 1024.0, 1) if tree else None,
        timed_out=timed_out.is_set(),
        inproc_s=inproc,
    )


def ensure_csv(size: int, data_dir: Path) -> Path:
    """The world of this size in the toolkit's CSV layout (cached), written by a child
    process: this process stays small, so that the RSS its children inherit at fork
    does not inflate their ``ru_maxrss``."""
    out = data_dir / f"cnt_{size_label(size)}_s0.csv"
    if not out.is_file():
        cmd = [sys.executable, __file__, "--make-csv", str(size), "--data-dir", str(data_dir)]
        subprocess.run(cmd, check=True)
    return out


def make_csv(size: int, data_dir: Path) -> Path:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    label = size_label(size)
    out = data_dir / f"cnt_{label}_s0.csv"
    if out.is_file():
        return out
    world = data_dir / f"world_{label}_s0.parquet"
    if not world.is_file():
        print(f"[compat] generating {world.name} ...", flush=True)
        subprocess.run(
            [sys.executable, str(HERE / "make_world.py"), "--events", str(size), "--seed", "0",
             "--out", str(world)],
            check=True,
        )  # fmt: skip
    t = pq.read_table(world, columns=["event_id", "account_id", "target", "timestamp", "text"])
    empty = pa.array([""] * t.num_rows, pa.string())
    table = pa.table(
        {
            "message_id": t["event_id"],
            "user_id": t["account_id"],
            "username": t["account_id"],
            "repost_id": empty,
            "reply_id": empty,
            "message": t["text"].fill_null(""),
            "timestamp": t["timestamp"],
            "urls": t["target"],
        }
    )
    tmp = out.with_suffix(".tmp")
    pacsv.write_csv(table, tmp)
    tmp.replace(out)
    return out


def toolkit_cmds(csv: Path, db: Path, out: Path, args: argparse.Namespace) -> list[list[str]]:
    tool = str(BIN / "compute_networks")
    return [
        [tool, str(db), "preprocess", str(csv)],
        [tool, str(db), "compute", args.network, "--time_window", str(args.window),
         "--min_edge_weight", str(args.min_weight), "--output_file", str(out)],
    ]  # fmt: skip


def ours_args(csv: Path, out: Path, args: argparse.Namespace) -> list[str]:
    return [
        *(str(csv), "--profile", "cnt", "--network", args.network),
        *("--time-window", str(args.window), "--min-edge-weight", str(args.min_weight)),
        *("--out", str(out), "--json"),
    ]


def console_has_network() -> bool:
    """Whether the ``cib-detect`` console script already has the ``network`` command."""
    cli = BIN / "cib-detect"
    if not cli.exists():
        return False
    probe = [str(cli), "network", "--help"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


def registered_cmd(csv: Path, out: Path, args: argparse.Namespace) -> list[str]:
    if args.console:
        return [str(BIN / "cib-detect"), "network", *ours_args(csv, out, args)]
    return [sys.executable, "-c", REGISTERED, "network", *ours_args(csv, out, args)]


def lean_cmd(csv: Path, out: Path, args: argparse.Namespace) -> list[str]:
    return [sys.executable, "-m", "cib_detect.cli_network", *ours_args(csv, out, args)]


def bench_size(size: int, args: argparse.Namespace) -> SizeResult:
    label = size_label(size)
    csv = ensure_csv(size, args.data_dir)
    res = SizeResult(size, label, str(csv.relative_to(REPO)), round(csv.stat().st_size / 2**20, 1))
    work = args.out_dir / f"compat_{label}"
    work.mkdir(parents=True, exist_ok=True)
    theirs, mine = work / "toolkit.graphml", work / "cib.graphml"
    for i in range(args.repeat):
        print(f"[compat] {label}: cib-detect run {i + 1}/{args.repeat}", flush=True)
        res.registered.append(run(registered_cmd(csv, mine, args), work / f"cib_{i}"))
        res.lean.append(run(lean_cmd(csv, mine, args), work / f"cib_lean_{i}"))
        floor_cmd = [sys.executable, "-c", FLOOR, *ours_args(csv, mine, args)]
        res.floor.append(run(floor_cmd, work / f"floor_{i}"))
    for i in range(args.toolkit_repeat):
        print(f"[compat] {label}: toolkit run {i + 1}/{args.toolkit_repeat}", flush=True)
        db = work / "toolkit.db"
        for f in work.glob("toolkit.db*"):
            f.unlink()
        steps: list[Run] = []
        for j, cmd in enumerate(toolkit_cmds(csv, db, theirs, args)):
            r = run(cmd, work / f"toolkit_{i}_{j}", timeout=args.toolkit_timeout, tree=True)
            steps.append(r)
            if r.returncode != 0 or r.timed_out:
                break
        res.toolkit_steps.append(steps)
        res.toolkit.append(
            Run(
                cmd=["(preprocess + compute)"],
                returncode=max(s.returncode for s in steps),
                wall_s=round(sum(s.wall_s for s in steps), 3),
                peak_rss_mb=max(s.peak_rss_mb for s in steps),
                tree_rss_mb=max(s.tree_rss_mb or 0.0 for s in steps),
                timed_out=any(s.timed_out for s in steps) or len(steps) < 2,
            )
        )
        for f in work.glob("toolkit.db*"):
            f.unlink()
    if theirs.is_file() and mine.is_file() and not any(t.timed_out for t in res.toolkit):
        res.identical = theirs.read_bytes() == mine.read_bytes()
    if mine.is_file():
        res.edges = mine.read_bytes().count(b"<edge ")
    return res


def median(runs: list[Run]) -> float | None:
    ok = [r.wall_s for r in runs if r.returncode == 0 and not r.timed_out]
    return statistics.median(ok) if ok else None


def markdown(results: list[SizeResult], args: argparse.Namespace, cmdline: str) -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        SECTION,
        "",
        f"Run {when} on {platform.node() or 'this machine'} ({os.cpu_count()} cores, "
        f"Python {platform.python_version()}), by",
        "",
        "```bash",
        cmdline,
        "```",
        "",
        f"Network `{args.network}`, window {args.window} s, minimum edge weight "
        f"{args.min_weight}; input: the synthetic world in the toolkit's CSV layout (every "
        "event a message sharing its target as url). Each tool runs as whole processes on "
        "the same CSV and writes GraphML; the files are compared byte for byte. Commands "
        "(see `benchmarks/compat_bench.py`):",
        "",
        "```bash",
        "compute_networks DB preprocess CSV",
        f"compute_networks DB compute {args.network} --time_window {args.window} "
        f"--min_edge_weight {args.min_weight} --output_file toolkit.graphml",
        f"cib-detect network CSV --profile cnt --network {args.network} --time-window "
        f"{args.window} --min-edge-weight {args.min_weight} --out cib.graphml",
        "python -m cib_detect.cli_network CSV ...   # the same command, run as a module",
        "```",
        "",
        "The `cib-detect network` column runs "
        + (
            "the `cib-detect` console script."
            if args.console
            else "`python -c` that registers the command in the `cib-detect` app, as "
            '`cib_detect/cli.py` registers it (`app.command("network")(network)`).'
        ),
        "",
        "| rows | CSV MB | toolkit s (preprocess + compute) | toolkit peak RSS MB (process / tree) "
        "| cib-detect network s | `python -m` s | in-process s | cib-detect peak RSS MB "
        "| speed-up | speed-up (`-m`) | identical | edges |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        t = r.toolkit[0] if r.toolkit else None
        mine, lean = median(r.registered), median(r.lean)
        if t is None or t.timed_out or t.returncode != 0:
            tk = f"did not finish in {args.toolkit_timeout:.0f} s" if t else "not run"
            ratio = ratio_lean = "—"
            tk_mem = "—"
        else:
            steps = r.toolkit_steps[0]
            tk = f"{t.wall_s:.1f} ({steps[0].wall_s:.1f} + {steps[1].wall_s:.1f})"
            tk_mem = f"{t.peak_rss_mb:.0f} / {t.tree_rss_mb:.0f}"
            ratio = f"{t.wall_s / mine:.1f}×" if mine else "—"
            ratio_lean = f"{t.wall_s / lean:.1f}×" if lean else "—"
        mem = max((x.peak_rss_mb for x in r.registered), default=0.0)
        inproc = [x.inproc_s for x in r.lean if x.inproc_s is not None]
        inp = f"{statistics.median(inproc):.2f}" if inproc else "—"
        lines.append(
            f"| {r.size:,} | {r.csv_mb:.0f} | {tk} | {tk_mem} | "
            f"{mine:.2f} | {lean:.2f} | {inp} | {mem:.0f} | {ratio} | {ratio_lean} | "
            f"{'yes' if r.identical else 'no' if r.identical is False else '—'} | "
            f"{r.edges if r.edges is not None else '—'} |"
            if mine is not None and lean is not None
            else f"| {r.size:,} | {r.csv_mb:.0f} | {tk} | {tk_mem} | failed | failed | — | — | — "
            "| — | — | — |"
        )
    lines += [
        "",
        "cib-detect times are medians of "
        f"{args.repeat} runs after a warm-up run (Numba's cache filled); all runs: "
        + "; ".join(
            f"{r.label}: "
            + ", ".join(f"{x.wall_s:.2f}" for x in r.registered)
            + " / `-m` "
            + ", ".join(f"{x.wall_s:.2f}" for x in r.lean)
            for r in results
        )
        + ". In-process: the command's own timing (`--json`), from parsing its options "
        "to the written file, without interpreter start-up, imports and exit.",
        "",
        "Floor: the least any run of the command does, as a process (`python -c FLOOR CSV "
        "OPTIONS`, `FLOOR` in `benchmarks/compat_bench.py`): the interpreter, the command's "
        "imports (typer parsing the options, which imports pydantic; NumPy, Arrow, Numba), "
        "every kernel of the run loaded from Numba's cache on a thread while the CSV is "
        "parsed, and exit; no network computed, nothing written. Medians of "
        f"{args.repeat}: "
        + "; ".join(
            f"{r.label}: {median(r.floor) or float('nan'):.2f} s"
            + (
                f" (toolkit / floor {r.toolkit[0].wall_s / (median(r.floor) or 1):.0f}×)"
                if r.toolkit and not r.toolkit[0].timed_out and r.toolkit[0].returncode == 0
                else ""
            )
            for r in results
        )
        + ". No run of the command can be faster, so toolkit / floor bounds its speed-up.",
        "",
    ]
    return "\n".join(lines)


def write_section(path: Path, text: str) -> None:
    """Replace this section of ``path`` (up to the next ``## `` heading)."""
    doc = path.read_text(encoding="utf-8")
    start = doc.index(SECTION)
    nxt = doc.find("\n## ", start + len(SECTION))
    end = len(doc) if nxt < 0 else nxt + 1
    path.write_text(doc[:start] + text.rstrip("\n") + "\n" + doc[end:], encoding="utf-8")


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1e5,1e6", help="comma-separated row counts")
    ap.add_argument("--network", default="co_link")
    ap.add_argument("--window", type=int, default=60)
    ap.add_argument("--min-weight", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="cib-detect runs per size")
    ap.add_argument("--toolkit-repeat", type=int, default=1)
    ap.add_argument("--toolkit-timeout", type=float, default=3600.0, help="seconds")
    ap.add_argument("--data-dir", type=Path, default=HERE / "data")
    ap.add_argument("--out-dir", type=Path, default=HERE / "out")
    ap.add_argument("--results", type=Path, help="replace its compatibility section")
    ap.add_argument("--json", type=Path, default=HERE / "out" / "compat_bench.json")
    ap.add_argument("--make-csv", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(list(argv) if argv is not None else None)
    if args.make_csv:
        make_csv(args.make_csv, args.data_dir)
        return 0
    sizes = sorted(parse_count(s) for s in args.sizes.split(","))
    cmdline = " ".join(
        [
            ".venv/bin/python benchmarks/compat_bench.py",
            *(argv if argv is not None else sys.argv[1:]),
        ]
    )
    first = ensure_csv(sizes[0], args.data_dir)
    warm = args.out_dir / "compat_warm.graphml"
    print("[compat] warm-up run (Numba cache)", flush=True)
    run(lean_cmd(first, warm, args), args.out_dir / "compat_warm")
    args.console = console_has_network()
    results = []
    for size in sizes:
        res = bench_size(size, args)
        results.append(res)
        print(json.dumps(asdict(res))[:2000], flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps({"sizes": [asdict(r) for r in results]}, indent=1),
        encoding="utf-8",
    )
    text = markdown(results, args, cmdline)
    print(text)
    if args.results:
        write_section(args.results, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
