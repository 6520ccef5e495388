"""``cib-detect serve`` and ``cib-detect client ...`` (the common calls of the API)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from cib_detect.cli_progress import stage_bar
from cib_detect.errors import CibError

err = Console(stderr=True)
out = Console()
client_app = typer.Typer(no_args_is_help=True)
T = TypeVar("T")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
TargetOption = Annotated[
    str | None,
    typer.Option("--target", help="host:port of the service. [default: CIB_SERVICE__HOST:PORT]"),
]
RunOption = Annotated[str, typer.Option("--run", help="Run id (default: latest complete run).")]


def _fail(exc: CibError) -> None:
    err.print(f"[bold red]error[/]: {exc.message}")
    for v in exc.violations[:20]:
        err.print(f"  - {v.describe()}")
    raise typer.Exit(code=2)


def serve(
    config: Annotated[
        Path | None,
        typer.Option("--config", help="TOML settings file (as CIB_CONFIG); env vars win."),
    ] = None,
    host: Annotated[str | None, typer.Option(help="Listen address [CIB_SERVICE__HOST].")] = None,
    port: Annotated[
        int | None, typer.Option(help="Port; 0 = any free [CIB_SERVICE__PORT].")
    ] = None,
    port_file: Annotated[
        Path | None, typer.Option("--port-file", help="Write the bound port here once listening.")
    ] = None,
) -> None:
    """Run the gRPC service (cib.v1) until SIGTERM or Ctrl-C, then shut down gracefully."""
    from cib_detect.config import load_settings
    from cib_detect.log import configure_logging
    from cib_detect.service.server import serve as run_server

    try:
        settings = load_settings(config)
    except ValueError as exc:
        err.print(f"[bold red]error[/]: bad settings: {exc}")
        raise typer.Exit(code=2) from None
    if host is not None:
        settings.service.host = host
    if port is not None:
        settings.service.port = port
    configure_logging(settings.log_level)
    try:
        run_server(settings, str(port_file) if port_file else None)
    except CibError as exc:
        _fail(exc)


# --------------------------------------------------------------------------- client


def _read(env: str) -> bytes | None:
    path = os.environ.get(env)
    return Path(path).read_bytes() if path else None


def _client(target: str | None) -> Any:
    """A client for ``target``. The token comes from ``CIB_TOKEN`` (or the file named by
    ``CIB_TOKEN_FILE``), never from the command line; TLS from ``CIB_TLS_CA`` (and
    ``CIB_TLS_CERT`` / ``CIB_TLS_KEY`` for mTLS), each a PEM file path."""
    from cib_detect.client import CibClient
    from cib_detect.config import load_settings

    if target is None:
        svc = load_settings().service
        target = f"{svc.host}:{svc.port}"
    token = os.environ.get("CIB_TOKEN")
    if token is None and os.environ.get("CIB_TOKEN_FILE"):
        token = Path(os.environ["CIB_TOKEN_FILE"]).read_text(encoding="utf-8").strip()
    try:
        return CibClient(
            target, token=token, tls_ca=_read("CIB_TLS_CA"), tls_cert=_read("CIB_TLS_CERT"),
            tls_key=_read("CIB_TLS_KEY"),
        )  # fmt: skip
    except OSError as exc:
        err.print(f"[bold red]error[/]: {exc}")
        raise typer.Exit(code=2) from None


def _call(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except CibError as exc:
        _fail(exc)
        raise  # unreachable


def _dump(msg: Any) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict

    return dict(MessageToDict(msg, preserving_proto_field_name=True))


def _emit(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, default=str) + "\n")


@client_app.command("health")
def health(target: TargetOption = None, as_json: JsonFlag = False) -> None:
    """Health of the service (SERVING / NOT_SERVING)."""
    with _client(target) as c:
        status = _call(c.health)
    _emit({"status": status}) if as_json else out.print(status)
    if status != "SERVING":
        raise typer.Exit(code=1)


@client_app.command("ingest")
def ingest(
    path: Annotated[Path, typer.Argument(help="CSV, JSONL or Parquet events file.")],
    target: TargetOption = None,
    batch_size: Annotated[int, typer.Option(help="Events per batch (<= 1000).")] = 1000,
    as_json: JsonFlag = False,
) -> None:
    """Stream an events file to the service (idempotent by event id)."""
    with _client(target) as c, stage_bar(err, counts=True, label_width=10) as bar:
        task = bar.add_task("ingest", total=None)
        counts = _call(
            lambda: c.ingest_file(
                path, batch_size=batch_size,
                progress=lambda d, n: bar.update(task, completed=d, total=n),
            )
        )  # fmt: skip
    if as_json:
        _emit(counts)
    else:
        err.print(
            f"{counts['new']:,} new, {counts['duplicate']:,} duplicate, "
            f"{counts['invalid']:,} invalid"
        )


@client_app.command("detect")
def detect(
    target: TargetOption = None,
    since: Annotated[int | None, typer.Option(help="Epoch ms, inclusive.")] = None,
    until: Annotated[int | None, typer.Option(help="Epoch ms, exclusive.")] = None,
    window: Annotated[list[int] | None, typer.Option(help="Window in seconds (repeat).")] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the end.")] = True,
    as_json: JsonFlag = False,
) -> None:
    """Start a detection run over the stored events (and wait for it)."""
    from cib_detect._proto.cib.v1 import common_pb2 as pb

    params = pb.DetectionParams(windows_seconds=window or [])
    if seed is not None:
        params.seed = seed
    with _client(target) as c:
        run = _call(lambda: c.start_detection(params, since, until)).run
        if wait:
            with stage_bar(err) as bar:
                task = bar.add_task("queued", total=1.0)

                def show(r: Any) -> None:
                    bar.update(task, description=r.stage, completed=r.progress)

                run = _call(lambda: c.wait_for_run(run.run_id, on_progress=show))
    if as_json:
        _emit(_dump(run))
    else:
        state = pb.RunState.Name(run.state).removeprefix("RUN_STATE_")
        out.print(f"{run.run_id} {state} clusters={run.clusters} {run.error}".rstrip())
    if wait and run.state != pb.RUN_STATE_SUCCEEDED:
        raise typer.Exit(code=1)


@client_app.command("runs")
def runs(
    target: TargetOption = None,
    limit: Annotated[int, typer.Option(help="How many runs.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """Detection runs, newest first."""
    from cib_detect._proto.cib.v1 import common_pb2 as pb

    with _client(target) as c:
        items = []
        for r in _call(lambda: c.iter_runs(page_size=min(limit, 100))):
            items.append(r)
            if len(items) >= limit:
                break
    if as_json:
        _emit([_dump(r) for r in items])
        return
    table = Table("run", "state", "stage", "events", "clusters", "error")
    for r in items:
        state = pb.RunState.Name(r.state).removeprefix("RUN_STATE_")
        table.add_row(r.run_id, state, r.stage, str(r.events), str(r.clusters), r.error[:60])
    out.print(table)


@client_app.command("cancel")
def cancel(run_id: str, target: TargetOption = None, as_json: JsonFlag = False) -> None:
    """Cancel a queued or running run."""
    with _client(target) as c:
        run = _call(lambda: c.cancel(run_id))
    _emit(_dump(run)) if as_json else out.print(f"{run.run_id} cancelled")


@client_app.command("clusters")
def clusters(
    target: TargetOption = None,
    run: RunOption = "",
    limit: Annotated[int, typer.Option(help="How many clusters.")] = 20,
    min_score: Annotated[float, typer.Option(help="Only clusters scoring at least this.")] = 0.0,
    as_json: JsonFlag = False,
) -> None:
    """A run's clusters by rank."""
    with _client(target) as c:
        items = []
        for cl in _call(lambda: c.iter_clusters(run, min(limit, 100), min_score)):
            items.append(cl)
            if len(items) >= limit:
                break
    if as_json:
        _emit([_dump(cl) for cl in items])
        return
    table = Table("rank", "cluster", "score", "size", "signals", "review")
    for cl in items:
        table.add_row(str(cl.rank), cl.cluster_id, f"{cl.score:.3f}", str(cl.size),
                      ", ".join(cl.signals), _review_name(cl.review.status))  # fmt: skip
    out.print(table)


def _review_name(value: Any) -> str:
    from cib_detect._proto.cib.v1 import common_pb2 as pb

    return str(pb.ReviewStatus.Name(value)).removeprefix("REVIEW_STATUS_").lower()


@client_app.command("cluster")
def cluster(
    cluster_id: str,
    target: TargetOption = None,
    run: RunOption = "",
    evidence: Annotated[int, typer.Option(help="Evidence edges to show.")] = 10,
    as_json: JsonFlag = False,
) -> None:
    """One cluster: members, top targets, strongest evidence."""
    with _client(target) as c:
        got = _call(lambda: c.get_cluster(cluster_id, run, evidence))
    if as_json:
        _emit(_dump(got))
        return
    s = got.cluster
    out.print(f"[bold]{s.cluster_id}[/] rank {s.rank} score {s.score:.3f} size {s.size} "
              f"({_review_name(s.review.status)})")  # fmt: skip
    out.print("members: " + ", ".join(got.members))
    table = Table("a", "b", "signal", "weight", "p", "shared")
    for e in got.evidence:
        table.add_row(e.account_a, e.account_b, e.signal, f"{e.weight:.2f}", f"{e.p_value:.2e}",
                      str(e.shared_targets))  # fmt: skip
    out.print(table)


@client_app.command("explain")
def explain(
    account_id: str, target: TargetOption = None, run: RunOption = "", as_json: JsonFlag = False
) -> None:
    """Why an account is flagged."""
    with _client(target) as c:
        got = _call(lambda: c.explain_account(account_id, run))
    if as_json:
        _emit(_dump(got))
        return
    if not got.flagged:
        out.print(f"{account_id} is not in any cluster of run {got.run_id}")
        return
    for ac in got.clusters:
        out.print(f"cluster {ac.cluster.cluster_id} (rank {ac.cluster.rank}):")
        for ev in ac.evidence:
            e = ev.edge
            out.print(f"  with {ev.partner}: {e.signal}, {e.shared_targets} shared targets, "
                      f"p={e.p_value:.2e}")  # fmt: skip


@client_app.command("review")
def review(
    cluster_id: str,
    status: Annotated[str, typer.Option(help="open, under_review, actioned or dismissed")],
    note: Annotated[str, typer.Option(help="Why.")] = "",
    analyst: Annotated[str, typer.Option(help="Who decided.")] = "",
    target: TargetOption = None,
    run: RunOption = "",
    as_json: JsonFlag = False,
) -> None:
    """Record an analyst's decision on a cluster."""
    with _client(target) as c:
        try:
            got = c.set_cluster_status(cluster_id, status, note, analyst, run)
        except ValueError:
            err.print("[bold red]error[/]: --status: open, under_review, actioned or dismissed")
            raise typer.Exit(code=2) from None
        except CibError as exc:
            _fail(exc)
            return
    _emit(_dump(got)) if as_json else out.print(f"{cluster_id}: {_review_name(got.review.status)}")


@client_app.command("erase")
def client_erase(account_id: str, target: TargetOption = None, as_json: JsonFlag = False) -> None:
    """Erase one account (admin role)."""
    from cib_detect.client import erase_account

    with _client(target) as c:
        got = _call(lambda: erase_account(c, account_id))
    if as_json:
        _emit(_dump(got))
    else:
        out.print(f"{account_id}: {got.events_deleted} events, {got.memberships_deleted} "
                  f"memberships, {got.evidence_edges_deleted} evidence edges erased")  # fmt: skip
