"""Scaling sweep: generate worlds, run the detector as a whole process, time it, score it.

    python benchmarks/sweep.py --sizes 1e5,1e6,2e6,1e7 --results benchmarks/RESULTS.md

For each size (ascending) the world is generated as parquet under ``--data-dir`` (cached:
an existing world and truth are reused), then the detector runs in a fresh child process,

    .venv/bin/cib-detect detect WORLD --out OUT --json

and its wall time and peak RSS are taken from ``os.wait4`` on that child alone (so the
RSS is per size, not the maximum over the sweep). One warm-up run on the smallest world
comes first so that Numba's on-disk cache is compiled and no size pays for compilation.
Each run is scored with ``score.py``; a markdown table (size, rows, wall s, events/s,
peak RSS MB, F1, campaigns recovered, trap FP %, P@10) is printed and, with
``--results FILE``, appended to FILE. ``--detector-cmd`` replaces the command (fields
``{cli} {python} {world} {out} {repo}``), e.g. to time a dummy. ``--repeat N`` runs the
detector N times per size (the row is the median run; every run's read→JSON time is listed,
and the runs' clusters must be identical).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from make_world import parse_count, size_label  # noqa: E402
from score import score_files  # noqa: E402

DEFAULT_SIZES = "1e5,1e6,2e6,1e7"
DEFAULT_CMD = "{cli} detect {world} --out {out} --json"


@dataclass
class Measured:
    cmd: list[str]
    returncode: int
    wall_s: float
    peak_rss_mb: float
    stdout: str
    stderr: str
    timed_out: bool = False


@dataclass
class Row:
    size: int
    label: str
    world: str
    rows: int = 0
    gen_s: float | None = None
    gen_rss_mb: float | None = None
    run: Measured | None = None
    summary: Any = None
    clusters_file: str | None = None
    score: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    repeats: list[tuple[float | None, float, float]] = field(default_factory=list)


def run_measured(
    cmd: list[str], log_prefix: Path, timeout: float | None = None, cwd: Path = REPO
) -> Measured:
    """Run ``cmd`` as a child; wall time and the child's own peak RSS (via ``os.wait4``)."""
    log_prefix.parent.mkdir(parents=True, exist_ok=True)
    out_path = log_prefix.with_name(log_prefix.name + ".stdout")
    err_path = log_prefix.with_name(log_prefix.name + ".stderr")
    timed_out = threading.Event()
    with out_path.open("wb") as fo, err_path.open("wb") as fe:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL, cwd=cwd)
        timer = None
        if timeout:

            def _kill() -> None:
                timed_out.set()
                proc.kill()

            timer = threading.Timer(timeout, _kill)
            timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            if timer is not None:
                timer.cancel()
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Measured(
        cmd=cmd,
        returncode=proc.returncode,
        wall_s=wall,
        peak_rss_mb=usage.ru_maxrss / 1024.0,  # Linux: kilobytes
        stdout=out_path.read_text(encoding="utf-8", errors="replace"),
        stderr=err_path.read_text(encoding="utf-8", errors="replace"),
        timed_out=timed_out.is_set(),
    )


def parse_summary(stdout: str) -> Any:
    """The JSON summary the detector prints (whole stdout, or its last JSON line)."""
    text = stdout.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    start = text.rfind("\n{")
    if start >= 0:
        try:
            return json.loads(text[start + 1 :])
        except json.JSONDecodeError:
            pass
    for line in reversed(text.splitlines()):
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            continue
    return None


def _strings(obj: Any) -> Iterable[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def find_clusters(out: Path, summary: Any) -> Path | None:
    """Where the detector wrote clusters.json: OUT itself, inside OUT, or named in the summary."""
    if out.is_file():
        return out
    if out.is_dir():
        direct = out / "clusters.json"
        if direct.is_file():
            return direct
        found = sorted(out.rglob("*clusters*.json"))
        if found:
            return found[0]
    for s in _strings(summary):
        if s.endswith(".json") and "cluster" in s:
            p = Path(s) if Path(s).is_absolute() else REPO / s
            if p.is_file():
                return p
    return None


def ensure_world(size: int, seed: int, data_dir: Path, regenerate: bool, row: Row) -> Path:
    world = data_dir / f"world_{size_label(size)}_s{seed}.parquet"
    truth = world.with_name(world.stem + ".truth.json")
    if regenerate or not (world.is_file() and truth.is_file()):
        print(f"[sweep] generating {world.name} ...", flush=True)
        m = run_measured(
            [
                sys.executable,
                str(HERE / "make_world.py"),
                "--events",
                str(size),
                "--seed",
                str(seed),
                "--out",
                str(world),
            ],
            data_dir / "logs" / f"make_{world.stem}",
        )
        if m.returncode != 0:
            raise RuntimeError(f"make_world failed ({m.returncode}): {m.stderr[-2000:]}")
        row.gen_s, row.gen_rss_mb = m.wall_s, m.peak_rss_mb
        print(
            f"[sweep]   generated in {m.wall_s:.1f}s, peak RSS {m.peak_rss_mb:.0f} MB", flush=True
        )
    return world


def count_rows(world: Path) -> int:
    try:
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(world).metadata.num_rows)
    except Exception:
        truth = json.loads(world.with_name(world.stem + ".truth.json").read_text())
        return int(truth["n_events"])


def build_cmd(template: str, cli: str, world: Path, out: Path) -> list[str]:
    fields = {
        "cli": cli,
        "python": sys.executable,
        "world": str(world),
        "out": str(out),
        "repo": str(REPO),
    }
    return [part.format(**fields) for part in shlex.split(template)]


def clear(out: Path, out_root: Path) -> None:
    """Remove a previous run's output (only ever below the sweep's own output folder)."""
    if out_root.resolve() not in out.resolve().parents:
        return
    if out.is_dir():
        shutil.rmtree(out)
    elif out.exists():
        out.unlink()


def engine_seconds(summary: Any) -> float | None:
    """In-process seconds from reading the file to clusters.json written, if reported."""
    try:
        return float(summary["timings"]["total"])
    except (TypeError, KeyError, ValueError):
        return None


def _clusters_digest(path: Path) -> str:
    """SHA-256 of the ``clusters`` array of a clusters.json (the run header has timings)."""
    import hashlib

    data = json.loads(path.read_text(encoding="utf-8"))
    text = json.dumps(data.get("clusters"), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def markdown(rows: list[Row]) -> str:
    lines = [
        "| size | rows | read→JSON s | events/s (read→JSON) | process wall s | peak RSS MB "
        "| F1 | campaigns recovered | trap FP % | P@10 | runs: read→JSON s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        m = r.run
        if m is None or m.returncode != 0 or not r.score or "overall" not in r.score:
            why = r.error or (f"rc={m.returncode}" if m else "not run")
            wall = f"{m.wall_s:.1f}" if m else "-"
            rss = f"{m.peak_rss_mb:.0f}" if m else "-"
            lines.append(
                f"| {r.label} | {r.rows:,} | - | - | {wall} | {rss} | {why} | - | - | - | - |"
            )
            continue
        s = r.score
        inner = engine_seconds(r.summary)
        inner_s = f"{inner:.2f}" if inner else "-"
        eps = f"{r.rows / inner:,.0f}" if inner else "-"
        lines.append(
            f"| {r.label} | {r.rows:,} | {inner_s} | {eps} | {m.wall_s:.1f} | "
            f"{m.peak_rss_mb:.0f} | "
            f"{s['overall']['f1']:.3f} | {s['recovered']['recovered']}/{s['recovered']['total']} | "
            f"{100.0 * s['trap_fp']['fp_rate']:.2f} | {s['precision_at_10']['value']:.2f} | "
            + (", ".join("-" if x[0] is None else f"{x[0]:.2f}" for x in r.repeats) or "-")
            + " |"
        )
    return "\n".join(lines)


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Time and score the detector on growing worlds.")
    ap.add_argument(
        "--sizes", default=DEFAULT_SIZES, help=f"comma-separated (default {DEFAULT_SIZES})"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", type=Path, default=HERE / "data")
    ap.add_argument("--out-dir", type=Path, default=HERE / "out")
    ap.add_argument("--cli", default=str(REPO / ".venv" / "bin" / "cib-detect"))
    ap.add_argument("--detector-cmd", default=DEFAULT_CMD, help=f"default: {DEFAULT_CMD!r}")
    ap.add_argument("--extra-args", default="", help="appended to the detector command")
    ap.add_argument("--results", type=Path, default=None, help="append the markdown table here")
    ap.add_argument("--json-out", type=Path, default=None, help="write all numbers as JSON")
    ap.add_argument("--no-warmup", action="store_true")
    ap.add_argument("--regenerate", action="store_true", help="regenerate cached worlds")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per detector run")
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="detector runs per size; the row shows the median run (by read→JSON), the "
        "last column every run; the runs' clusters must be byte-identical",
    )
    args = ap.parse_args(list(argv) if argv is not None else None)

    sizes = sorted({parse_count(s) for s in args.sizes.split(",") if s.strip()})
    template = args.detector_cmd + (" " + args.extra_args if args.extra_args else "")
    uses_cli = "{cli}" in template
    if uses_cli and not Path(args.cli).exists():
        print(f"[sweep] detector CLI not found: {args.cli}", file=sys.stderr)
        return 2
    args.data_dir.mkdir(parents=True, exist_ok=True)
    args.out_dir.mkdir(parents=True, exist_ok=True)

    rows = [Row(size=n, label=size_label(n), world="") for n in sizes]
    for i, row in enumerate(rows):
        try:
            world = ensure_world(row.size, args.seed, args.data_dir, args.regenerate, row)
        except Exception as exc:
            row.error = f"generation failed: {exc}"
            print(f"[sweep] {row.error}", file=sys.stderr)
            continue
        row.world = str(world)
        row.rows = count_rows(world)

        if i == 0 and not args.no_warmup:
            out = args.out_dir / f"warmup_{world.stem}.clusters.json"
            clear(out, args.out_dir)
            print(f"[sweep] warm-up on {world.name} ...", flush=True)
            m = run_measured(
                build_cmd(template, args.cli, world, out),
                args.out_dir / "logs" / f"warmup_{world.stem}",
                args.timeout,
            )
            print(f"[sweep]   warm-up rc={m.returncode} {m.wall_s:.1f}s", flush=True)

        out = args.out_dir / f"{world.stem}.clusters.json"
        cmd = build_cmd(template, args.cli, world, out)
        print(f"[sweep] {row.label}: {shlex.join(cmd)}", flush=True)
        runs: list[tuple[Measured, Any]] = []
        outputs: set[str] = set()
        for _ in range(max(1, args.repeat)):
            clear(out, args.out_dir)
            m = run_measured(cmd, args.out_dir / "logs" / world.stem, args.timeout)
            runs.append((m, parse_summary(m.stdout)))
            if m.returncode != 0:
                break
            found = find_clusters(out, runs[-1][1])
            if found is not None:
                outputs.add(_clusters_digest(found))
        row.repeats = [(engine_seconds(sm), m.wall_s, m.peak_rss_mb) for m, sm in runs]
        ok = [r for r in runs if r[0].returncode == 0]
        m, row.summary = (
            sorted(ok, key=lambda r: engine_seconds(r[1]) or r[0].wall_s)[(len(ok) - 1) // 2]
            if len(ok) == len(runs)
            else runs[-1]
        )
        row.run = m
        if len(outputs) > 1:
            row.error = "clusters differ between repeated runs"
            print(f"[sweep]   {row.error}", file=sys.stderr)
            continue
        if m.returncode != 0:
            row.error = "timeout" if m.timed_out else f"rc={m.returncode}"
            tail = "\n".join(m.stderr.strip().splitlines()[-15:])
            print(f"[sweep]   FAILED {row.error}\n{tail}", file=sys.stderr)
            continue
        eps = row.rows / m.wall_s if m.wall_s > 0 else 0.0
        print(
            f"[sweep]   {m.wall_s:.1f}s, {eps:,.0f} events/s, peak RSS {m.peak_rss_mb:.0f} MB",
            flush=True,
        )
        clusters = find_clusters(out, row.summary)
        if clusters is None:
            row.error = "no clusters.json"
            print(f"[sweep]   no clusters file found under {out}", file=sys.stderr)
            continue
        row.clusters_file = str(clusters)
        truth = world.with_name(world.stem + ".truth.json")
        row.score = score_files(clusters, truth)
        if "error" in row.score:
            row.error = "score failed"
        else:
            s = row.score
            print(
                f"[sweep]   F1 {s['overall']['f1']:.3f}, recovered "
                f"{s['recovered']['recovered']}/{s['recovered']['total']}, trap FP "
                f"{100 * s['trap_fp']['fp_rate']:.2f}%, P@10 {s['precision_at_10']['value']:.2f}",
                flush=True,
            )

    table = markdown(rows)
    print()
    print(table)
    if args.results:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        cmd_text = template.replace("{cli}", Path(args.cli).name)
        with args.results.open("a", encoding="utf-8") as fh:
            fh.write(f"\n### sweep {stamp} (seed {args.seed}, `{cmd_text}`)\n\n{table}\n")
        print(f"\n[sweep] appended to {args.results}")
    if args.json_out:
        record = []
        for r in rows:
            run = r.run
            record.append(
                {
                    "size": r.size,
                    "rows": r.rows,
                    "world": r.world,
                    "gen_s": r.gen_s,
                    "gen_peak_rss_mb": r.gen_rss_mb,
                    "wall_s": run.wall_s if run else None,
                    "events_per_s": (r.rows / run.wall_s) if run and run.wall_s > 0 else None,
                    "peak_rss_mb": run.peak_rss_mb if run else None,
                    "returncode": run.returncode if run else None,
                    "error": r.error,
                    "clusters_file": r.clusters_file,
                    "summary": r.summary,
                    "score": r.score,
                    "repeats": [
                        {"read_to_json_s": a, "wall_s": b, "peak_rss_mb": c}
                        for a, b, c in r.repeats
                    ],
                }
            )
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return 0 if all(r.error is None for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
