"""The gRPC service under load: ingest events/s into Neo4j, then read latency.

    .venv/bin/cib-detect neo4j start
    .venv/bin/python benchmarks/grpc_bench.py --events 500000 --streams 4 --clients 16 \
        --seconds 20 --results benchmarks/RESULTS.md

1. The database is emptied (schema kept) and ``cib-detect serve`` starts as its own
   process on 127.0.0.1 (an OS-chosen port); the benchmark waits for health SERVING.
2. **Ingest**: the world file ``benchmarks/data/world_<size>_s<seed>.parquet`` is cut
   into batches of ``--batch`` events, serialized before the clock starts, and sent over
   ``--streams`` concurrent ``StreamEvents`` streams (one thread each). Every batch's ack
   is checked; at the end the stored event count must equal the distinct events sent
   (zero loss, zero duplicates). Then the same batches again (all duplicates).
3. A detection run (``StartDetection``) over everything; its wall time is recorded.
4. **Reads**: ``--clients`` concurrent clients (``--procs`` processes x threads, one
   channel per process) call ``ListClusters`` (a random page of 20) for ``--seconds``,
   then ``GetCluster`` (a random cluster, 50 evidence edges) for ``--seconds``. p50/p99
   latency per RPC, calls/s and errors are reported.

``--results`` rewrites the "## gRPC service" section of RESULTS.md. It empties the
database: do not point it at data you want to keep.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import platform
import random
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from make_world import parse_count  # noqa: E402
from neo4j_bench import ServerCpu, ensure_world, machine_cpu, replace_section, wipe  # noqa: E402

from cib_detect.config import load_settings  # noqa: E402
from cib_detect.store import local_neo4j  # noqa: E402
from cib_detect.store.graph_store import GraphStore  # noqa: E402

SECTION = "## gRPC service (`cib-detect serve`)"
STREAM_METHOD = "/cib.v1.IngestService/StreamEvents"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def start_service(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int, Path]:
    port_file = Path(tempfile.mkdtemp()) / "port"
    log = Path(tempfile.mkdtemp()) / "serve.log"
    cmd = [str(Path(sys.executable).with_name("cib-detect")), "serve", "--port", "0",
           "--port-file", str(port_file)]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    end = time.monotonic() + 120
    while not port_file.exists() or not port_file.read_text().strip():
        if proc.poll() is not None or time.monotonic() > end:
            raise SystemExit(f"[grpc-bench] serve did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    return proc, int(port_file.read_text()), log


def ingest(target: str, payloads: list[bytes], streams: int, window: int) -> dict[str, Any]:
    """Send pre-serialized batches over ``streams`` concurrent streams, at most ``window``
    unacknowledged batches per stream; check every ack."""
    import grpc

    from cib_detect._proto.cib.v1 import ingest_service_pb2 as ipb

    lanes: list[list[bytes]] = [payloads[i::streams] for i in range(streams)]
    totals = {"new": 0, "duplicate": 0, "invalid": 0, "acks": 0, "errors": 0}
    lock = threading.Lock()
    latencies: list[float] = []

    def lane(batches: list[bytes]) -> None:
        with grpc.insecure_channel(target) as ch:
            call = ch.stream_stream(
                STREAM_METHOD,
                request_serializer=None,
                response_deserializer=ipb.StreamEventsResponse.FromString,
            )
            sent: list[float] = []
            credit = threading.Semaphore(window)

            def requests() -> Any:
                for b in batches:
                    credit.acquire()
                    sent.append(time.perf_counter())
                    yield b

            try:
                for i, ack in enumerate(call(requests(), timeout=3600)):
                    now = time.perf_counter()
                    credit.release()
                    with lock:
                        latencies.append(now - sent[i])
                        totals["new"] += ack.counts.new
                        totals["duplicate"] += ack.counts.duplicate
                        totals["invalid"] += ack.counts.invalid
                        totals["acks"] += 1
            except grpc.RpcError as exc:
                with lock:
                    totals["errors"] += 1
                print(f"[grpc-bench] stream failed: {exc}", flush=True)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=lane, args=(b,)) for b in lanes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    totals["wall_s"] = time.perf_counter() - t0
    totals["ack_p50_ms"] = percentile(latencies, 0.5) * 1000
    totals["ack_p99_ms"] = percentile(latencies, 0.99) * 1000
    return totals


def _reader(args: tuple[str, str, str, int, float, int, list[str], int]) -> dict[str, Any]:
    """One process of readers: ``threads`` clients calling one RPC for ``seconds``."""
    target, rpc, run_id, threads, seconds, pages, cluster_ids, seed = args
    import grpc

    from cib_detect._proto.cib.v1 import cluster_service_pb2 as cpb
    from cib_detect._proto.cib.v1 import cluster_service_pb2_grpc as cgrpc

    channel = grpc.insecure_channel(target)
    stub = cgrpc.ClusterServiceStub(channel)
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    tokens: list[str] = [""]
    token = ""
    for _ in range(pages - 1):  # the page tokens of the run, to ask for random pages
        resp = stub.ListClusters(cpb.ListClustersRequest(run_id=run_id, page_size=20,
                                                         page_token=token))  # fmt: skip
        token = resp.next_page_token
        if not token:
            break
        tokens.append(token)
    end = time.perf_counter() + seconds

    def client(k: int) -> None:
        rng = random.Random(seed * 1000 + k)
        local: list[float] = []
        while time.perf_counter() < end:
            t = time.perf_counter()
            try:
                if rpc == "ListClusters":
                    stub.ListClusters(
                        cpb.ListClustersRequest(run_id=run_id, page_size=20,
                                                page_token=rng.choice(tokens)),
                        timeout=10,
                    )  # fmt: skip
                else:
                    stub.GetCluster(
                        cpb.GetClusterRequest(run_id=run_id, cluster_id=rng.choice(cluster_ids),
                                              evidence_limit=50),
                        timeout=10,
                    )  # fmt: skip
                local.append(time.perf_counter() - t)
            except grpc.RpcError as exc:
                with lock:
                    errors.append(str(exc.code()))
        with lock:
            lat.extend(local)

    ts = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    channel.close()
    return {"latencies": lat, "errors": errors}


def reads(
    target: str, rpc: str, run_id: str, clients: int, procs: int, seconds: float,
    cluster_ids: list[str], pages: int,
) -> dict[str, Any]:  # fmt: skip
    per = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    jobs = [(target, rpc, run_id, n, seconds, pages, cluster_ids, i) for i, n in enumerate(per)]
    with mp.get_context("spawn").Pool(procs) as pool:
        parts = pool.map(_reader, jobs)
    lat = [x for p in parts for x in p["latencies"]]
    errors = [x for p in parts for x in p["errors"]]
    return {
        "calls": len(lat),
        "calls_per_s": len(lat) / seconds,
        "p50_ms": percentile(lat, 0.5) * 1000,
        "p99_ms": percentile(lat, 0.99) * 1000,
        "max_ms": max(lat) * 1000 if lat else float("nan"),
        "errors": len(errors),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", default="500k", help="world size (events)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--window", type=int, default=2, help="unacknowledged batches per stream")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--procs", type=int, default=4, help="processes the readers run in")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--results", type=Path)
    args = ap.parse_args()

    from cib_detect._proto.cib.v1 import ingest_service_pb2 as ipb
    from cib_detect.client import CibClient, file_batches

    settings = load_settings()
    n = parse_count(args.events)
    world = ensure_world(n, args.seed, HERE / "data")
    with GraphStore.open(settings.neo4j) as store:
        wipe(store)
    server_cpu = ServerCpu(local_neo4j.status(settings.neo4j).get("pid"))
    info, batches = file_batches(world, args.batch)
    payloads = [
        ipb.StreamEventsRequest(events=b, sequence=i).SerializeToString()
        for i, b in enumerate(batches)
    ]
    events = info.accepted
    env = dict(os.environ)
    proc, port, _log = start_service(env)
    target = f"127.0.0.1:{port}"
    results: dict[str, Any] = {}
    try:
        client = CibClient(target, timeout_s=60)
        client.wait_until_serving(120)
        svc_cpu = ServerCpu(proc.pid)
        for name in ("ingest", "re-ingest"):
            m0, n0, s0 = machine_cpu(), server_cpu.read(), svc_cpu.read()
            r = ingest(target, payloads, args.streams, args.window)
            m1, n1, s1 = machine_cpu(), server_cpu.read(), svc_cpu.read()
            r["neo4j_cpu_s"] = None if n0 is None or n1 is None else n1 - n0
            r["service_cpu_s"] = None if s0 is None or s1 is None else s1 - s0
            r["machine_cpu_s"] = None if m0 is None or m1 is None else m1 - m0
            r["rate"] = events / r["wall_s"]
            print(f"[grpc-bench] {name}: {r}", flush=True)
            results[name] = r
        with GraphStore.open(settings.neo4j) as store:
            stored = int(store.read("MATCH ()-[e:ACTED]->() RETURN count(e) AS n")[0]["n"])
        results["stored"] = stored
        t0 = time.perf_counter()
        run = client.wait_for_run(client.start_detection().run_id, timeout_s=3600)
        results["detect_s"] = time.perf_counter() - t0
        results["run"] = run
        ids = [c.cluster_id for c in client.iter_clusters(run.run_id)]
        pages = (len(ids) + 19) // 20
        for rpc in ("ListClusters", "GetCluster"):
            m0, n0, s0 = machine_cpu(), server_cpu.read(), svc_cpu.read()
            r = reads(target, rpc, run.run_id, args.clients, args.procs, args.seconds, ids, pages)
            m1, n1, s1 = machine_cpu(), server_cpu.read(), svc_cpu.read()
            calls = max(r["calls"], 1)
            r["neo4j_ms_per_call"] = None if n0 is None or n1 is None else (n1 - n0) * 1e3 / calls
            r["service_ms_per_call"] = None if s0 is None or s1 is None else (s1 - s0) * 1e3 / calls
            r["machine_ms_per_call"] = None if m0 is None or m1 is None else (m1 - m0) * 1e3 / calls
            print(f"[grpc-bench] {rpc}: {r}", flush=True)
            results[rpc] = r
        client.close()
    finally:
        proc.terminate()
        proc.wait(60)
    ok = results["stored"] == events == results["ingest"]["new"] and not results["ingest"]["errors"]
    print(f"[grpc-bench] zero loss: {ok} (sent {events}, new {results['ingest']['new']}, "
          f"stored {results['stored']})", flush=True)  # fmt: skip
    if args.results:
        replace_section(args.results, markdown(args, results, events, ok), SECTION)
    return 0 if ok else 1


def _f(x: float | None, d: int = 1) -> str:
    return "n/a" if x is None else f"{x:,.{d}f}"


def markdown(args: argparse.Namespace, r: dict[str, Any], events: int, ok: bool) -> str:
    from importlib import metadata

    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    cmd = shlex.join([".venv/bin/python", "benchmarks/grpc_bench.py", *sys.argv[1:]])
    lines = [
        SECTION,
        "",
        f"Run {now} on {platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; grpcio {metadata.version('grpcio')}, "
        f"Neo4j {load_settings().neo4j.version} (local server), `cib-detect serve` as its own "
        "process, clients in the benchmark's processes, all on this machine. Command:",
        "",
        "```bash",
        ".venv/bin/cib-detect neo4j start",
        cmd,
        "```",
        "",
        f"Ingest: {events:,} events in batches of {args.batch} over {args.streams} concurrent "
        f"`StreamEvents` streams, at most {args.window} unacknowledged batches per stream "
        "(requests serialized before the clock starts; every ack checked; ack latency = "
        f"send to ack of one batch). Zero loss: {'yes' if ok else 'NO'} "
        f"(stored {r['stored']:,}).",
        "",
        "| step | wall s | events/s | ack p50 ms | ack p99 ms | Neo4j CPU s | service CPU s "
        "| machine CPU s | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("ingest", "re-ingest"):
        x = r[name]
        lines.append(
            f"| {name} | {x['wall_s']:.2f} | {x['rate']:,.0f} | {x['ack_p50_ms']:.1f} | "
            f"{x['ack_p99_ms']:.1f} | {_f(x['neo4j_cpu_s'])} | {_f(x['service_cpu_s'])} | "
            f"{_f(x['machine_cpu_s'])} | {x['errors']} |"
        )
    run = r["run"]
    lines += [
        "",
        f"Detection run over the stored events (`StartDetection` -> SUCCEEDED, polled): "
        f"{r['detect_s']:.2f} s, {run.clusters} clusters, {run.evidence_edges} evidence edges.",
        "",
        f"Reads: {args.clients} concurrent clients ({args.procs} processes x threads), "
        f"{args.seconds:g} s per RPC; `ListClusters` asks for a random page of 20, "
        "`GetCluster` for a random cluster with up to 50 evidence edges.",
        "",
        "| RPC | calls | calls/s | p50 ms | p99 ms | max ms | errors | CPU ms/call: Neo4j "
        "| service | whole machine |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rpc in ("ListClusters", "GetCluster"):
        x = r[rpc]
        lines.append(
            f"| {rpc} | {x['calls']:,} | {x['calls_per_s']:,.0f} | {x['p50_ms']:.1f} | "
            f"{x['p99_ms']:.1f} | {x['max_ms']:.1f} | {x['errors']} | "
            f"{_f(x['neo4j_ms_per_call'], 2)} | {_f(x['service_ms_per_call'], 2)} | "
            f"{_f(x['machine_ms_per_call'], 2)} |"
        )
    lines.append("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
