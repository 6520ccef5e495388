"""``cib-detect neo4j ...``: install, start, stop and inspect the local Neo4j server.

Messages go to stderr (rich); ``--json`` prints one JSON object on stdout.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import typer
from rich.console import Console

from cib_detect.config import Neo4jSettings, load_settings
from cib_detect.errors import CibError

neo4j_app = typer.Typer(
    help="Local Neo4j 5.26 Community server (built from Maven Central, no Docker).",
    no_args_is_help=True,
    add_completion=False,
)
err = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print a JSON object on stdout.")]


def _settings() -> Neo4jSettings:
    return load_settings().neo4j


def _emit(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc) + "\n")


def _fail(exc: CibError, as_json: bool) -> None:
    if as_json:
        _emit({"ok": False, "error": exc.message, "status": exc.status})
    else:
        err.print(f"[bold red]error[/]: {exc.message}")
    raise typer.Exit(code=2)


@neo4j_app.command()
def install(
    force: Annotated[bool, typer.Option(help="Rebuild even when already installed.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Build the launcher and fetch Neo4j's jars from Maven Central into the Neo4j home."""
    from cib_detect.store import local_neo4j as ln

    settings = _settings()
    already = ln.is_installed(settings) and not force
    t0 = time.monotonic()
    try:
        if not already and not as_json:
            with err.status(
                f"Installing Neo4j {settings.version} with Maven (first time: minutes)"
            ):
                home = ln.install(settings, force=force)
        else:
            home = ln.install(settings, force=force)
    except CibError as exc:
        _fail(exc, as_json)
        return
    secs = round(time.monotonic() - t0, 1)
    if as_json:
        _emit({"ok": True, "home": str(home), "version": settings.version,
               "already_installed": already, "seconds": secs})  # fmt: skip
    elif already:
        err.print(f"Neo4j {settings.version} already installed in [bold]{home}[/]")
    else:
        err.print(f"[green]installed[/] Neo4j {settings.version} in [bold]{home}[/] ({secs}s)")


@neo4j_app.command()
def start(
    wait: Annotated[bool, typer.Option(help="Wait until Bolt accepts the credentials.")] = True,
    as_json: JsonFlag = False,
) -> None:
    """Start the local server (installing it first if needed); no-op when already running."""
    from cib_detect.store import local_neo4j as ln

    settings = _settings()
    t0 = time.monotonic()
    try:
        if not ln.is_installed(settings):
            if not as_json:
                err.print(f"Neo4j {settings.version} is not installed yet: installing with Maven")
            ln.install(settings)
        if as_json:
            pid = ln.start(settings, wait=wait)
        else:
            with err.status(f"Starting Neo4j on {ln.bolt_uri(settings)}"):
                pid = ln.start(settings, wait=wait)
    except CibError as exc:
        _fail(exc, as_json)
        return
    secs = round(time.monotonic() - t0, 1)
    if as_json:
        _emit({"ok": True, "pid": pid, "uri": ln.bolt_uri(settings), "seconds": secs})
    else:
        state = "ready" if wait else "starting"
        err.print(
            f"[green]Neo4j {state}[/] on [bold]{ln.bolt_uri(settings)}[/] (pid {pid}, {secs}s)"
        )


@neo4j_app.command()
def stop(
    timeout: Annotated[float, typer.Option(help="Seconds to wait before SIGKILL.")] = 60.0,
    as_json: JsonFlag = False,
) -> None:
    """Stop the local server cleanly (SIGTERM; SIGKILL only after --timeout)."""
    from cib_detect.store import local_neo4j as ln

    settings = _settings()
    t0 = time.monotonic()
    try:
        stopped = ln.stop(settings, timeout=timeout)
    except CibError as exc:
        _fail(exc, as_json)
        return
    secs = round(time.monotonic() - t0, 1)
    if as_json:
        _emit({"ok": True, "stopped": stopped, "seconds": secs})
    elif stopped:
        err.print(f"[green]stopped[/] Neo4j ({secs}s)")
    else:
        err.print("Neo4j was not running")


@neo4j_app.command()
def status(as_json: JsonFlag = False) -> None:
    """Show whether the local server is installed, running and answering on Bolt."""
    from cib_detect.store import local_neo4j as ln

    doc = ln.status(_settings())
    if as_json:
        _emit(doc)
        return
    colour = "green" if doc["bolt_ok"] else ("yellow" if doc["running"] else "red")
    installed = f"yes ({doc['installed_version']})" if doc["installed"] else "no"
    err.print(f"installed: {installed}   home: {doc['home']}")
    running = f"yes (pid {doc['pid']})" if doc["running"] else "no"
    err.print(f"running:   {running}   [{colour}]bolt {'ok' if doc['bolt_ok'] else 'down'}[/]"
              f" on {doc['uri']}")  # fmt: skip
    if doc["error"]:
        err.print(f"[bold red]error[/]: {doc['error']}")
    err.print(f"log:       {doc['log']}")
