"""Sustained load: gRPC ingest into Neo4j for minutes, then concurrent investigator reads.

    .venv/bin/cib-detect neo4j start
    .venv/bin/python benchmarks/load_bench.py --duration 180 --streams 4 \
        --clients 16 --seconds 30 --results benchmarks/RESULTS.md

1. The database is emptied (schema kept) and ``cib-detect serve`` starts as its own
   process. The world file ``benchmarks/data/world_<size>_s<seed>.parquet`` provides the
   events (accounts, targets, times, texts); event ids are made unique per pass, so the
   world can be replayed as often as ``--duration`` needs (later passes are shifted in
   time by the world's span).
2. **Ingest** for ``--duration`` seconds over ``--streams`` ``StreamEvents`` streams, each
   with at most ``--window`` unacknowledged batches of ``--batch`` events, as fast as the
   service acknowledges (the highest rate it holds). Every ack is checked; per 10 s
   interval the acknowledged events/s, ack p50/p99 and errors are recorded. At the end the
   stored event count must equal the events acknowledged as new (zero loss).
3. A detection run over everything, then ``--clients`` concurrent investigator clients
   (ListClusters, GetCluster, ExplainAccount, TargetAmplifiers mixed) for ``--seconds``.

``--results`` rewrites the "## Sustained load" section of RESULTS.md. Empties the
database before and after the run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import platform
import random
import shlex
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from grpc_bench import percentile, start_service  # noqa: E402
from make_world import parse_count  # noqa: E402
from neo4j_bench import ensure_world, replace_section, wipe  # noqa: E402

from cib_detect.config import load_settings  # noqa: E402
from cib_detect.service.guard import encode_int, encode_len  # noqa: E402
from cib_detect.store.graph_store import GraphStore  # noqa: E402

SECTION = "## Sustained load (`cib-detect serve`)"
INTERVAL_S = 10.0


class Source:
    """Endless batches of wire-encoded events from a world file (unique ids per pass)."""

    def __init__(self, path: Path, batch: int, prefix: str = "ld") -> None:
        from cib_detect.io import read_events

        events, _ = read_events(path, keep_event_ids=False)
        self.n = events.n
        self.batch = batch
        self.prefix = prefix
        acc = [encode_len(2, a.encode()) for a in events.accounts]
        act = [encode_len(3, a.encode()) for a in events.actions]
        tgt = [encode_len(4, t.encode()) for t in events.targets]
        self.parts = [
            acc[a] + act[c] + tgt[t]
            for a, c, t in zip(
                events.account.tolist(), events.action.tolist(), events.target.tolist(), strict=True
            )
        ]
        self.ts = events.ts.tolist()
        self.span = int(events.ts.max() - events.ts.min()) + 1
        self._next = 0
        self._lock = threading.Lock()

    def take(self) -> tuple[int, bytes]:
        """(events, request bytes) of the next batch."""
        with self._lock:
            start = self._next
            self._next += self.batch
        body = bytearray()
        for k in range(start, start + self.batch):
            p, i = divmod(k, self.n)
            ts = self.ts[i] + p * self.span
            if ts >= 4_102_444_800_000:
                raise SystemExit("[load-bench] ran out of time range; lower --duration")
            eid = encode_len(1, f"{self.prefix}-{p}-{i}".encode())
            event = eid + self.parts[i] + encode_int(5, ts)
            body += encode_len(1, event)
        return self.batch, bytes(body)


def ingest_for(
    target: str, source: Source, streams: int, window: int, seconds: float
) -> dict[str, Any]:
    import grpc

    from cib_detect._proto.cib.v1 import ingest_service_pb2 as ipb

    t0 = time.perf_counter()
    stop_at = t0 + seconds
    lock = threading.Lock()
    acks: list[tuple[float, int, int, float]] = []  # (time, events, new, latency)
    errors: list[str] = []

    def lane() -> None:
        with grpc.insecure_channel(target) as ch:
            call = ch.stream_stream(
                "/cib.v1.IngestService/StreamEvents",
                request_serializer=None,
                response_deserializer=ipb.StreamEventsResponse.FromString,
            )
            credit = threading.Semaphore(window)
            sent: list[tuple[float, int]] = []

            def requests() -> Any:
                while time.perf_counter() < stop_at:
                    credit.acquire()
                    if time.perf_counter() >= stop_at:
                        return
                    n, body = source.take()
                    sent.append((time.perf_counter(), n))
                    yield body

            try:
                for i, ack in enumerate(call(requests(), timeout=seconds + 600)):
                    now = time.perf_counter()
                    credit.release()
                    with lock:
                        acks.append((now - t0, sent[i][1], ack.counts.new, now - sent[i][0]))
                        if ack.counts.invalid:
                            errors.append(f"{ack.counts.invalid} invalid")
            except grpc.RpcError as exc:
                with lock:
                    errors.append(str(exc.code()))

    threads = [threading.Thread(target=lane) for _ in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    intervals = []
    for k in range(int(wall // INTERVAL_S) + 1):
        lo, hi = k * INTERVAL_S, (k + 1) * INTERVAL_S
        part = [a for a in acks if lo <= a[0] < hi]
        if not part:
            continue
        lat = [a[3] for a in part]
        intervals.append({
            "from_s": lo, "events": sum(a[1] for a in part),
            "rate": sum(a[1] for a in part) / min(INTERVAL_S, wall - lo),
            "p50_ms": percentile(lat, 0.5) * 1e3, "p99_ms": percentile(lat, 0.99) * 1e3,
        })  # fmt: skip
    lat_all = [a[3] for a in acks]
    return {
        "wall_s": wall,
        "events": sum(a[1] for a in acks),
        "new": sum(a[2] for a in acks),
        "rate": sum(a[1] for a in acks) / wall,
        "p50_ms": percentile(lat_all, 0.5) * 1e3,
        "p99_ms": percentile(lat_all, 0.99) * 1e3,
        "errors": errors,
        "intervals": intervals,
    }


def _reader(
    args: tuple[str, str, int, float, list[str], list[str], list[str], int],
) -> dict[str, Any]:
    target, run_id, threads, seconds, cluster_ids, accounts, targets, seed = args
    import grpc

    from cib_detect._proto.cib.v1 import cluster_service_pb2 as cpb
    from cib_detect._proto.cib.v1 import cluster_service_pb2_grpc as cgrpc

    channel = grpc.insecure_channel(target)
    stub = cgrpc.ClusterServiceStub(channel)
    out: dict[str, list[float]] = {}
    errors: list[str] = []
    lock = threading.Lock()
    end = time.perf_counter() + seconds

    def client(k: int) -> None:
        rng = random.Random(seed * 100 + k)
        local: dict[str, list[float]] = {}
        while time.perf_counter() < end:
            rpc = rng.choice(["ListClusters", "GetCluster", "ExplainAccount", "TargetAmplifiers"])
            t = time.perf_counter()
            try:
                if rpc == "ListClusters":
                    req: Any = cpb.ListClustersRequest(run_id=run_id, page_size=20)
                    stub.ListClusters(req, timeout=10)
                elif rpc == "GetCluster":
                    cid = rng.choice(cluster_ids)
                    req = cpb.GetClusterRequest(run_id=run_id, cluster_id=cid, evidence_limit=50)
                    stub.GetCluster(req, timeout=10)
                elif rpc == "ExplainAccount":
                    req = cpb.ExplainAccountRequest(run_id=run_id, account_id=rng.choice(accounts))
                    stub.ExplainAccount(req, timeout=10)
                else:
                    req = cpb.TargetAmplifiersRequest(
                        run_id=run_id, target=rng.choice(targets), limit=100
                    )
                    stub.TargetAmplifiers(req, timeout=10)
                local.setdefault(rpc, []).append(time.perf_counter() - t)
            except grpc.RpcError as exc:
                with lock:
                    errors.append(f"{rpc}: {exc.code()}")
        with lock:
            for k2, v in local.items():
                out.setdefault(k2, []).extend(v)

    ts = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    channel.close()
    return {"latencies": out, "errors": errors}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", default="1M", help="world size whose events are replayed")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--duration", type=float, default=180.0, help="ingest seconds")
    ap.add_argument("--warmup", type=float, default=30.0, help="unmeasured ingest seconds first")
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--window", type=int, default=2)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=30.0, help="read seconds")
    ap.add_argument("--results", type=Path)
    args = ap.parse_args()

    from cib_detect.client import CibClient

    settings = load_settings()
    world = ensure_world(parse_count(args.world), args.seed, HERE / "data")
    source = Source(world, args.batch)
    with GraphStore.open(settings.neo4j) as store:
        wipe(store)
    proc, port, _log = start_service(dict(os.environ))
    target = f"127.0.0.1:{port}"
    try:
        client = CibClient(target, timeout_s=120)
        client.wait_until_serving(120)
        if args.warmup > 0:  # a fresh JVM runs Cypher several times slower until JIT-compiled
            print(f"[load-bench] warm-up ingest for {args.warmup:g} s", flush=True)
            warm = Source(world, args.batch, prefix="wu")
            ingest_for(target, warm, args.streams, args.window, args.warmup)
            with GraphStore.open(settings.neo4j) as store:
                wipe(store)
        print(f"[load-bench] ingesting for {args.duration:g} s", flush=True)
        ing = ingest_for(target, source, args.streams, args.window, args.duration)
        with GraphStore.open(settings.neo4j) as store:
            stored = int(store.read("MATCH ()-[e:ACTED]->() RETURN count(e) AS n",
                                    timeout_s=600)[0]["n"])  # fmt: skip
        summary = (
            f"{ing['events']:,} events acked, {ing['new']:,} new, stored {stored:,}, "
            f"{ing['rate']:,.0f}/s, errors {ing['errors'][:5]}"
        )
        print(f"[load-bench] ingest: {summary}", flush=True)
        t0 = time.perf_counter()
        run = client.wait_for_run(client.start_detection().run_id, timeout_s=3600)
        detect_s = time.perf_counter() - t0
        ids = [c.cluster_id for c in client.iter_clusters(run.run_id)]
        members: list[str] = []
        tops: list[str] = []
        for cid in ids[:20]:
            got = client.get_cluster(cid, run.run_id)
            members += list(got.members)[:5]
            tops += [t.target for t in got.top_targets][:3]
        per = [args.clients // args.procs + (1 if i < args.clients % args.procs else 0)
               for i in range(args.procs)]  # fmt: skip
        jobs = [(target, run.run_id, n, args.seconds, ids, members, tops, i)
                for i, n in enumerate(per)]  # fmt: skip
        with mp.get_context("spawn").Pool(args.procs) as pool:
            parts = pool.map(_reader, jobs)
        reads: dict[str, Any] = {}
        for rpc in ("ListClusters", "GetCluster", "ExplainAccount", "TargetAmplifiers"):
            lat = [x for p in parts for x in p["latencies"].get(rpc, [])]
            reads[rpc] = {"calls": len(lat), "p50_ms": percentile(lat, 0.5) * 1e3,
                          "p99_ms": percentile(lat, 0.99) * 1e3}  # fmt: skip
        read_errors = [e for p in parts for e in p["errors"]]
        print(f"[load-bench] reads: {reads} errors {read_errors[:5]}", flush=True)
        client.close()
    finally:
        proc.terminate()
        proc.wait(60)
    ok = stored == ing["new"] and not ing["errors"]
    if args.results:
        replace_section(args.results, markdown(args, ing, stored, ok, run, detect_s, reads,
                                               read_errors), SECTION)  # fmt: skip
    with GraphStore.open(settings.neo4j) as store:
        wipe(store)
    return 0 if ok else 1


def markdown(args: argparse.Namespace, ing: dict[str, Any], stored: int, ok: bool, run: Any,
             detect_s: float, reads: dict[str, Any], read_errors: list[str]) -> str:  # fmt: skip
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    cmd = shlex.join([".venv/bin/python", "benchmarks/load_bench.py", *sys.argv[1:]])
    rates = [x["rate"] for x in ing["intervals"]]
    lines = [
        SECTION, "",
        f"Run {now} on {platform.system()} {platform.machine()}, {os.cpu_count()} cores; "
        "`cib-detect serve` as its own process, Neo4j 5.26 local server, clients in the "
        "benchmark's processes, all on this machine. Command:", "",
        "```bash", ".venv/bin/cib-detect neo4j start", cmd, "```", "",
        f"After {args.warmup:g} s of unmeasured warm-up ingest (then the database is emptied "
        "again), **ingest, sustained for "
        f"{ing['wall_s']:.0f} s** ({args.streams} streams, batches of "
        f"{args.batch}, at most {args.window} unacknowledged per stream, as fast as acks "
        f"come): {ing['events']:,} events acknowledged, {ing['rate']:,.0f} events/s overall, "
        f"ack latency p50 {ing['p50_ms']:.0f} ms / p99 {ing['p99_ms']:.0f} ms, errors: "
        f"{len(ing['errors'])}. Stored {stored:,} = acknowledged as new {ing['new']:,}: "
        f"zero loss {'yes' if ok else 'NO'}. Per 10 s: min {min(rates):,.0f}, median "
        f"{sorted(rates)[len(rates) // 2]:,.0f}, max {max(rates):,.0f} events/s.", "",
        "| from s | events | events/s | ack p50 ms | ack p99 ms |",
        "|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for x in ing["intervals"]:
        lines.append(f"| {x['from_s']:.0f} | {x['events']:,} | {x['rate']:,.0f} | "
                     f"{x['p50_ms']:.0f} | {x['p99_ms']:.0f} |")  # fmt: skip
    lines += [
        "",
        f"Then a detection run over the {stored:,} stored events: {detect_s:.1f} s "
        f"({run.clusters} clusters). **Investigator reads**: {args.clients} concurrent clients "
        f"for {args.seconds:g} s, each call a random choice of the four RPCs below "
        f"(errors: {len(read_errors)}).", "",
        "| RPC | calls | p50 ms | p99 ms |", "|---|---:|---:|---:|",
    ]  # fmt: skip
    for rpc, x in reads.items():
        lines.append(f"| {rpc} | {x['calls']:,} | {x['p50_ms']:.1f} | {x['p99_ms']:.1f} |")
    lines.append("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
