"""``cib-detect network``: co-action networks under the field's definitions.

``network`` is a typer callable; ``cib_detect.cli`` registers it as
``app.command("network")(network)`` in the whole app, and the ``cib-detect`` entry point
runs ``cib-detect network ...`` through :func:`run` without importing the rest of the app.
``python -m cib_detect.cli_network`` runs it alone.
Progress and summaries go to stderr, ``--json`` prints a summary on stdout.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from cib_detect.errors import CibError, InvalidInput

PROFILES = ("cnt", "coortweet", "native")


def _err(message: str) -> None:
    sys.stderr.write(message + "\n")


def _output_format(path: Path, fmt: str | None) -> str:
    if fmt:
        if fmt not in ("csv", "graphml"):
            raise InvalidInput(f"--output-format: use csv or graphml, not {fmt!r}")
        return fmt
    suffix = path.suffix.lower()
    if suffix == ".graphml":
        return "graphml"
    if suffix in (".csv", ".txt", ""):
        return "csv"
    raise InvalidInput(f"cannot tell the output format of {path.name!r}; pass --output-format")


def _warm_in_background(graphml: bool) -> threading.Thread:
    """Load the kernels from Numba's cache on a thread while the input is read."""

    def run() -> None:
        try:
            from cib_detect.compat.warm import warm_cnt

            warm_cnt(graphml=graphml)
        except Exception:  # a failed warm-up only costs time later
            pass

    thread = threading.Thread(target=run, name="cib-warm", daemon=True)
    thread.start()
    return thread


def _run_cnt(
    input_path: Path, out_path: Path, out_fmt: str, opts: dict[str, Any]
) -> dict[str, Any]:
    # the toolkit CSV is parsed (Arrow, no GIL) while the warm-up thread imports Numba
    from cib_detect.compat.io import detect_layout, read_cnt_table

    layout = detect_layout(input_path, opts["layout"])
    t0 = time.perf_counter()
    table = None
    if layout == "cnt":
        if opts["action"]:
            raise InvalidInput("--action applies to event files (--layout events)")
        table = read_cnt_table(input_path)
    from cib_detect.compat import cnt, output

    params = cnt.CntParams(
        network=opts["network"],
        time_window=opts["time_window"] if opts["time_window"] is not None else 1,
        min_edge_weight=opts["min_edge_weight"] if opts["min_edge_weight"] is not None else 2,
        similarity_threshold=opts["similarity_threshold"],
        min_document_size_similarity=opts["min_document_size_similarity"],
        include_self_loops=opts["include_self_loops"],
        resolved_urls=opts["resolved_urls"],
    )
    if params.network not in cnt.NETWORK_TYPES:
        raise InvalidInput(
            f"--network: unknown network {params.network!r}; use one of "
            + ", ".join(cnt.NETWORK_TYPES)
        )
    if table is not None:
        msgs = cnt.messages_from_table(table, params.network, annotate=out_fmt == "graphml")
        rejected = 0
    else:
        from cib_detect.io import read_events

        events, info = read_events(
            input_path, fmt=opts["fmt"], strict=opts["strict"], keep_event_ids=False
        )
        if opts["action"]:
            events = _filter_actions(events, opts["action"])
        msgs = cnt.messages_from_events(
            events,
            repost_actions=tuple(opts["repost_action"] or cnt.REPOST_ACTIONS),
            reply_actions=tuple(opts["reply_action"] or cnt.REPLY_ACTIONS),
            link_actions=tuple(opts["link_action"] or cnt.LINK_ACTIONS),
        )
        rejected = info.rejected
    t_read = time.perf_counter() - t0
    edges = cnt.compute(msgs, params)
    t_net = time.perf_counter() - t0 - t_read
    if out_fmt == "csv":
        output.write_cnt_csv(edges, out_path)
    else:
        nodes = output.edge_node_order(edges.a, edges.b)
        ann = cnt.node_annotations(msgs, nodes, opts["n_messages"])
        output.write_cnt_graphml(edges, ann, opts["n_messages"], out_path)
    return {
        "profile": "cnt",
        "layout": layout,
        "params": cnt.describe(params),
        "input": {"path": str(input_path), "rows": msgs.rows, "rejected": rejected},
        "messages": msgs.n,
        "message_urls": int(msgs.url.shape[0]),
        "edges": edges.n,
        "nodes": int(output.edge_node_order(edges.a, edges.b).size),
        "timings": {"read": round(t_read, 4), "network": round(t_net, 4)},
    }


def _filter_actions(events: Any, actions: list[str]) -> Any:
    import numpy as np

    from cib_detect.io.readers import from_columns

    allowed = np.array([a in actions for a in events.actions], dtype=np.bool_)
    keep = allowed[events.action] if events.n else np.zeros(0, np.bool_)
    if keep.all():
        return events
    idx = np.flatnonzero(keep)
    text = None
    if events.text is not None:
        import pyarrow as pa
        import pyarrow.compute as pc

        text = pc.take(events.text, pa.array(idx))
    return from_columns(
        [events.accounts[i] for i in events.account[idx].tolist()],
        [events.actions[i] for i in events.action[idx].tolist()],
        [events.targets[i] for i in events.target[idx].tolist()],
        events.ts[idx],
        text=text,
    )


def _run_coortweet(
    input_path: Path, out_path: Path, out_fmt: str, opts: dict[str, Any]
) -> dict[str, Any]:
    from cib_detect.compat import coortweet, output
    from cib_detect.compat.io import read_coortweet

    params = coortweet.CoorParams(
        time_window=opts["time_window"] if opts["time_window"] is not None else 10,
        min_participation=opts["min_participation"],
        remove_loops=opts["remove_loops"],
        edge_weight=opts["edge_weight"],
    )
    coortweet.validate_params(params)
    t0 = time.perf_counter()
    inp = read_coortweet(input_path, fmt=opts["fmt"], strict=opts["strict"], actions=opts["action"])
    t_read = time.perf_counter() - t0
    net = coortweet.build(inp, params)
    t_net = time.perf_counter() - t0 - t_read
    sel = slice(None) if opts["full"] else net.keep
    a, b = net.a[sel], net.b[sel]
    cols: dict[str, Any] = {
        "account_id": [net.accounts[i] for i in a.tolist()],
        "account_id_y": [net.accounts[i] for i in b.tolist()],
        "weight": net.weight[sel].tolist(),
        "avg_time_delta": net.avg_time_delta[sel].tolist(),
        "n_content_id": net.n_content_id[sel].tolist(),
        "n_content_id_y": net.n_content_id_y[sel].tolist(),
        "edge_symmetry_score": net.edge_symmetry_score[sel].tolist(),
    }
    if opts["full"]:
        cols["weight_threshold"] = net.keep.astype(int).tolist()
    if out_fmt == "csv":
        output.write_table_csv(out_path, cols)
    else:
        attrs = {k: v for k, v in cols.items() if k not in ("account_id", "account_id_y")}
        output.write_undirected_graphml(out_path, net.accounts, a, b, attrs)
    summary = net.summary()
    full, sub = summary["full_graph"], summary["subgraph"]
    assert isinstance(full, dict) and isinstance(sub, dict)
    _err(f"full graph: {coortweet.igraph_line(full['nodes'], full['edges'])}")
    _err(
        f"subgraph (weight > {summary['threshold']}): "
        f"{coortweet.igraph_line(sub['nodes'], sub['edges'])}"
    )
    return {
        "profile": "coortweet",
        "params": {
            "time_window": params.time_window,
            "min_participation": params.min_participation,
            "remove_loops": params.remove_loops,
            "edge_weight": params.edge_weight,
            "written": "full" if opts["full"] else "subgraph",
        },
        "input": {"path": str(input_path), "rows": inp.rows, "rejected": inp.rejected},
        **summary,
        "timings": {"read": round(t_read, 4), "network": round(t_net, 4)},
    }


def _run_native(
    input_path: Path, out_path: Path, out_fmt: str, opts: dict[str, Any]
) -> dict[str, Any]:
    from cib_detect.compat import native, output
    from cib_detect.io import read_events

    params = native.NativeParams(
        time_window=opts["time_window"] if opts["time_window"] is not None else 60,
        min_weight=opts["min_edge_weight"] if opts["min_edge_weight"] is not None else 1,
        hub_cap=opts["hub_cap"],
    )
    t0 = time.perf_counter()
    events, info = read_events(
        input_path, fmt=opts["fmt"], strict=opts["strict"], keep_event_ids=False
    )
    if opts["action"]:
        events = _filter_actions(events, opts["action"])
    t_read = time.perf_counter() - t0
    net = native.build(events, params)
    t_net = time.perf_counter() - t0 - t_read
    names = net.accounts
    cols: dict[str, Any] = {
        "weight": net.weight.tolist(),
        "objects": net.objects.tolist(),
    }
    if out_fmt == "csv":
        output.write_table_csv(
            out_path,
            {
                "source": [names[i] for i in net.a.tolist()],
                "target": [names[i] for i in net.b.tolist()],
                **cols,
            },
        )
    else:
        output.write_undirected_graphml(out_path, names, net.a, net.b, cols)
    return {
        "profile": "native",
        "params": {
            "time_window": params.time_window,
            "min_weight": params.min_weight,
            "hub_cap": params.hub_cap,
        },
        "input": {"path": str(input_path), "rows": info.rows, "rejected": info.rejected},
        "edges": net.n_edges,
        "co_acting_pairs": net.co_acting_pairs,
        "timings": {"read": round(t_read, 4), "network": round(t_net, 4)},
    }


def network(
    input: Annotated[
        Path,
        typer.Argument(
            help="Input: the toolkit's CSV layout or an events file (.csv, .jsonl, "
            ".parquet); for coortweet, CooRTweet's columns or an events file."
        ),
    ],
    profile: Annotated[
        str, typer.Option("--profile", "-p", help="cnt, coortweet or native.")
    ] = "cnt",
    out_path: Annotated[
        Path, typer.Option("--out", "-o", help="Edge list: .csv or .graphml.")
    ] = Path("edges.csv"),
    output_format: Annotated[
        str | None, typer.Option("--output-format", help="csv or graphml (default: by --out).")
    ] = None,
    network_type: Annotated[
        str,
        typer.Option(
            "--network",
            "-n",
            help="cnt: co_retweet, co_tweet, co_similar_tweet, co_link, co_reply or co_post.",
        ),
    ] = "co_link",
    time_window: Annotated[
        int | None,
        typer.Option(
            "--time-window",
            "-w",
            help="Seconds, inclusive. [default: cnt 1, coortweet 10, native 60]",
        ),
    ] = None,
    min_edge_weight: Annotated[
        int | None,
        typer.Option(help="cnt and native: smallest edge weight kept. [default: cnt 2, native 1]"),
    ] = None,
    similarity_threshold: Annotated[
        float, typer.Option(help="cnt co_similar_tweet: Jaccard threshold.")
    ] = 0.8,
    min_document_size_similarity: Annotated[
        float,
        typer.Option(help="cnt co_similar_tweet: fewer tokens than this count as dissimilar."),
    ] = 1.0,
    include_self_loops: Annotated[
        bool, typer.Option(help="cnt: write self loops (a user's messages with its own).")
    ] = False,
    resolved_urls: Annotated[
        Path | None,
        typer.Option(
            help="cnt co_link: use resolved urls, from a CSV url,resolved_url (the toolkit's "
            "resolved_url table; unlisted urls never co-link)."
        ),
    ] = None,
    n_messages: Annotated[
        int, typer.Option(help="cnt GraphML: latest messages written on each node.")
    ] = 10,
    layout: Annotated[
        str, typer.Option(help="cnt input: auto, events or cnt (the toolkit's CSV).")
    ] = "auto",
    fmt: Annotated[
        str | None, typer.Option("--format", help="Events file format: csv, jsonl, parquet.")
    ] = None,
    strict: Annotated[bool, typer.Option(help="Events: stop at the first invalid row.")] = False,
    action: Annotated[
        list[str] | None, typer.Option(help="Events: keep only these actions; repeatable.")
    ] = None,
    repost_action: Annotated[
        list[str] | None,
        typer.Option(help="cnt events: actions that are reposts. [default: retweet, repost]"),
    ] = None,
    reply_action: Annotated[
        list[str] | None,
        typer.Option(help="cnt events: actions that are replies. [default: reply]"),
    ] = None,
    link_action: Annotated[
        list[str] | None,
        typer.Option(help="cnt events: actions whose target is a shared url. [default: link, url]"),
    ] = None,
    min_participation: Annotated[
        int, typer.Option(help="coortweet: rows an account needs (detect_groups).")
    ] = 2,
    remove_loops: Annotated[
        bool, typer.Option("--remove-loops/--keep-loops", help="coortweet: detect_groups loops.")
    ] = True,
    edge_weight: Annotated[
        float, typer.Option(help="coortweet: keep edges with weight > this quantile.")
    ] = 0.5,
    full: Annotated[
        bool,
        typer.Option(help="coortweet: write the full graph with a weight_threshold column."),
    ] = False,
    hub_cap: Annotated[
        int | None, typer.Option(help="native: events in a bigger crowd form no pairs.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary on stdout.")
    ] = False,
) -> None:
    """Build a co-action network as coordination-network-toolkit (cnt) or CooRTweet
    (coortweet) build it, or our own exact-window network (native)."""
    t0 = time.perf_counter()
    opts: dict[str, Any] = {
        "network": network_type,
        "time_window": time_window,
        "min_edge_weight": min_edge_weight,
        "similarity_threshold": similarity_threshold,
        "min_document_size_similarity": min_document_size_similarity,
        "include_self_loops": include_self_loops,
        "resolved_urls": resolved_urls,
        "n_messages": n_messages,
        "layout": layout,
        "fmt": fmt,
        "strict": strict,
        "action": action,
        "repost_action": repost_action,
        "reply_action": reply_action,
        "link_action": link_action,
        "min_participation": min_participation,
        "remove_loops": remove_loops,
        "edge_weight": edge_weight,
        "full": full,
        "hub_cap": hub_cap,
    }
    try:
        if profile not in PROFILES:
            raise InvalidInput(f"--profile: use one of {', '.join(PROFILES)}")
        if not input.exists():
            raise InvalidInput(f"input file not found: {input}")
        out_fmt = _output_format(out_path, output_format)
        if profile == "cnt":
            _warm_in_background(out_fmt == "graphml")
            summary = _run_cnt(input, out_path, out_fmt, opts)
        elif profile == "coortweet":
            summary = _run_coortweet(input, out_path, out_fmt, opts)
        else:
            summary = _run_native(input, out_path, out_fmt, opts)
    except CibError as exc:
        _err(f"error: {exc.message}")
        for v in exc.violations[:20]:
            _err(f"  - {v.describe()}")
        raise typer.Exit(code=2) from None
    summary["out"] = str(out_path)
    summary["format"] = out_fmt
    summary["timings"]["total"] = round(time.perf_counter() - t0, 4)
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
    elif profile != "coortweet":
        _err(f"{summary['edges']:,} edges -> {out_path} in {summary['timings']['total']:.2f}s")
    else:
        _err(f"-> {out_path} in {summary['timings']['total']:.2f}s")


def run(args: list[str] | None = None, prog_name: str | None = None) -> NoReturn:
    """Run ``network`` as a whole process: an app of this one command (``cib-detect
    network`` runs it with ``prog_name="cib-detect network"``), then exit.

    The process is short-lived, so it skips work that only pays off in a long one: the
    cyclic garbage collector is off (it would walk Numba's many objects again and again
    while they are imported; reference counting still frees every array and table as
    it goes), and the exit does not tear the interpreter down object by object (Numba's
    and LLVM's included), see :func:`_exit`.
    """
    gc.disable()
    app = typer.Typer(add_completion=False)
    app.command()(network)
    try:
        app(args=args, prog_name=prog_name)
    except SystemExit as exc:
        _exit(exc)
        raise
    raise SystemExit(0)  # pragma: no cover - click's standalone mode always exits


def _exit(exc: SystemExit) -> None:
    """End the process now with ``exc``'s status, when that is safe: the outputs are
    written and closed (``Path.write_bytes``), no other thread runs (the warm-up is
    done; it may still be writing its temporary files), stdout and stderr flush. Else
    return, and the caller exits as usual (objects alive now are frozen, so the exit's
    garbage collection does not walk them)."""
    gc.freeze()
    code = exc.code
    if code is not None and not isinstance(code, int):
        return
    if threading.active_count() > 1 or os.environ.get("NUMBA_CHROME_TRACE"):
        return  # a thread still runs, or Numba writes its trace file at exit
    try:
        if "logging" in sys.modules:
            sys.modules["logging"].shutdown()  # what its exit handler would do
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    os._exit(code or 0)


def main() -> None:
    run()


if __name__ == "__main__":
    main()
