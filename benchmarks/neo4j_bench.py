"""Throughput of the Neo4j store: ingest, columnar export, and ``detect --from-neo4j``.

    .venv/bin/cib-detect neo4j start
    .venv/bin/python benchmarks/neo4j_bench.py --sizes 1e5,1e6 --detect-size 1e6 \
        --results benchmarks/RESULTS.md

First a warm-up, not measured: the ``--warmup`` world is ingested into the emptied
database and exported, in rounds, until the time the server's JIT compiler spent
compiling in a round is under ``--warmup-jit`` of the server's CPU time in that round (at
most ``--warmup-rounds`` rounds). A freshly started JVM spends about 30 % of its CPU
during its first 10^6 events compiling Neo4j's hot paths, and runs slower code until
they are compiled, so a short warm-up leaves compilation inside the measured steps. The
warm-up rounds are reported too; with ``--restart`` the local server is restarted
first, so the first round is the ingest of a cold server.

Then, for each size: the database is emptied (schema kept), the world file
``benchmarks/data/world_<size>_s<seed>.parquet`` (generated when missing) is ingested with
``cib-detect ingest`` and then ingested again (all duplicates), and the stored events are
exported back into an ``EventTable`` (``export_events``, in this process, best of
``--repeat``). At ``--detect-size`` it also times ``cib-detect detect --from-neo4j`` and, for
comparison, ``cib-detect detect`` on the same file, and checks both give the same clusters.

Reported per step: wall time, events/s, CPU seconds of the Neo4j server (read from
``/proc`` when the local server runs here) and how long its JIT compiler was compiling
(``java.ci.totalTime`` from ``jcmd PerfCounter.print``: the elapsed time of the
compilations, an upper bound of their CPU), of the client, and of every other process of the machine
during the step (on a shared machine, what the benchmark competed with).
``--results`` rewrites the "## Neo4j store" section of RESULTS.md (and nothing else). It
empties the database: do not point it at data you want to keep.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import re
import resource
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
try:
    import cib_detect  # noqa: F401
except ImportError:  # run from a checkout without the package installed
    sys.path.insert(0, str(REPO))

from make_world import parse_count, size_label  # noqa: E402

from cib_detect.config import load_settings  # noqa: E402
from cib_detect.store import local_neo4j  # noqa: E402
from cib_detect.store.export import export_events  # noqa: E402
from cib_detect.store.graph_store import GraphStore  # noqa: E402
from cib_detect.store.schema import apply_schema  # noqa: E402
from cib_detect.synthetic import generate_world, write_world  # noqa: E402

SECTION = "## Neo4j store (`cib-detect ingest`, `detect --from-neo4j`)"
WIPE = (
    "MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 20000 ROWS",
    "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 20000 ROWS",
)


@dataclass
class Step:
    name: str
    events: int
    wall_s: float
    server_cpu_s: float | None
    client_cpu_s: float | None
    command: str
    other_cpu_s: float | None = None
    server_jit_s: float | None = None  # time the JIT compiled (elapsed; bounds its CPU)
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.events / self.wall_s if self.wall_s > 0 else 0.0


class ServerCpu:
    """CPU seconds used by the local Neo4j JVM (None when it does not run here)."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid

    def read(self) -> float | None:
        if self.pid is None:
            return None
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def jit(self) -> float | None:
        """Seconds the JVM's JIT compiler has spent compiling so far (the elapsed time of
        its compilations, which is at least their CPU time)."""
        if self.pid is None or shutil.which("jcmd") is None:
            return None
        try:
            out = subprocess.run(
                ["jcmd", str(self.pid), "PerfCounter.print"],
                capture_output=True, text=True, timeout=30, check=False,
            ).stdout  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            return None
        kv = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        try:
            return int(kv["java.ci.totalTime"]) / int(kv["sun.os.hrt.frequency"])
        except (KeyError, ValueError, ZeroDivisionError):
            return None


def machine_cpu() -> float | None:
    """CPU seconds all processes of the machine used so far (from ``/proc/stat``)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _self_cpu() -> float:
    return time.process_time()


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def run_cli(cmd: list[str], server: ServerCpu, name: str, events: int) -> tuple[Step, Any]:
    j0 = server.jit()
    m0, s0, c0, t0 = machine_cpu(), server.read(), _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    m1 = machine_cpu()
    if proc.returncode != 0:
        raise SystemExit(
            f"[neo4j-bench] failed ({proc.returncode}): {shlex.join(cmd)}\n{proc.stderr[-3000:]}"
        )
    doc = json.loads(proc.stdout)
    step = Step(name, events, wall, _diff(s0, server.read()), _children_cpu() - c0, _display(cmd))
    step.other_cpu_s = _other(m0, m1, step)
    step.server_jit_s = _diff(j0, server.jit())
    return step, doc


def probe_ms() -> float:
    """Milliseconds a fixed single-threaded CPU task takes now (best of three).

    Timed right before each ingest run: a flag for a machine that is slower across the
    board (its host busy). It follows the database's emptying, so the server's
    background writes after it can lift it too; it does not explain every slow run."""
    best = float("inf")
    block = bytes(range(256)) * 4096  # 1 MiB
    for _ in range(3):
        t0 = time.perf_counter()
        h = hashlib.sha256()
        for _ in range(48):
            h.update(block)
        acc = 0
        for i in range(300_000):
            acc = (acc * 31 + i) & 0xFFFFFFFF
        best = min(best, time.perf_counter() - t0)
    return round(1e3 * best, 1)


def _other(m0: float | None, m1: float | None, step: Step) -> float | None:
    """CPU seconds other processes of the machine used during the step."""
    if m0 is None or m1 is None or step.server_cpu_s is None or step.client_cpu_s is None:
        return None
    return max(0.0, (m1 - m0) - step.server_cpu_s - step.client_cpu_s)


def _display(cmd: list[str]) -> str:
    """The command as a user types it from the repository root."""
    parts = []
    for c in cmd:
        p = Path(c)
        if p.is_absolute() and REPO in p.parents:
            c = str(p.relative_to(REPO))
        parts.append(c)
    return shlex.join(parts)


def ensure_world(n: int, seed: int, data_dir: Path) -> Path:
    path = data_dir / f"world_{size_label(n)}_s{seed}.parquet"
    if not path.exists():
        print(f"[neo4j-bench] generating {path.name}", flush=True)
        write_world(generate_world(n, seed), path)
    return path


def wipe(store: GraphStore) -> None:
    for statement in WIPE:
        store.autocommit(statement, timeout_s=3600)
    apply_schema(store)


def measure_export(
    store: GraphStore, server: ServerCpu, repeat: int, with_ids: bool, use_copies: bool = True
) -> tuple[Step, dict[str, Any]]:
    best: Step | None = None
    stats_best: dict[str, Any] = {}
    walls = []
    for _ in range(repeat):
        j0 = server.jit()
        m0, s0, c0, t0 = machine_cpu(), server.read(), _self_cpu(), time.perf_counter()
        events, stats = export_events(store, with_event_ids=with_ids, use_copies=use_copies)
        wall = time.perf_counter() - t0
        m1 = machine_cpu()
        walls.append(wall)
        name = "export with event ids" if with_ids else "export -> EventTable"
        args = (", with_event_ids=True" if with_ids else "") + (
            "" if use_copies else ", use_copies=False"
        )
        step = Step(
            name if use_copies else f"{name} (relationship scan)",
            events.n,
            wall,
            _diff(s0, server.read()),
            _self_cpu() - c0,
            f"export_events(store{args})",
        )
        step.other_cpu_s = _other(m0, m1, step)
        step.server_jit_s = _diff(j0, server.jit())
        del events
        if best is None or wall < best.wall_s:
            best, stats_best = step, stats.as_record()
    assert best is not None
    best.detail = {"runs": repeat, "walls": [round(w, 3) for w in walls], **stats_best}
    return best, stats_best


def _per_event(cpu_s: float | None, events: int) -> str:
    """CPU microseconds per event, for the progress lines."""
    return "–" if cpu_s is None or not events else f"{1e6 * cpu_s / events:.1f}"


def _fmt(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def markdown(steps: list[Step], meta: dict[str, Any], bench_cmd: str) -> str:
    lines = [
        SECTION,
        "",
        f"Run {meta['when']} on {meta['machine']}; Neo4j {meta['neo4j']} Community "
        f"(local server from `cib-detect neo4j start`: heap 4 GiB, page cache 512 MiB), "
        f"driver neo4j {meta['driver']} with neo4j-rust-ext {meta['rust_ext']}, "
        f"`--batch-size {meta['batch_size']} --workers {meta['workers']}`."
        + (
            " The settings below give the benchmark a local server of its own (port, home), "
            "so that nothing else writes to its database while it runs."
            if _env_prefix()
            else ""
        )
        + " Command:",
        "",
        "```bash",
        f"{_env_prefix()}.venv/bin/cib-detect neo4j start",
        f"{_env_prefix()}{bench_cmd}",
        "```",
        "",
        "| step | events | wall s | events/s | Neo4j CPU s | JIT compiling s | client CPU s "
        "| other CPU s | command |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in steps:
        lines.append(
            f"| {s.name} | {s.events:,} | {s.wall_s:.2f} | {s.rate:,.0f} | "
            f"{_fmt(s.server_cpu_s)} | {_fmt(s.server_jit_s, 1)} | {_fmt(s.client_cpu_s)} | "
            f"{_fmt(s.other_cpu_s)} | `{s.command}` |"
        )
    lines.append("")
    warm = meta.get("warmup", [])
    if warm:
        lines += [
            f"Warm-up (not in the table): {len(warm)} round(s) of ingest + export of "
            f"{meta['warmup_world']} into the emptied database"
            + (
                ", the first right after a restart of the server (cold JIT)"
                if meta["restarted"]
                else ""
            )
            + ": ingest "
            + "; ".join(
                f"{w['rate']:,.0f} events/s (Neo4j {_per_event(w['server_cpu_s'], w['events'])} "
                f"µs per event, JIT {_fmt(w['server_jit_s'], 1)} s)"
                for w in warm
            )
            + f". It stops after a round in which the JIT compiled for less than "
            f"{meta['warmup_jit']:.0%} of the server's CPU time (at most "
            f"{meta['warmup_rounds']} rounds).",
            "",
        ]
    lines.extend(meta.get("notes", []))
    return "\n".join(lines).rstrip() + "\n"


def _env_prefix() -> str:
    """``CIB_NEO4J__*`` settings of this run (not the password), as a shell prefix."""
    names = ("CIB_NEO4J__URI", "CIB_NEO4J__BOLT_PORT", "CIB_NEO4J__HOME", "CIB_NEO4J__DATABASE")
    parts = [f"{n}={shlex.quote(os.environ[n])}" for n in names if n in os.environ]
    return " ".join(parts) + " " if parts else ""


def replace_section(path: Path, body: str, section: str = SECTION) -> None:
    """Rewrite one section of RESULTS.md (up to the next ``## `` heading)."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    start = text.find(section)
    if start < 0:
        text = text.rstrip() + "\n\n" + body
    else:
        m = re.compile(r"^## ", re.M).search(text, start + len(section))
        end = m.start() if m else len(text)
        text = text[:start] + body + ("\n" + text[end:] if m else "")
    path.write_text(text, encoding="utf-8")


def notes(steps: list[Step]) -> list[str]:
    """What the numbers say about the limits (CPU per event of server and client)."""
    out = ["What limits it (CPU per event, from the table):", ""]
    for s in steps:
        if s.server_cpu_s is None or not s.events or not s.name.startswith(("ingest", "export")):
            continue
        us_server = 1e6 * s.server_cpu_s / s.events
        us_client = 1e6 * (s.client_cpu_s or 0.0) / s.events
        bound = 2e6 / max(us_server + us_client, 1e-9)
        runs = s.detail.get("ingest_runs")
        seen = ""
        if runs and len(runs) > 1:
            rates = sorted(r["rate"] for r in runs)
            seen = (
                f" (the median of {len(runs)} runs; the best {rates[-1]:,}, the slowest "
                f"{rates[0]:,}; per run: events/s, Neo4j µs per event, machine probe ms: "
                + "; ".join(f"{r['rate']:,}, {r['server_us']}, {r['probe_ms']}" for r in runs)
                + ")"
            )
        jit = (
            f" (JIT compiling {1e6 * s.server_jit_s / s.events:.1f} µs)"
            if s.server_jit_s is not None
            else ""
        )
        out.append(
            f"- {s.name}, {s.events:,} events: Neo4j {us_server:.1f} µs{jit} + client "
            f"{us_client:.1f} µs; two fully busy cores would allow about {bound:,.0f} "
            f"events/s, measured {s.rate:,.0f}{seen}."
        )
    out += [
        "",
        "- **Ingest** is bound by Neo4j's CPU: each new event is one `ACTED` relationship with "
        "four properties, an entry in the `eventId` uniqueness index, MERGEd endpoints and its "
        "share of the commit. The writers take batches from cells of an account x target hash "
        "grid that no other writer holds (`cib_detect/store/ingest_plan.py`), so they never "
        "wait for each other's node locks; the id check is a separate, lock-free read. What is "
        "left is CPU: on two cores shared by the JVM, the client and "
        "(see 'other CPU s') the other processes of this machine, the rate moves with the "
        "machine's load. Re-ingesting a stored file reads and writes only the batch receipts.",
        "- **Export** reads the columnar copy each ingest batch writes on its receipt node "
        "(`cib_detect/store/columns.py`): per ~5k events a few fixed-width columns (strings of "
        "their bytes) and key lists, decoded by NumPy without a Python object per event; it is "
        "used when the copies hold exactly as many events as there are `ACTED` relationships, "
        "else export scans the relationships. The relationship scan (its own row) costs the "
        "server a relationship expansion plus the property reads of every event (slotted "
        "runtime; Community has no pipelined runtime) and the client the decoding of about five"
        " values per event.",
        "- Inside `detect --from-neo4j` the export shares the process with the engine's "
        "kernel loading and the write-back; it also ran alongside other processes here.",
    ]
    return out


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Benchmark the Neo4j store.")
    ap.add_argument("--sizes", default="1e5,1e6", help="comma-separated event counts")
    ap.add_argument(
        "--detect-size",
        type=lambda t: 0 if t.strip() == "0" else parse_count(t),
        default=1_000_000,
        help="size at which detect --from-neo4j is timed (0: never)",
    )
    ap.add_argument(
        "--ingest-only",
        action="store_true",
        help="time the ingest steps only (no export, no detect)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", type=Path, default=HERE / "data")
    ap.add_argument("--out-dir", type=Path, default=HERE / "out")
    ap.add_argument("--cli", default=str(REPO / ".venv" / "bin" / "cib-detect"))
    ap.add_argument("--neo4j", default=None, help="Bolt URI (default CIB_NEO4J__URI)")
    ap.add_argument("--batch-size", type=int, default=5_000)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3, help="export runs (best is reported)")
    ap.add_argument(
        "--ingest-repeat",
        type=int,
        default=1,
        help="ingest runs per size, each into an emptied database (the table shows the median run)",
    )
    ap.add_argument(
        "--warmup",
        type=parse_count,
        default=1_000_000,
        help="events of the world ingested and exported in each warm-up round (0: no warm-up)",
    )
    ap.add_argument(
        "--warmup-jit",
        type=float,
        default=0.05,
        help="warm-up ends after a round in which the server's JIT compiled for less than this "
        "share of the server's CPU time",
    )
    ap.add_argument("--warmup-rounds", type=int, default=4, help="most warm-up rounds")
    ap.add_argument(
        "--restart",
        action="store_true",
        help="restart the local server first (the first warm-up round is then a cold ingest)",
    )
    ap.add_argument("--results", type=Path, default=None, help="rewrite the Neo4j section")
    ap.add_argument("--json-out", type=Path, default=None)
    args = ap.parse_args(list(argv) if argv is not None else None)
    raw = list(argv) if argv is not None else sys.argv[1:]
    bench_cmd = shlex.join([".venv/bin/python", "benchmarks/neo4j_bench.py", *raw])

    settings = load_settings().neo4j
    uri = args.neo4j or settings.uri
    if args.restart:
        local_neo4j.stop(settings)
        local_neo4j.start(settings)
    status = local_neo4j.status(settings)
    server = ServerCpu(status["pid"] if status["running"] and uri == settings.uri else None)
    sizes = sorted({parse_count(s) for s in args.sizes.split(",") if s.strip()})
    if args.ingest_only:
        args.detect_size = 0
    if args.detect_size and args.detect_size not in sizes:
        sizes = sorted({*sizes, args.detect_size})
    args.data_dir.mkdir(parents=True, exist_ok=True)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    common = ["--batch-size", str(args.batch_size), "--workers", str(args.workers)]
    uri_args = ["--neo4j", args.neo4j] if args.neo4j else []

    def ingest_cmd(world: Path) -> list[str]:
        return [args.cli, "ingest", str(world), "--json", *common, *uri_args]

    steps: list[Step] = []
    details: dict[str, Any] = {}
    warmup: list[dict[str, Any]] = []

    with GraphStore.open(settings, uri) as store:
        if args.warmup:
            world = ensure_world(args.warmup, args.seed, args.data_dir)
            for r in range(1, args.warmup_rounds + 1):
                wipe(store)
                step, doc = run_cli(ingest_cmd(world), server, "", 0)
                step.events = int(doc["events"])
                warmup.append({k: getattr(step, k) for k in (
                    "events", "wall_s", "server_cpu_s", "server_jit_s", "rate")})  # fmt: skip
                export_events(store)
                share = (step.server_jit_s or 0.0) / max(step.server_cpu_s or 0.0, 1e-9)
                print(
                    f"[neo4j-bench] warm-up {r} on {world.name} (not measured): "
                    f"{step.rate:,.0f} events/s, JIT {_fmt(step.server_jit_s, 1)} s of "
                    f"{_fmt(step.server_cpu_s, 1)} s server CPU",
                    flush=True,
                )
                if step.server_jit_s is None or share < args.warmup_jit:
                    break
        for n in sizes:
            world = ensure_world(n, args.seed, args.data_dir)
            print(f"[neo4j-bench] {world.name}: emptying the database", flush=True)
            wipe(store)
            cmd = ingest_cmd(world)
            keys = ("new", "duplicate", "invalid", "retries", "seconds", "events_per_second")
            runs: list[Step] = []
            for attempt in range(args.ingest_repeat):
                if attempt:
                    wipe(store)
                probe = probe_ms()
                step, doc = run_cli(cmd, server, "ingest (new events)", 0)
                step.events = int(doc["events"])
                step.detail = {k: doc[k] for k in keys}
                step.detail["probe_ms"] = probe
                runs.append(step)
                print(
                    f"[neo4j-bench]   ingest (new events): {step.rate:,.0f} events/s "
                    f"({doc['new']:,} new, {doc['duplicate']:,} duplicate; per event: "
                    f"Neo4j {_per_event(step.server_cpu_s, step.events)} µs, client "
                    f"{_per_event(step.client_cpu_s, step.events)} µs; "
                    f"other CPU {_fmt(step.other_cpu_s)} s; machine probe {probe} ms)",
                    flush=True,
                )
            # the table shows the median run (the lower middle one of an even count)
            median = sorted(runs, key=lambda r: r.rate)[(len(runs) - 1) // 2]
            median.detail["ingest_runs"] = [
                {"rate": round(r.rate), "server_us": _per_event(r.server_cpu_s, r.events),
                 "client_us": _per_event(r.client_cpu_s, r.events),
                 "probe_ms": r.detail["probe_ms"], "retries": r.detail["retries"]}
                for r in runs
            ]  # fmt: skip
            steps.append(median)
            step, doc = run_cli(cmd, server, "re-ingest (all duplicates)", 0)
            step.events = int(doc["events"])
            step.detail = {k: doc[k] for k in keys}
            steps.append(step)
            print(
                f"[neo4j-bench]   re-ingest: {step.rate:,.0f} events/s "
                f"({doc['new']:,} new, {doc['duplicate']:,} duplicate; per event: "
                f"Neo4j {_per_event(step.server_cpu_s, step.events)} µs, client "
                f"{_per_event(step.client_cpu_s, step.events)} µs)",
                flush=True,
            )
            if args.ingest_only:
                continue
            for with_ids, copies in ((False, True), (True, True), (False, False)):
                step, stats = measure_export(store, server, args.repeat, with_ids, copies)
                steps.append(step)
                print(
                    f"[neo4j-bench]   {step.name}: {step.rate:,.0f} events/s "
                    f"({stats['source']}) {stats['timings']}",
                    flush=True,
                )
            if n == args.detect_size:
                out_neo = args.out_dir / f"{world.stem}.from-neo4j.clusters.json"
                out_file = args.out_dir / f"{world.stem}.clusters.json"
                cmd = [
                    args.cli,
                    "detect",
                    "--from-neo4j",
                    *([args.neo4j] if args.neo4j else []),
                    "--out",
                    str(out_neo),
                    "--json",
                ]
                step, doc = run_cli(cmd, server, "detect --from-neo4j", n)
                step.events = int(doc["input"]["rows"])
                t = doc["timings"]
                step.detail = {
                    "export": doc["export"]["seconds"],
                    "engine": round(t["total_before_write"] - t["read"], 3),
                    "write_back": t["write_back"],
                    "clusters": doc["clusters"],
                    "run_id": doc["run_id"],
                }
                steps.append(step)
                fstep, _ = run_cli(
                    [args.cli, "detect", str(world), "--out", str(out_file), "--json"],
                    server,
                    "detect (file, for comparison)",
                    n,
                )
                steps.append(fstep)
                a = json.loads(out_neo.read_text(encoding="utf-8"))["clusters"]
                b = json.loads(out_file.read_text(encoding="utf-8"))["clusters"]
                details["same_clusters"] = a == b
                print(
                    f"[neo4j-bench]   detect --from-neo4j {step.wall_s:.1f}s "
                    f"{step.detail}; file {fstep.wall_s:.1f}s; same clusters: {a == b}",
                    flush=True,
                )

    meta = {
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "neo4j": settings.version,
        "driver": metadata.version("neo4j"),
        "rust_ext": _version("neo4j-rust-ext"),
        "batch_size": args.batch_size,
        "workers": args.workers,
        "warmup": warmup,
        "warmup_world": f"world_{size_label(args.warmup)}_s{args.seed}" if args.warmup else "",
        "warmup_jit": args.warmup_jit,
        "warmup_rounds": args.warmup_rounds,
        "restarted": args.restart,
    }
    detect_steps = [s for s in steps if s.name == "detect --from-neo4j"]
    extra = []
    for s in detect_steps:
        extra.append(
            f"`detect --from-neo4j` at {s.events:,} events: export {s.detail['export']:.2f} s, "
            f"engine {s.detail['engine']:.2f} s, write-back {s.detail['write_back']:.2f} s "
            f"({s.detail['clusters']} clusters); the wall time includes the process start. "
            f"Same clusters as `detect` on the file: {details.get('same_clusters')}."
        )
        extra.append("")
    meta["notes"] = [*extra, *notes(steps)]
    table = markdown(steps, meta, bench_cmd)
    print()
    print(table)
    if args.results:
        replace_section(args.results, table)
        print(f"[neo4j-bench] rewrote the Neo4j section of {args.results}")
    if args.json_out:
        args.json_out.write_text(
            json.dumps(
                {
                    "meta": meta,
                    "details": details,
                    "steps": [{**s.__dict__, "rate": s.rate} for s in steps],
                },
                indent=1,
            ),
            encoding="utf-8",
        )
    return 0


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


if __name__ == "__main__":
    raise SystemExit(main())
