"""``cib-detect`` command line (typer + rich). Progress goes to stderr, ``--json`` to stdout.

:func:`main` runs ``cib-detect network ...`` as an app of that one command
(:func:`cib_detect.cli_network.run`): a network run imports neither the rest of the app
(settings, store, service, report) nor rich. Every other command line builds the whole
app (:func:`build_app`; ``cib_detect.cli.app`` is the same app).
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cib_detect import __version__
from cib_detect.errors import CibError

if TYPE_CHECKING:
    from rich.console import Console

    from cib_detect.config import DetectParams
    from cib_detect.model import Cluster

HELP = "Find coordinated inauthentic behaviour in interaction events."
# Set by build_app (the commands below run only inside that app). DEFAULT_WINDOWS is
# read when typer evaluates the annotations of ``detect``.
err: Console
out: Console
DEFAULT_WINDOWS: tuple[int, ...]
_APP: typer.Typer | None = None


def build_app() -> typer.Typer:
    """The whole ``cib-detect`` app: every command (imports all their modules)."""
    global _APP, err, out, DEFAULT_WINDOWS
    if _APP is not None:
        return _APP
    from rich.console import Console

    from cib_detect import config
    from cib_detect.cli_neo4j import neo4j_app
    from cib_detect.cli_network import network
    from cib_detect.cli_report import export, report
    from cib_detect.cli_service import client_app, serve
    from cib_detect.cli_store import erase, ingest, query, retention, schema_app

    DEFAULT_WINDOWS = config.DEFAULT_WINDOWS
    err = Console(stderr=True)
    out = Console()
    app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False)
    app.add_typer(neo4j_app, name="neo4j", help="Install, start, stop and check the local Neo4j.")
    app.command()(report)
    app.command()(export)
    app.command("network")(network)
    app.add_typer(schema_app, name="schema", help="Apply the Neo4j constraints and indexes.")
    app.command()(ingest)
    app.command()(query)
    app.command()(erase)
    app.command()(retention)
    app.command()(serve)
    app.add_typer(
        client_app, name="client", help="Call the gRPC service: ingest, detect, clusters."
    )
    app.command()(detect)
    app.command()(warm)
    app.command()(version)
    _APP = app
    return app


def __getattr__(name: str) -> Any:
    if name == "app":
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _fail(exc: CibError) -> None:
    err.print(f"[bold red]error[/]: {exc.message}")
    for v in exc.violations[:20]:
        err.print(f"  - {v.describe()}")
    raise typer.Exit(code=2)


def _params(**kw: Any) -> DetectParams:
    from pydantic import ValidationError

    from cib_detect.config import DetectParams

    try:
        return DetectParams(**{k: v for k, v in kw.items() if v is not None})
    except ValidationError as exc:
        for e in exc.errors():
            name = "-".join(str(x) for x in e["loc"]).replace("_", "-")
            name = {"windows": "window"}.get(name, name)
            err.print(f"[bold red]error[/]: --{name}: {e['msg']}")
        raise typer.Exit(code=2) from None


def _preload_kernels() -> None:
    from cib_detect.detect.warm import warm_up
    from cib_detect.memory import freeze_startup_objects

    with contextlib.suppress(Exception):  # a failed preload only costs time later
        warm_up()
    freeze_startup_objects()  # start-up is over: later full GC passes skip its objects


def _print_clusters(clusters: list[Cluster], top: int) -> None:
    from rich.table import Table

    table = Table(title=f"Top {min(top, len(clusters))} of {len(clusters)} clusters")
    for col in ("rank", "score", "size", "signals", "sub-scores", "members"):
        table.add_column(col)
    for c in clusters[:top]:
        subs = " ".join(f"{k[:4]}={v:.2f}" for k, v in c.sub_scores.items())
        members = ", ".join(c.members[:4]) + (" …" if c.size > 4 else "")
        table.add_row(
            str(c.rank), f"{c.score:.3f}", str(c.size), ", ".join(c.signals), subs, members
        )
    err.print(table)


def detect(
    input: Annotated[
        str | None,
        typer.Argument(
            help="Events file: .csv, .jsonl or .parquet. With --from-neo4j: the Neo4j URI "
            "(optional, default CIB_NEO4J__URI)."
        ),
    ] = None,
    out_path: Annotated[
        Path, typer.Option("--out", "-o", help="Where to write clusters.json.")
    ] = Path("clusters.json"),
    window: Annotated[
        list[int] | None,
        typer.Option(
            "--window",
            "-w",
            help="Co-action window in seconds; repeatable. "
            f"[default: {' '.join(map(str, DEFAULT_WINDOWS))}]",
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Leiden seed. [default: 42]")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="csv, jsonl or parquet.")] = None,
    strict: Annotated[bool, typer.Option(help="Stop at the first invalid row.")] = False,
    fdr: Annotated[float | None, typer.Option(help="False discovery rate. [default: 0.05]")] = None,
    hub_cap: Annotated[
        int | None, typer.Option(help="Crowd size above which no pairs form.")
    ] = None,
    min_episodes: Annotated[
        int | None, typer.Option(help="Episodes a pair needs to be tested.")
    ] = None,
    text: Annotated[bool, typer.Option(help="Near-duplicate text signal.")] = True,
    top: Annotated[int, typer.Option(help="Clusters to print.")] = 10,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary on stdout.")
    ] = False,
    from_neo4j: Annotated[
        bool,
        typer.Option(
            "--from-neo4j",
            help="Read the events from Neo4j, write the run back there (INPUT: the URI).",
        ),
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(help="With --from-neo4j: events at or after T (ISO-8601 or epoch)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="With --from-neo4j: events before T (ISO-8601 or epoch)."),
    ] = None,
) -> None:
    """Detect coordinated clusters in an events file (or the events stored in Neo4j) and
    write ranked clusters with evidence."""
    from cib_detect.cli_progress import stage_bar
    from cib_detect.detect import run_detection
    from cib_detect.io import read_events
    from cib_detect.io.formats import detect_format, rows_upper_estimate
    from cib_detect.memory import (
        no_hugepage_advice,
        prepare_read,
        prepare_run,
        return_large_blocks_to_os,
    )
    from cib_detect.report.json_out import write_clusters_json

    params = _params(
        windows=tuple(window) if window else None,
        seed=seed,
        fdr=fdr,
        hub_cap=hub_cap,
        min_episodes=min_episodes,
        text=text,
    )
    if from_neo4j:
        from cib_detect.cli_store import detect_from_neo4j

        if fmt is not None or strict:
            err.print("[bold red]error[/]: --format and --strict apply to files, not --from-neo4j")
            raise typer.Exit(code=2)
        return_large_blocks_to_os()  # until the export's size is known (`prepare_run`)
        # load the compiled kernels from Numba's cache while the events are exported
        threading.Thread(target=_preload_kernels, name="cib-preload", daemon=True).start()
        detect_from_neo4j(
            input, since=since, until=until, params=params, out_path=out_path, top=top,
            as_json=as_json, print_clusters=_print_clusters,
        )  # fmt: skip
        return
    if input is None:
        err.print("[bold red]error[/]: missing INPUT (an events file), or use --from-neo4j")
        raise typer.Exit(code=2)
    if since is not None or until is not None:
        err.print("[bold red]error[/]: --since/--until need --from-neo4j")
        raise typer.Exit(code=2)
    no_hugepage_advice()

    def estimate() -> int | None:
        with contextlib.suppress(CibError):  # a bad path or format: read_events reports it
            return rows_upper_estimate(Path(input), detect_format(Path(input), fmt))
        return None

    reserving = prepare_read(estimate)
    # start-up, like the imports above: the kernels load from Numba's cache before the
    # input is opened (not beside the read: loading holds the GIL, and the reader's many
    # short Arrow calls would queue behind it), while the heap for the run is touched on
    # the other core. Reported as `kernels` and `reserve` (the wait for the heap after
    # the kernels), outside `total`.
    t_k = time.perf_counter()
    _preload_kernels()
    t_kernels = time.perf_counter() - t_k
    t_r = time.perf_counter()
    if reserving is not None:
        reserving.join()
    t_reserve = time.perf_counter() - t_r
    t0 = time.perf_counter()
    try:
        with stage_bar(err) as bar:
            task = bar.add_task("read", total=1.0)
            events, info = read_events(Path(input), fmt=fmt, strict=strict, keep_event_ids=False)
            t_read = time.perf_counter() - t0
            prepare_run(events.n)

            def progress(stage: str, frac: float) -> None:
                bar.update(task, description=stage, completed=frac)

            result = run_detection(events, params, progress=progress)
            bar.update(task, description="write", completed=0.0)
            result.timings = {
                "read": round(t_read, 4),
                "kernels": round(t_kernels, 4),
                "reserve": round(t_reserve, 4),
                **result.timings,
            }
            result.timings["total_before_write"] = round(time.perf_counter() - t0, 4)
            t_w = time.perf_counter()
            write_clusters_json(result, params, info, out_path)
            t_write = round(time.perf_counter() - t_w, 4)
            t_total = round(time.perf_counter() - t0, 4)
    except CibError as exc:
        _fail(exc)
        return
    if info.rejected:
        err.print(
            f"[yellow]{info.rejected} invalid row(s) skipped[/] "
            f"({', '.join(f'{k}: {v}' for k, v in sorted(info.rejects.by_reason.items())[:5])})"
        )
    summary = {
        "out": str(out_path),
        "input": info.as_record(),
        "clusters": len(result.clusters),
        "flagged_accounts": sum(c.size for c in result.clusters),
        "top": [
            {"cluster_id": c.cluster_id, "rank": c.rank, "score": c.score, "size": c.size}
            for c in result.clusters[:top]
        ],
        "stats": result.stats,
        "timings": {**result.timings, "write": t_write, "total": t_total},
        "events_per_second": round(info.rows / max(t_total, 1e-9)),
    }
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
    else:
        _print_clusters(result.clusters, top)
        err.print(
            f"{info.accepted:,} events, {len(result.clusters)} clusters -> {out_path} "
            f"in {t_total:.2f}s"
        )


def warm(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Compile the Numba kernels into the on-disk cache (done once per install)."""
    from cib_detect.detect.warm import warm_up

    secs = warm_up()
    if as_json:
        sys.stdout.write(json.dumps({"warm_seconds": round(secs, 3)}) + "\n")
    else:
        err.print(f"kernels ready in {secs:.1f}s")


def version() -> None:
    """Print the version."""
    out.print(__version__)


def main() -> None:
    if sys.argv[1:2] == ["network"]:
        from cib_detect.cli_network import run

        run(sys.argv[2:], prog_name="cib-detect network")
        return
    if sys.argv[1:2] == ["detect"]:
        # before the imports start threads that allocate (NumPy's BLAS pool): an arena a
        # thread has made stays its own (`memory.keep_one_heap`; `detect` settles the rest)
        from cib_detect.memory import keep_one_heap

        keep_one_heap()
    build_app()()


if __name__ == "__main__":
    main()
