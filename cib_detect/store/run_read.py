"""Read a stored detection run back: clusters as :mod:`cib_detect.model` objects, and the
whole run as the ``clusters.json`` document.

:func:`load_run_document` reads a complete run back as the ``clusters.json`` document
(``cib-detect report --run`` / ``export --run``): the inverse of the write-back in
:mod:`cib_detect.store.runs`, rebuilt into model objects and formatted by
:mod:`cib_detect.report.json_out`, so a run read from Neo4j gives the same ``clusters``
as the file ``detect`` wrote.
"""

from __future__ import annotations

import json
from typing import Any

from cib_detect.config import load_settings
from cib_detect.errors import FailedPrecondition, NotFound
from cib_detect.model import Cluster, Evidence, Example, TopTarget
from cib_detect.report.json_out import cluster_record, iso
from cib_detect.store import cypher
from cib_detect.store.graph_store import GraphStore, Tx
from cib_detect.store.runs import get_run


def sub_scores_from(props: dict[str, Any]) -> dict[str, float]:
    """Sub-scores from the flat ``score<SubScore>`` properties (inverse of
    :func:`sub_score_property`), by name."""
    out = {
        k[5].lower() + k[6:]: float(v)
        for k, v in props.items()
        if k.startswith("score") and k[5:6].isupper() and v is not None
    }
    return dict(sorted(out.items()))


def top_target_from(t: dict[str, Any]) -> TopTarget:
    """A ``TOP_TARGET`` row (target, accounts, popularity, firstTs, lastTs) as a model."""
    return TopTarget(
        target=t["target"],
        accounts=int(t["accounts"]),
        first_ts=int(t["firstTs"]),
        last_ts=int(t["lastTs"]),
        popularity=int(t["popularity"]),
    )


def evidence_from(a: str, b: str, e: dict[str, Any]) -> Evidence:
    """One ``COORDINATED`` edge back as :class:`Evidence` (inverse of :func:`evidence_row`)."""
    targets: list[str] = list(e.get("exampleTargets") or [])
    targets_b: list[str] = list(e.get("exampleTargetsB") or targets)
    ts_a: list[int] = list(e.get("exampleTsA") or [])
    ts_b: list[int] = list(e.get("exampleTsB") or [])
    n = len(targets)
    texts_a: list[str] = list(e.get("exampleTextA") or [""] * n)
    texts_b: list[str] = list(e.get("exampleTextB") or [""] * n)
    if not len(targets_b) == len(ts_a) == len(ts_b) == len(texts_a) == len(texts_b) == n:
        raise FailedPrecondition(
            f"evidence edge {a} -> {b} ({e.get('signal')}) of run {e.get('runId')}: "
            "its example lists differ in length"
        )
    examples = tuple(
        Example(
            target=targets[i],
            t_a=int(ts_a[i]),
            t_b=int(ts_b[i]),
            target_b=targets_b[i] if targets_b[i] != targets[i] else None,
            text_a=texts_a[i] or None,
            text_b=texts_b[i] or None,
        )
        for i in range(n)
    )
    return Evidence(
        a=a,
        b=b,
        signal=str(e["signal"]),
        window=int(e["window"]),
        weight=float(e["weight"]),
        p_value=float(e["pValue"]),
        log10_p=float(e["log10P"]),
        shared_targets=int(e["sharedTargets"]),
        episodes=int(e["episodes"]),
        expected=float(e["expected"]),
        median_dt=float(e["dtMedian"]),
        first_ts=int(e["firstTs"]),
        last_ts=int(e["lastTs"]),
        examples=examples,
    )


def evidence_order(e: Evidence) -> tuple[float, float, str, str, int, str]:
    """The engine's order of a cluster's evidence (``detect/engine.py``): strongest weight
    first, then smallest p-value, then by account ids (its account codes sort as the ids
    do), the co-action signal before the text signal."""
    return (-round(e.weight, 9), e.log10_p, e.a, e.b, 0 if e.signal.startswith("co_action") else 1,
            e.signal)  # fmt: skip


def read_run_clusters(store: GraphStore, run_id: str) -> list[Cluster]:
    """The clusters of a stored run, in rank order, as :class:`Cluster` objects (members
    sorted, evidence in the engine's order). Does not check the run's status."""

    def work(tx: Tx) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        clusters = [r.data() for r in tx.run(cypher.RUN_DOCUMENT_CLUSTERS, {"runId": run_id})]
        edges = [r.data() for r in tx.run(cypher.RUN_DOCUMENT_EVIDENCE, {"runId": run_id})]
        return clusters, edges

    with store.errors(f"read run {run_id}"):
        cluster_rows, edge_rows = store.read_tx(work)
    evidence: dict[str, list[Evidence]] = {}
    for row in edge_rows:
        edge = row["edge"]
        evidence.setdefault(str(edge["clusterId"]), []).append(
            evidence_from(row["a"], row["b"], edge)
        )
    out: list[Cluster] = []
    for row in cluster_rows:
        c = row["cluster"]
        cid = str(c["clusterId"])
        out.append(
            Cluster(
                cluster_id=cid,
                rank=int(c["rank"]),
                score=float(c["score"]),
                sub_scores=sub_scores_from(c),
                members=tuple(sorted(row["members"])),
                signals=tuple(c.get("signals") or ()),
                top_targets=tuple(top_target_from(t) for t in row["topTargets"]),
                evidence=tuple(sorted(evidence.pop(cid, []), key=evidence_order)),
                n_edges=int(c["nEdges"]),
                evidence_truncated=bool(c.get("evidenceTruncated", False)),
            )
        )
    if evidence:
        raise FailedPrecondition(
            f"run {run_id}: evidence edges of unknown clusters ({', '.join(sorted(evidence))})"
        )
    return out


def _json_field(run: dict[str, Any], key: str) -> Any:
    text = run.get(key)
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        raise FailedPrecondition(
            f"run {run.get('runId')}: property {key!r} is not valid JSON"
        ) from None


def _iso_ms(ms: Any) -> str | None:
    return None if ms is None else iso(int(ms))


def run_document(store: GraphStore, run_id: str) -> dict[str, Any]:
    """The ``clusters.json`` document of the complete run ``run_id``.

    ``run`` holds what the run node records: version, params (the detection parameters;
    the data window is in ``window``), seed, an ``input`` record (format ``neo4j``; the
    input digest is not stored, so ``sha256`` is None), stats, the run's status, times
    (ISO-8601 UTC), counts and source. ``clusters`` are formatted exactly as ``detect``
    writes them. Raises :class:`NotFound` for an unknown run and
    :class:`FailedPrecondition` for a run that is not complete (or whose stored clusters
    and edges do not match its counts)."""
    run = get_run(store, run_id)
    if run is None:
        raise NotFound(f"no detection run {run_id!r} in Neo4j at {store.uri or 'the store'}")
    status = run.get("status")
    if status != "complete":
        why = f": {run['error']}" if run.get("error") else ""
        raise FailedPrecondition(
            f"run {run_id} is not complete (status {status!r}{why}); "
            "only a complete run can be read"
        )
    clusters = read_run_clusters(store, run_id)
    n_edges = sum(len(c.evidence) for c in clusters)
    if len(clusters) != run.get("clusters") or n_edges != run.get("evidenceEdges"):
        raise FailedPrecondition(
            f"run {run_id}: Neo4j holds {len(clusters)} clusters and {n_edges} evidence "
            f"edges, the run recorded {run.get('clusters')} and {run.get('evidenceEdges')}"
        )
    params = dict(_json_field(run, "params") or {})
    window = {"since": params.pop("since", run.get("since")),
              "until": params.pop("until", run.get("until"))}  # fmt: skip
    source = _json_field(run, "source") or {}
    events = int(run.get("events") or 0)
    record: dict[str, Any] = {
        "version": run.get("version"),
        "params": params,
        "seed": params.get("seed"),
        "input": {
            "path": source.get("uri") or store.uri,
            "sha256": None,
            "format": "neo4j",
            "rows": events,
            "accepted": events,
            "rejected": 0,
            "duplicates": 0,
            "rejected_by_reason": {},
        },
        "stats": _json_field(run, "stats") or {},
        "timings": {},
        "run_id": run_id,
        "status": status,
        "created_at": _iso_ms(run.get("createdAt")),
        "completed_at": _iso_ms(run.get("completedAt")),
        "window": {k: _iso_ms(v) for k, v in window.items()},
        "counts": _json_field(run, "counts") or {},
        "source": source,
        "store": {"uri": store.uri, "database": store.database},
    }
    return {"run": record, "clusters": [cluster_record(c) for c in clusters]}


def load_run_document(run_id: str, uri: str | None = None) -> dict[str, Any]:
    """:func:`run_document` of ``run_id`` from the configured Neo4j (``CIB_NEO4J__*``;
    ``uri`` overrides ``CIB_NEO4J__URI``). The loader of ``cib-detect report --run``."""
    with GraphStore.open(load_settings().neo4j, uri) as store:
        return run_document(store, run_id)
