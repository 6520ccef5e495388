"""The detection run: events -> signals -> significance -> Leiden -> ranked clusters."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt

from cib_detect.config import DetectParams
from cib_detect.detect import evidence as ev
from cib_detect.detect.graph import CoordinationGraph, build_graph, leiden
from cib_detect.detect.objects import action_target_objects, build_objects, text_groups
from cib_detect.detect.pairs import PairSignal, pair_signal
from cib_detect.detect.scoring import overall, sub_scores
from cib_detect.detect.significance import significant_masks
from cib_detect.model import Cluster, DetectionResult, EventTable, Evidence

Progress = Callable[[str, float], None]
Check = Callable[[], None]
Mask = npt.NDArray[np.bool_]

STAGES = ("objects", "co_action", "text", "significance", "leiden", "clusters")


class _Clock:
    def __init__(self, progress: Progress | None, check: Check | None) -> None:
        self.timings: dict[str, float] = {}
        self.progress = progress
        self.check = check
        self._stage = ""
        self._t = 0.0

    def start(self, stage: str) -> None:
        if self.check is not None:
            self.check()
        self._stage = stage
        self._t = time.perf_counter()
        if self.progress is not None:
            self.progress(stage, 0.0)

    def tick(self, frac: float) -> None:
        if self.progress is not None:
            self.progress(self._stage, frac)
        if self.check is not None:
            self.check()

    def stop(self) -> None:
        self.timings[self._stage] = round(time.perf_counter() - self._t, 4)
        if self.progress is not None:
            self.progress(self._stage, 1.0)


def run_detection(
    events: EventTable,
    params: DetectParams,
    *,
    progress: Progress | None = None,
    check: Check | None = None,
) -> DetectionResult:
    """Run the whole engine on validated events. Deterministic for (events, params)."""
    clock = _Clock(progress, check)
    n_acc = len(events.accounts)
    common: dict[str, Any] = {
        "hub_cap": params.hub_cap,
        "episode_gap": params.episode_gap,
        "min_episodes": params.min_episodes,
        "jitter_min": params.jitter_min,
        "jitter_factor": params.jitter_factor,
    }

    clock.start("signals")
    # the text signal holds one thread for its whole run: one more keeps co-action chunks
    # running on `workers` threads beside it
    threads = max(1, params.workers) + (1 if params.text else 0)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        text_job = pool.submit(_text_signal, events, params, common) if params.text else None
        t0 = time.perf_counter()
        obj, obj_target = action_target_objects(events)
        objects = build_objects(
            obj,
            events.account,
            events.ts,
            None,
            n_acc,
            params.max_events_per_account_target,
        )
        clock.timings["objects"] = round(time.perf_counter() - t0, 4)
        t0 = time.perf_counter()
        signals: list[PairSignal] = [
            pair_signal("co_action", objects, params.windows, tick=clock.tick, pool=pool, **common)
        ]
        clock.timings["co_action"] = round(time.perf_counter() - t0, 4)
        if text_job is not None:
            text_signal, text_secs = text_job.result()
            clock.timings["text"] = text_secs
            if text_signal is not None:
                signals.append(text_signal)
    clock.stop()

    clock.start("significance")
    masks, sig_info = significant_masks(signals, min_episodes=params.min_episodes, alpha=params.fdr)
    graph = build_graph(signals, masks)
    clock.stop()

    clock.start("leiden")
    nodes, comm = leiden(
        graph, seed=params.seed, resolution=params.resolution, iterations=params.leiden_iterations
    )
    clock.stop()

    clock.start("clusters")
    popularity = ev.target_popularity(objects, obj_target, len(events.targets))
    clusters = _assemble(events, params, signals, masks, graph, nodes, comm, popularity, clock)
    clock.stop()

    stats: dict[str, Any] = {
        "events": events.n,
        "accounts": n_acc,
        "targets": len(events.targets),
        "objects": objects.n_objects,
        "pairs": {
            s.name: {"co_acting": s.co_acting_pairs, "candidates": s.n_pairs} for s in signals
        },
        "significance": sig_info,
        "graph": {"nodes": int(nodes.size), "edges": int(graph.a.size)},
        "communities": int(comm.max()) + 1 if comm.size else 0,
        "clusters": len(clusters),
    }
    return DetectionResult(clusters=clusters, stats=stats, timings=clock.timings)


def _text_signal(
    events: EventTable, params: DetectParams, common: dict[str, Any]
) -> tuple[PairSignal | None, float]:
    """The near-duplicate text signal (runs beside the co-action signal)."""
    t0 = time.perf_counter()
    if events.text is None:
        return None, 0.0
    rows, labels = text_groups(
        events, min_chars=params.text_min_chars, threshold=params.text_threshold
    )
    if rows.size < 2:
        return None, round(time.perf_counter() - t0, 4)
    tobjects = build_objects(
        labels,
        events.account[rows],
        events.ts[rows],
        rows,
        len(events.accounts),
        params.max_events_per_account_target,
    )
    sig = pair_signal("near_duplicate_text", tobjects, (params.text_window,), **common)
    return sig, round(time.perf_counter() - t0, 4)


def _evidence_in_order(
    signals: list[PairSignal], refs: ev.EdgeRefs, events: EventTable, max_examples: int
) -> tuple[Evidence, ...]:
    """Evidence for ``refs``, built per signal in bulk, returned in the refs' order."""
    out: list[Evidence | None] = [None] * len(refs)
    for si, sig in enumerate(signals):
        positions, pairs, wins = refs.of_signal(si)
        built = ev.make_evidence(sig, pairs, wins, events, max_examples)
        for i, item in zip(positions.tolist(), built, strict=True):
            out[i] = item
    return tuple(x for x in out if x is not None)


def _assemble(
    events: EventTable,
    params: DetectParams,
    signals: list[PairSignal],
    masks: list[Mask],
    graph: CoordinationGraph,
    nodes: npt.NDArray[np.int32],
    comm: npt.NDArray[np.int32],
    popularity: npt.NDArray[np.int64],
    clock: _Clock,
) -> list[Cluster]:
    if nodes.size == 0:
        return []
    comm_of = np.full(len(events.accounts), -1, dtype=np.int64)
    comm_of[nodes] = comm
    ca = comm_of[graph.a]
    intra = ca == comm_of[graph.b]
    edge_comm = ca[intra]
    e_a, e_b, e_w = graph.a[intra], graph.b[intra], graph.weight[intra]
    order = np.argsort(edge_comm, kind="stable")
    edge_comm, e_a, e_b, e_w = edge_comm[order], e_a[order], e_b[order], e_w[order]
    bounds = np.flatnonzero(np.concatenate(([True], edge_comm[1:] != edge_comm[:-1])))
    bounds = np.append(bounds, edge_comm.size)
    drafts = []
    n_groups = bounds.size - 1
    for gi in range(n_groups):
        s, e = int(bounds[gi]), int(bounds[gi + 1])
        members = np.unique(np.concatenate((e_a[s:e], e_b[s:e])))
        size = int(members.size)
        n_edges = e - s
        if size < params.min_cluster_size:
            continue
        density = n_edges / (size * (size - 1) / 2)
        if density < params.min_cluster_density:
            continue
        parts: list[list[np.ndarray]] = [[] for _ in range(8)]
        for si, (sig, mask) in enumerate(zip(signals, masks, strict=True)):
            idx = ev.pair_index(sig, e_a[s:e], e_b[s:e])
            idx = idx[idx >= 0]
            idx = idx[mask[idx].any(axis=1)]
            best = ev.best_windows(sig, mask, idx)
            columns: list[np.ndarray] = [
                np.full(idx.size, si, dtype=np.int64),
                idx,
                best,
                sig.log10_p[idx, best],
                sig.med_dt[idx, best] / (1000.0 * np.asarray(sig.windows)[best]),
                sig.weight[idx, best],
                sig.pair_a[idx],
                sig.pair_b[idx],
            ]
            for part, column in zip(parts, columns, strict=True):
                part.append(column)
        ref_sig, ref_pair, ref_win, lp, dtw, wt, ref_a, ref_b = (np.concatenate(p) for p in parts)
        refs = ev.EdgeRefs(ref_sig, ref_pair, ref_win)
        scores = sub_scores(size, n_edges, e_w[s:e], lp, dtw)
        # strongest first: weight (to 9 decimals, as Python rounds), p-value, then the
        # pair's account codes and the signal; a stable sort keeps equal keys in order
        weight_key = -np.array([round(x, 9) for x in wt.tolist()], dtype=np.float64)
        ranked = np.lexsort((ref_sig, ref_b, ref_a, lp, weight_key))
        kept = refs.take(ranked[: params.max_evidence_edges])
        names = [events.accounts[int(m)] for m in members]
        combos = np.unique(ref_sig * (1 << 32) + ref_win).tolist()
        drafts.append(
            (
                overall(scores),
                scores,
                names,
                sorted({signals[c >> 32].label(c & 0xFFFFFFFF) for c in combos}),
                ev.shared_targets(signals, refs, events, popularity, params.top_targets),
                _evidence_in_order(signals, kept, events, params.max_examples),
                n_edges,
                len(refs) > len(kept),
            )
        )
        clock.tick((gi + 1) / n_groups)
    drafts.sort(key=lambda d: (-d[0], -len(d[2]), d[2][0]))
    out = []
    for rank, (score, scores, names, sigs, tops, evid, n_edges, trunc) in enumerate(drafts, 1):
        digest = hashlib.sha1("\n".join(names).encode("utf-8")).hexdigest()[:12]
        out.append(
            Cluster(
                cluster_id=f"c-{digest}",
                rank=rank,
                score=score,
                sub_scores=scores,
                members=tuple(names),
                signals=tuple(sigs),
                top_targets=tuple(tops),
                evidence=evid,
                n_edges=n_edges,
                evidence_truncated=trunc,
            )
        )
    return out
