"""``cib-detect report`` and ``cib-detect export``: the evidence page and the exports of a
run's clusters, read from ``clusters.json`` (or, with ``--run``, from Neo4j).

Messages go to stderr (rich); ``--json`` prints one JSON object on stdout.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from cib_detect.cli_progress import stage_bar
from cib_detect.errors import CibError, InvalidInput

err = Console(stderr=True)

ClustersArg = Annotated[
    Path | None,
    typer.Argument(
        help="clusters.json written by `cib-detect detect` (or use --run).", show_default=False
    ),
]
RunOption = Annotated[
    str | None,
    typer.Option("--run", metavar="RUN_ID", help="Read the run from Neo4j instead of a file."),
]
UriOption = Annotated[
    str | None,
    typer.Option("--neo4j", help="With --run: Bolt URI of Neo4j. [default: CIB_NEO4J__URI]"),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print a JSON object on stdout.")]


class ExportFormat(StrEnum):
    graphml = "graphml"
    csv = "csv"
    parquet = "parquet"


def _fail(exc: CibError) -> None:
    err.print(f"[bold red]error[/]: {exc.message}")
    for v in exc.violations[:20]:
        err.print(f"  - {v.describe()}")
    raise typer.Exit(code=2)


def _usage(message: str) -> None:
    err.print(f"[bold red]error[/]: {message}")
    raise typer.Exit(code=2)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _load(clusters: Path | None, run: str | None, neo4j: str | None) -> tuple[Any, dict[str, Any]]:
    """The document and a description of its source; CibError on failure."""
    from cib_detect.report import load

    if (clusters is None) == (run is None):
        _usage("give either CLUSTERS_JSON or --run RUN_ID (exactly one)")
    if run is not None:
        return load.load_run(run, neo4j), {"kind": "run", "run_id": run}
    if neo4j is not None:
        _usage("--neo4j applies to --run only")
    assert clusters is not None
    doc = load.read_clusters_json(clusters)
    return doc, {"kind": "file", "path": str(clusters), "sha256": _sha256(clusters)}


def _emit(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc, default=str) + "\n")


def report(
    clusters: ClustersArg = None,
    run: RunOption = None,
    neo4j: UriOption = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")] = Path(
        "report.html"
    ),
    events: Annotated[
        Path | None,
        typer.Option(
            "--events",
            help="The run's events file (.csv, .jsonl, .parquet): draw the members' full "
            "timelines. Without it the timeline shows the evidence examples.",
        ),
    ] = None,
    events_format: Annotated[
        str | None, typer.Option("--events-format", help="csv, jsonl or parquet.")
    ] = None,
    max_clusters: Annotated[
        int,
        typer.Option(
            min=0,
            help="Clusters given full details (graph, timeline, evidence); the table lists "
            "every cluster.",
        ),
    ] = 50,
    max_evidence: Annotated[
        int, typer.Option(min=1, help="Evidence edges shown per cluster (strongest first).")
    ] = 200,
    max_examples: Annotated[
        int, typer.Option(min=0, help="Example co-actions listed per cluster.")
    ] = 100,
    max_texts: Annotated[
        int, typer.Option(min=0, help="Near-duplicate text pairs shown per cluster.")
    ] = 20,
    title: Annotated[str | None, typer.Option(help="Page title.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Write a self-contained HTML evidence page for a run: ranked cluster table, and per
    cluster an interactive graph, a timeline raster, shared targets, example co-actions and
    near-duplicate texts. The page works offline and makes no network request."""
    from cib_detect.report.html import Caps, write_report
    from cib_detect.report.plots import MemberTimelines

    t0 = time.perf_counter()
    try:
        doc, source = _load(clusters, run, neo4j)
        timelines = None
        if events is not None:
            from cib_detect.io import read_events

            table, info = read_events(events, fmt=events_format, keep_event_ids=False)
            run_sha = (doc["run"].get("input") or {}).get("sha256")
            source["events"] = {"path": str(events), "sha256": info.sha256,
                                "matches_run": run_sha == info.sha256}  # fmt: skip
            if run_sha and run_sha != info.sha256:
                err.print(
                    f"[yellow]warning[/]: {events} is not the run's input (sha256 "
                    f"{info.sha256[:12]} vs {run_sha[:12]}); timelines are drawn from it anyway"
                )
            timelines = MemberTimelines(table)
        caps = Caps(max_clusters, max_evidence, max_examples, max_texts)
        with stage_bar(err, counts=True, label_width=10) as bar:
            task = bar.add_task("clusters", total=min(max_clusters, len(doc["clusters"])))

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            summary = write_report(
                doc, out, source=source, caps=caps, timelines=timelines, title=title,
                progress=progress,
            )  # fmt: skip
    except CibError as exc:
        _fail(exc)
        return
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    if as_json:
        _emit({"ok": True, **summary})
        return
    detailed = summary["clusters_detailed"]
    err.print(
        f"{summary['clusters']} clusters ({detailed} with details) -> {out} "
        f"({summary['bytes'] / 1e6:.1f} MB) in {summary['seconds']:.2f}s"
    )


def export(
    clusters: ClustersArg = None,
    fmt: Annotated[
        ExportFormat | None,
        typer.Option(
            "--format",
            "-f",
            case_sensitive=False,
            help="graphml (Gephi), csv or parquet.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        str | None,  # text, not Path: a trailing / marks a new directory
        typer.Option(
            "--out",
            "-o",
            metavar="PATH",
            help="graphml: the file (or a directory: clusters.graphml in it). csv/parquet: a "
            "directory (existing, or ending with /) for members, evidence and examples "
            "tables, or a stem: out/run7 -> out/run7_members.csv, out/run7_evidence.csv, "
            "out/run7_examples.csv.",
            show_default=False,
        ),
    ] = None,
    run: RunOption = None,
    neo4j: UriOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Export a run's clusters: GraphML for Gephi (nodes: accounts with cluster, rank,
    score; edges: evidence with weight, signal), or CSV/Parquet tables of members,
    evidence edges and example co-actions."""
    from cib_detect.report.exports import export as do_export

    if fmt is None or out is None:
        _usage("missing --format graphml|csv|parquet" if fmt is None else "missing --out PATH")
        return
    t0 = time.perf_counter()
    try:
        doc, source = _load(clusters, run, neo4j)
        written = do_export(doc, fmt.value, out)
    except CibError as exc:
        _fail(exc)
        return
    except (OSError, ValueError) as exc:
        _fail(InvalidInput(f"cannot write {out}: {exc}"))
        return
    record = {
        "ok": True,
        "format": fmt.value,
        "source": source,
        "clusters": len(doc["clusters"]),
        "members": sum(len(c["members"]) for c in doc["clusters"]),
        "evidence_edges": sum(len(c["evidence"]) for c in doc["clusters"]),
        "files": {k: str(v) for k, v in written.items()},
        "seconds": round(time.perf_counter() - t0, 3),
    }
    if as_json:
        _emit(record)
        return
    for name, path in written.items():
        err.print(f"[green]wrote[/] {name:<9} {path}")
    err.print(
        f"{record['clusters']} clusters, {record['members']} members, "
        f"{record['evidence_edges']} evidence edges ({fmt.value}) in {record['seconds']:.2f}s"
    )
