"""``cib-detect schema apply | ingest | query`` and the Neo4j side of ``detect --from-neo4j``.

Progress and messages go to stderr (rich); ``--json`` prints one JSON object on stdout.
Every command takes ``--neo4j URI`` (default: ``CIB_NEO4J__URI``); credentials and the
database come from the settings (``CIB_NEO4J__USER``, ``__PASSWORD``, ``__DATABASE``).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cib_detect.cli_progress import stage_bar
from cib_detect.config import DetectParams, load_settings
from cib_detect.errors import CibError, InvalidInput
from cib_detect.model import Cluster, InputInfo
from cib_detect.report.json_out import iso, write_clusters_json

err = Console(stderr=True)
out = Console()
# The driver logs each transaction it re-runs (deadlock, lost connection) as a warning;
# the commands report retries in their summary instead of printing driver internals.
logging.getLogger("neo4j").addHandler(logging.NullHandler())

schema_app = typer.Typer(
    help="Neo4j constraints and indexes (cypher/schema/).",
    no_args_is_help=True,
    add_completion=False,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print a JSON object on stdout.")]
UriOption = Annotated[
    str | None,
    typer.Option("--neo4j", help="Bolt URI of Neo4j. [default: CIB_NEO4J__URI]"),
]


def _fail(exc: CibError) -> None:
    err.print(f"[bold red]error[/]: {exc.message}")
    for v in exc.violations[:20]:
        err.print(f"  - {v.describe()}")
    raise typer.Exit(code=2)


def _emit(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc, default=str) + "\n")


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr (only on a terminal); yields ``update(done, total)``."""
    with stage_bar(err, counts=True, label_width=10) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _open_store(uri: str | None) -> Any:
    from cib_detect.store.graph_store import GraphStore

    return GraphStore.open(load_settings().neo4j, uri)


# --------------------------------------------------------------------------- schema


@schema_app.command("apply")
def schema_apply(neo4j: UriOption = None, as_json: JsonFlag = False) -> None:
    """Create the named constraints and indexes (IF NOT EXISTS: applying twice is a no-op)."""
    from cib_detect.store.schema import apply_schema

    t0 = time.perf_counter()
    try:
        with _open_store(neo4j) as store:
            report = apply_schema(store)
            uri, db = store.uri, store.database
    except CibError as exc:
        _fail(exc)
        return
    secs = round(time.perf_counter() - t0, 3)
    if as_json:
        _emit({"ok": True, "uri": uri, "database": db, **report.as_record(), "seconds": secs})
        return
    for name in report.created:
        err.print(f"[green]created[/]  {name}")
    for name in report.existing:
        err.print(f"[dim]exists[/]   {name}")
    err.print(
        f"schema of {uri} ({db}): {len(report.created)} created, "
        f"{len(report.existing)} already there ({secs}s)"
    )


# --------------------------------------------------------------------------- ingest


def ingest(
    input: Annotated[Path, typer.Argument(help="Events file: .csv, .jsonl or .parquet.")],
    neo4j: UriOption = None,
    fmt: Annotated[str | None, typer.Option("--format", help="csv, jsonl or parquet.")] = None,
    strict: Annotated[bool, typer.Option(help="Stop at the first invalid row.")] = False,
    batch_size: Annotated[
        int, typer.Option(help="Events per transaction (UNWIND batch).", min=1, max=100_000)
    ] = 5_000,
    workers: Annotated[int, typer.Option(help="Batches written concurrently.", min=1, max=16)] = 3,
    as_json: JsonFlag = False,
) -> None:
    """Store an events file in Neo4j, idempotent by event_id (re-ingesting changes nothing)."""
    from cib_detect.privacy import Pseudonymiser
    from cib_detect.store.ingest import ingest_file
    from cib_detect.store.schema import ensure_schema

    try:
        pseudonymiser = Pseudonymiser.from_settings(load_settings().security)
        with _open_store(neo4j) as store, _progress("ingest") as update:
            created = ensure_schema(store)
            result, info = ingest_file(
                store, input, fmt=fmt, strict=strict, batch_size=batch_size,
                workers=workers, progress=update, pseudonymiser=pseudonymiser,
            )  # fmt: skip
            uri, db = store.uri, store.database
    except CibError as exc:
        _fail(exc)
        return
    if as_json:
        _emit({"ok": True, "uri": uri, "database": db, "input": info.as_record(),
               "schema_created": created, **result.as_record()})  # fmt: skip
        return
    if info.rejected:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(info.rejects.by_reason.items())[:5])
        err.print(f"[yellow]{info.rejected} invalid row(s) skipped[/] ({reasons})")
    err.print(
        f"{result.new:,} new, {result.duplicate:,} duplicate, {result.invalid:,} invalid "
        f"events -> {uri} ({db}) in {result.seconds:.2f}s "
        f"({result.events / max(result.seconds, 1e-9):,.0f} events/s)"
    )


# --------------------------------------------------------------------------- erasure


def erase(
    account_id: Annotated[str, typer.Argument(help="The account id as ingested.")],
    neo4j: UriOption = None,
    batch_size: Annotated[int, typer.Option(help="Relationships per transaction.")] = 10_000,
    as_json: JsonFlag = False,
) -> None:
    """Erase one account: its events, memberships and evidence edges; marks its runs."""
    from cib_detect.privacy import Pseudonymiser
    from cib_detect.store.erasure import erase_account

    try:
        pseudonymiser = Pseudonymiser.from_settings(load_settings().security)
        with _open_store(neo4j) as store:
            report = erase_account(store, pseudonymiser.account(account_id), batch=batch_size)
    except CibError as exc:
        _fail(exc)
        return
    if as_json:
        _emit(report.as_record())
    elif not report.found:
        err.print(f"no account {account_id!r} in Neo4j: nothing to erase")
    else:
        err.print(
            f"erased {account_id}: {report.events:,} events, {report.memberships:,} "
            f"memberships, {report.evidence_edges:,} evidence edges; runs marked: "
            f"{', '.join(report.runs) or 'none'}"
        )


def retention(
    days: Annotated[int, typer.Option("--days", help="Delete events older than this.", min=1)],
    neo4j: UriOption = None,
    batch_size: Annotated[int, typer.Option(help="Events per transaction.")] = 10_000,
    as_json: JsonFlag = False,
) -> None:
    """Delete events older than N days (bounded transactions) and nodes left isolated."""
    from cib_detect.store.erasure import apply_retention

    try:
        with _open_store(neo4j) as store:
            report = apply_retention(store, days, batch=batch_size)
    except CibError as exc:
        _fail(exc)
        return
    if as_json:
        _emit(report.as_record())
    else:
        err.print(
            f"deleted {report.events:,} events before {report.cutoff_ms} (epoch ms), "
            f"{report.accounts:,} accounts and {report.targets:,} targets left isolated"
        )


# --------------------------------------------------------------------------- query


def _parse_params(items: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--param {item!r}: expected NAME=VALUE")
        params[key.strip()] = value
    return params


def _cell(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, float):
        return f"{v:.4g}"
    return json.dumps(v, default=str)


def query(
    name: Annotated[
        str | None, typer.Argument(help="Query file name in cypher/investigate/ (no NAME: list).")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="NAME=VALUE; repeatable.")
    ] = None,
    neo4j: UriOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Run an investigator query (cypher/investigate/NAME.cypher) and print its rows."""
    from cib_detect.store.investigate import get_query, list_queries, run_query

    try:
        if name is None:
            queries = list_queries()
            if as_json:
                _emit({"queries": [q.as_record() for q in queries]})
                return
            table = Table(title="Investigator queries (cypher/investigate/)")
            for col in ("name", "parameters", "purpose"):
                table.add_column(col)
            for q in queries:
                ps = " ".join(f"{p.name}{'' if p.required else '?'}" for p in q.params)
                table.add_row(q.name, ps, q.purpose)
            out.print(table)
            return
        given = _parse_params(param or [])
        q = get_query(name)
        with _open_store(neo4j) as store:
            rows = run_query(store, q.name, given)
    except CibError as exc:
        _fail(exc)
        return
    if as_json:
        _emit({"query": q.name, "rows": rows})
        return
    if not rows:
        err.print(f"{q.name}: no rows")
        return
    table = Table(title=f"{q.name}: {len(rows)} row(s)")
    for col in rows[0]:
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(*(_cell(v) for v in r.values()))
    out.print(table)


# --------------------------------------------------------------------------- detect


def parse_time_option(value: str | None, option: str) -> int | None:
    """``--since``/``--until``: ISO-8601 with a zone, epoch seconds or epoch ms -> ms."""
    from cib_detect.store.export import parse_timestamp

    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"{option} {value!r}: expected ISO-8601 with a zone, epoch seconds or ms ({exc})"
        ) from None


def _iso(ms: int | None) -> str | None:
    return None if ms is None else iso(ms)


def detect_from_neo4j(
    uri: str | None,
    *,
    since: str | None,
    until: str | None,
    params: DetectParams,
    out_path: Path,
    top: int,
    as_json: bool,
    print_clusters: Callable[[list[Cluster], int], None],
) -> None:
    """``cib-detect detect --from-neo4j``: export -> engine -> write-back -> clusters.json."""
    from cib_detect.detect import run_detection
    from cib_detect.memory import keep_freed_memory, no_hugepage_advice, prepare_run
    from cib_detect.store.export import events_digest, export_events
    from cib_detect.store.runs import write_run
    from cib_detect.store.schema import ensure_schema

    t0 = time.perf_counter()
    try:
        since_ms = parse_time_option(since, "--since")
        until_ms = parse_time_option(until, "--until")
        with _open_store(uri) as store:
            source = {"kind": "neo4j", "uri": store.uri, "database": store.database,
                      "since": _iso(since_ms), "until": _iso(until_ms),
                      "since_ms": since_ms, "until_ms": until_ms}  # fmt: skip
            with stage_bar(err) as bar:
                task = bar.add_task("export", total=1.0)
                ensure_schema(store)
                events, export = export_events(
                    store, since=since_ms, until=until_ms,
                    progress=lambda d, n: bar.update(task, completed=d / max(n, 1)),
                )  # fmt: skip
                info = InputInfo(
                    path=store.uri, sha256=events_digest(events), format="neo4j",
                    rows=events.n, accepted=events.n, rejected=0, duplicates=0,
                )  # fmt: skip
                t_read = time.perf_counter() - t0
                no_hugepage_advice()
                if not prepare_run(events.n):
                    keep_freed_memory()

                def progress(stage: str, frac: float) -> None:
                    bar.update(task, description=stage, completed=frac)

                result = run_detection(events, params, progress=progress)
                result.timings = {"read": round(t_read, 4), **result.timings}
                result.timings["total_before_write"] = round(time.perf_counter() - t0, 4)
                bar.update(task, description="write-back", completed=0.0)
                t_w = time.perf_counter()
                n_batches = max(1, len(result.clusters))
                run = write_run(
                    store, result, params, since=since_ms, until=until_ms, source=source,
                    on_batch=lambda s, d, n: bar.update(task, description=f"write {s}",
                                                        completed=d / max(n, n_batches)),
                )  # fmt: skip
                t_back = round(time.perf_counter() - t_w, 4)
                t_j = time.perf_counter()
                write_clusters_json(
                    result, params, info, out_path, {"run_id": run.run_id, "source": source}
                )
                t_write = round(time.perf_counter() - t_j, 4)
    except CibError as exc:
        _fail(exc)
        return
    t_total = round(time.perf_counter() - t0, 4)
    summary = {
        "out": str(out_path),
        "run_id": run.run_id,
        "source": source,
        "input": info.as_record(),
        "export": export.as_record(),
        "write_back": run.as_record(),
        "clusters": len(result.clusters),
        "flagged_accounts": sum(c.size for c in result.clusters),
        "top": [
            {"cluster_id": c.cluster_id, "rank": c.rank, "score": c.score, "size": c.size}
            for c in result.clusters[:top]
        ],
        "stats": result.stats,
        "timings": {**result.timings, "write_back": t_back, "write": t_write, "total": t_total},
        "events_per_second": round(info.rows / max(t_total, 1e-9)),
    }
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
    else:
        print_clusters(result.clusters, top)
        err.print(
            f"{info.accepted:,} events from {source['uri']}, {len(result.clusters)} clusters, "
            f"run {run.run_id} -> {out_path} in {t_total:.2f}s"
        )
