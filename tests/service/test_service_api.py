"""The API end to end: a generated world ingested over gRPC, a detection run, every
cluster paged and fetched with its evidence, compared with ``cib-detect detect`` on the
same file; investigations, reviews, run listing and diffs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from neo4j_helpers import count
from service_helpers import Running

from cib_detect._proto.cib.v1 import common_pb2 as pb
from cib_detect._proto.cib.v1 import detection_service_pb2 as dpb
from cib_detect._proto.cib.v1 import ingest_service_pb2 as ipb
from cib_detect.client import file_batches
from cib_detect.errors import FailedPrecondition, InvalidInput, NotFound
from cib_detect.model import Cluster, Evidence, Example, TopTarget
from cib_detect.report.json_out import cluster_record

pytestmark = pytest.mark.neo4j


@pytest.fixture(scope="module")
def world_run(running: Running, world_parquet: Path) -> pb.DetectionRun:
    counts = running.client.ingest_file(world_parquet)
    assert counts["new"] > 0 and counts["invalid"] == 0
    start = running.client.start_detection()
    run = running.client.wait_for_run(start.run_id, timeout_s=300)
    assert run.state == pb.RUN_STATE_SUCCEEDED, run.error
    return run


def _cluster(running: Running, summary: pb.ClusterSummary, run_id: str) -> Cluster:
    """A cluster rebuilt from GetCluster + StreamClusterEvidence as a model object."""
    got = running.client.get_cluster(summary.cluster_id, run_id, evidence_limit=1000)
    edges = running.client.cluster_evidence(summary.cluster_id, run_id, chunk_size=7)
    assert [e.SerializeToString() for e in got.evidence] == [
        e.SerializeToString() for e in edges
    ], "GetCluster and the evidence stream agree"
    assert got.evidence_total == len(edges)
    s = got.cluster
    sub = s.sub_scores
    return Cluster(
        cluster_id=s.cluster_id,
        rank=s.rank,
        score=s.score,
        sub_scores={
            "density": sub.density,
            "evidence": sub.evidence,
            "significance": sub.significance,
            "size": sub.size,
            "synchrony": sub.synchrony,
        },
        members=tuple(got.members),
        signals=tuple(s.signals),
        top_targets=tuple(
            TopTarget(t.target, t.accounts, t.first_unix_millis, t.last_unix_millis, t.popularity)
            for t in got.top_targets
        ),
        evidence=tuple(
            Evidence(
                a=e.account_a,
                b=e.account_b,
                signal=e.signal,
                window=e.window_seconds,
                weight=e.weight,
                p_value=e.p_value,
                log10_p=e.log10_p_value,
                shared_targets=e.shared_targets,
                episodes=e.episodes,
                expected=e.expected,
                median_dt=e.dt_median_seconds,
                first_ts=e.first_unix_millis,
                last_ts=e.last_unix_millis,
                examples=tuple(
                    Example(
                        x.target,
                        x.a_unix_millis,
                        x.b_unix_millis,
                        x.target_b or None,
                        x.text_a or None,
                        x.text_b or None,
                    )
                    for x in e.examples
                ),
            )
            for e in edges
        ),
        n_edges=s.evidence_edges,
        evidence_truncated=s.evidence_truncated,
    )


def test_ingest_is_idempotent_and_reports_every_event(
    running: Running, world_run: pb.DetectionRun, world_parquet: Path
) -> None:
    _, batches = file_batches(world_parquet, 500)
    first = next(batches)
    resp = running.client.ingest_events(first)
    assert resp.counts.duplicate == len(first) and resp.counts.new == 0
    assert [r.status for r in resp.results] == [ipb.EVENT_STATUS_DUPLICATE] * len(first)
    assert [r.event_id for r in resp.results] == [e.event_id for e in first]
    assert world_run.events == count(running.store, "MATCH ()-[e:ACTED]->() RETURN count(e)")


def test_clusters_equal_the_cli_on_the_same_file(
    running: Running, world_run: pb.DetectionRun, cli_world_doc: tuple[Path, dict[str, Any]]
) -> None:
    _, doc = cli_world_doc
    summaries = list(running.client.iter_clusters(world_run.run_id, page_size=3))
    assert len(summaries) == len(doc["clusters"]) == world_run.clusters > 0
    assert [s.rank for s in summaries] == list(range(1, len(summaries) + 1))
    rebuilt = [cluster_record(_cluster(running, s, world_run.run_id)) for s in summaries]
    assert json.loads(json.dumps(rebuilt)) == doc["clusters"]


def test_pagination_is_stable_and_tokens_are_checked(
    running: Running, world_run: pb.DetectionRun
) -> None:
    c = running.client
    rid = world_run.run_id
    first = c.list_clusters(rid, page_size=2)
    assert first.total_size == world_run.clusters and first.next_page_token
    again = c.list_clusters(rid, page_size=2)
    assert again == first
    second = c.list_clusters(rid, page_size=2, page_token=first.next_page_token)
    assert [s.rank for s in second.clusters] == [3, 4]
    # the token is bound to the listing: another min_score or run is refused
    with pytest.raises(InvalidInput) as bad:
        c.list_clusters(rid, page_size=2, page_token=first.next_page_token, min_score=0.5)
    assert [v.field for v in bad.value.violations] == ["page_token"]
    with pytest.raises(InvalidInput):
        c.list_clusters(rid, page_token="not-a-token")
    # min_score filters, and the empty run id means the latest complete run
    high = list(c.iter_clusters("", page_size=5, min_score=0.5))
    assert high and all(s.score >= 0.5 for s in high)
    assert high == [s for s in c.iter_clusters(rid, page_size=50) if s.score >= 0.5]


def test_explain_account_and_target_amplifiers(
    running: Running, world_run: pb.DetectionRun
) -> None:
    c = running.client
    top = c.get_cluster(c.list_clusters(world_run.run_id, page_size=1).clusters[0].cluster_id)
    member = top.members[0]
    why = c.explain_account(member, world_run.run_id, evidence_limit=3)
    assert why.flagged and why.clusters[0].cluster.cluster_id == top.cluster.cluster_id
    assert why.clusters[0].cluster.sub_scores == top.cluster.sub_scores
    ev = why.clusters[0].evidence
    assert 1 <= len(ev) <= 3
    for item in ev:
        assert item.edge.account_a == member and item.partner in top.members
        assert item.edge.examples and item.edge.shared_targets >= 1
    outsider = c.explain_account("no-such-account", world_run.run_id)
    assert not outsider.flagged and not outsider.clusters
    target = top.top_targets[0]
    amp = c.target_amplifiers(target.target, run_id=world_run.run_id, limit=10_000)
    flagged = {a.account_id for a in amp.amplifiers if a.cluster_id == top.cluster.cluster_id}
    assert len(flagged) == target.accounts
    assert [a.first_unix_millis for a in amp.amplifiers] == sorted(
        a.first_unix_millis for a in amp.amplifiers
    )


def test_cluster_review_is_kept_in_neo4j(running: Running, world_run: pb.DetectionRun) -> None:
    c = running.client
    cid = c.list_clusters(world_run.run_id, page_size=1).clusters[0].cluster_id
    c.set_cluster_status(cid, "under_review", note="looks like a farm", analyst="ana")
    done = c.set_cluster_status(cid, "actioned", note="suspended", analyst="ben")
    assert done.review.status == pb.REVIEW_STATUS_ACTIONED and done.review.note == "suspended"
    listed = c.list_clusters(world_run.run_id, page_size=1).clusters[0]
    assert listed.review.analyst == "ben" and listed.review.updated_unix_millis > 0
    history = count(
        running.store,
        "MATCH (r:ClusterReview)-[:REVIEWS]->(:Cluster {key: $key}) RETURN count(r)",
        key=f"{world_run.run_id}/{cid}",
    )
    assert history == 2
    with pytest.raises(InvalidInput) as bad:
        c.set_cluster_status(cid, "unspecified")
    assert [v.field for v in bad.value.violations] == ["status"]
    with pytest.raises(NotFound):
        c.set_cluster_status("c-000000000000", "open")


def test_runs_listing_diff_and_cancel(running: Running, world_run: pb.DetectionRun) -> None:
    c = running.client
    # a second run over the first half of the data
    ts = [
        int(r["t"])
        for r in running.store.read(
            "MATCH ()-[e:ACTED]->() RETURN min(e.ts) AS t UNION "
            "MATCH ()-[e:ACTED]->() RETURN max(e.ts) AS t"
        )
    ]
    half = c.start_detection(until_ms=(min(ts) + max(ts)) // 2)
    second = c.wait_for_run(half.run_id, timeout_s=300)
    assert second.state == pb.RUN_STATE_SUCCEEDED and second.time_range.until_unix_millis > 0
    assert 0 < second.events < world_run.events
    listed = list(c.iter_runs(page_size=1))
    assert [r.run_id for r in listed[:2]] == [second.run_id, world_run.run_id]
    # the newer (half) run against the full one: what shrank or vanished is reported
    diff = c.diff_runs(second.run_id, world_run.run_id)
    assert diff.base_run_id == world_run.run_id and diff.run_id == second.run_id
    full = {s.cluster_id: set(c.get_cluster(s.cluster_id, world_run.run_id).members)
            for s in c.iter_clusters(world_run.run_id)}  # fmt: skip
    now = {s.cluster_id: set(c.get_cluster(s.cluster_id, second.run_id).members)
           for s in c.iter_clusters(second.run_id)}  # fmt: skip
    flagged_now = set().union(*now.values()) if now else set()
    vanished = {cid for cid, m in full.items() if not m & flagged_now}
    got_vanished = {d.cluster.cluster_id for d in diff.changes
                    if d.change == dpb.CLUSTER_CHANGE_VANISHED}  # fmt: skip
    assert got_vanished == vanished
    for d in diff.changes:
        if d.change == dpb.CLUSTER_CHANGE_VANISHED:
            assert set(d.removed_members) == full[d.cluster.cluster_id]
        else:
            members = now[d.cluster.cluster_id]
            base = full.get(d.base_cluster_id, set())
            assert set(d.added_members) == members - base
            assert set(d.removed_members) == base - members
    # cancel: a queued or running run ends CANCELLED; cancelling again is refused
    run = c.start_detection().run
    c.cancel(run.run_id)
    ended = c.wait_for_run(run.run_id, timeout_s=120)
    assert ended.state == pb.RUN_STATE_CANCELLED and ended.error
    with pytest.raises(FailedPrecondition):
        c.cancel(run.run_id)
    with pytest.raises(FailedPrecondition):  # a cancelled run has no clusters to read
        c.list_clusters(run.run_id)


def test_run_budget_is_checked_between_kernel_chunks(
    running: Running, world_run: pb.DetectionRun
) -> None:
    c = running.client
    run = c.wait_for_run(c.start_detection(max_seconds=0.001).run_id, timeout_s=120)
    assert run.state == pb.RUN_STATE_FAILED and "DEADLINE_EXCEEDED" in run.error
