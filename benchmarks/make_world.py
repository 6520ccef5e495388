"""Generate a synthetic world (events + ground truth) for benchmarks.

    python benchmarks/make_world.py --events 400000 --seed 0 \
        --out benchmarks/data/world_400k.parquet

Writes the events (format by extension: .parquet, .csv, .jsonl) and ``<stem>.truth.json``
next to them, then prints the counts and the time taken.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Iterable
from pathlib import Path

try:
    from cib_detect.synthetic import generate_world, write_world
except ImportError:  # run from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from cib_detect.synthetic import generate_world, write_world


def parse_count(text: str) -> int:
    """``400000``, ``4e5``, ``400k``, ``2M``, ``1_000_000`` -> int."""
    t = text.strip().lower().replace("_", "").replace(",", "")
    mult = 1
    if t.endswith("k"):
        mult, t = 1_000, t[:-1]
    elif t.endswith("m"):
        mult, t = 1_000_000, t[:-1]
    value = float(t) * mult
    if value != int(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return int(value)


def size_label(n: int) -> str:
    """400000 -> '400k', 2000000 -> '2M', 123456 -> '123456'."""
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def default_path(n_events: int, seed: int) -> Path:
    return (
        Path(__file__).resolve().parent / "data" / f"world_{size_label(n_events)}_s{seed}.parquet"
    )


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Generate a synthetic CIB world.")
    ap.add_argument("--events", type=parse_count, default=400_000, help="about this many events")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--start", type=int, default=1_767_225_600, help="epoch seconds of day 0")
    ap.add_argument("--out", type=Path, default=None, help="events file (.parquet/.csv/.jsonl)")
    ap.add_argument("--quiet", action="store_true", help="print only the output paths")
    args = ap.parse_args(list(argv) if argv is not None else None)
    out: Path = args.out or default_path(args.events, args.seed)

    t0 = time.perf_counter()
    world = generate_world(args.events, args.seed, days=args.days, start=args.start)
    t_gen = time.perf_counter() - t0
    truth_path = write_world(world, out)
    t_all = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    if args.quiet:
        print(out)
        print(truth_path)
        return 0
    truth = world.truth
    print(f"events  {out}  ({out.stat().st_size / 1e6:.1f} MB)")
    print(f"truth   {truth_path}")
    print(
        f"rows {world.events.num_rows:,} (asked {args.events:,}), "
        f"accounts {truth['n_accounts']:,}, targets {truth['n_targets']:,}, sets {truth['n_sets']}"
    )
    print("events by label:")
    for label, n in truth["events_by_label"].items():
        print(f"  {label:<20} {n:>11,}  {100.0 * n / world.events.num_rows:5.1f}%")
    styles: dict[str, list[int]] = {}
    for c in truth["campaigns"]:
        s = styles.setdefault(c["style"], [0, 0])
        s[0] += 1
        s[1] += len(c["members"])
    print(
        "campaigns (entries, members): "
        + ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in styles.items())
    )
    arche: dict[str, list[int]] = {}
    for t in truth["traps"]:
        a = arche.setdefault(t["archetype"], [0, 0])
        a[0] += 1
        a[1] += len(t["members"])
    print("traps (entries, members): " + ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in arche.items()))
    print(f"generate {t_gen:.2f}s, generate+write {t_all:.2f}s, peak RSS {rss_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
