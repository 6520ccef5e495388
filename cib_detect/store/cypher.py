"""Every Cypher statement cib-detect runs, in one place.

Two kinds of Cypher live here:

* files under ``cypher/`` (repository root, or ``cib_detect/cypher`` inside a wheel):
  ``schema/*.cypher`` (constraints and indexes, applied by ``cib-detect schema apply``) and
  ``investigate/*.cypher`` (the investigator queries: the same files an analyst pastes
  into Neo4j Browser are the ones the code runs);
* the statements of the code paths below (ingest, export, run write-back, schema
  inspection) as module constants.

Rules (``shared/design.md``): values always travel as ``$parameters``, never as Cypher
text; writes are ``UNWIND $rows``-style batches; no APOC. The graph model is documented in
``cypher/README.md``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from cib_detect.errors import FailedPrecondition, NotFound

# --------------------------------------------------------------------------- files


def cypher_dir() -> Path:
    """The ``cypher/`` directory: bundled in the wheel, or at the repository root."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[1] / "cypher", here.parents[2] / "cypher"):
        if (candidate / "schema").is_dir() and (candidate / "investigate").is_dir():
            return candidate
    raise FailedPrecondition(
        f"the cypher/ directory was not found next to {here.parents[1]} nor at the "
        "repository root; reinstall cib-detect"
    )


_STATEMENT_END = re.compile(r";[ \t]*(?://[^\n]*)?$", re.MULTILINE)


def strip_comments(text: str) -> str:
    """Drop ``//`` comment lines (whole lines only: ``//`` inside a string stays)."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))


def split_statements(text: str) -> list[str]:
    """Statements of a ``.cypher`` file: comment lines dropped, split at a ``;`` that
    ends a line. A file with a single statement may omit the final ``;``."""
    body = strip_comments(text)
    parts = _STATEMENT_END.split(body)
    return [p.strip() for p in parts if p.strip()]


@dataclass(frozen=True)
class CypherFile:
    """One ``.cypher`` file: its name (file stem), path, full text and statements."""

    name: str
    path: Path
    text: str
    statements: tuple[str, ...]

    @property
    def statement(self) -> str:
        """The single statement of a query file."""
        if len(self.statements) != 1:
            raise FailedPrecondition(
                f"{self.path} holds {len(self.statements)} statements; a query file holds one"
            )
        return self.statements[0]


def _load(path: Path) -> CypherFile:
    text = path.read_text(encoding="utf-8")
    return CypherFile(path.stem, path, text, tuple(split_statements(text)))


@functools.cache
def _folder(kind: str) -> tuple[CypherFile, ...]:
    folder = cypher_dir() / kind
    return tuple(_load(p) for p in sorted(folder.glob("*.cypher")))


def schema_files() -> tuple[CypherFile, ...]:
    """``cypher/schema/*.cypher`` in file-name order."""
    return _folder("schema")


def investigate_files() -> tuple[CypherFile, ...]:
    """``cypher/investigate/*.cypher`` in file-name order."""
    return _folder("investigate")


def investigate_file(name: str) -> CypherFile:
    """One investigator query by file name (with or without ``.cypher``)."""
    stem = name.removesuffix(".cypher")
    for f in investigate_files():
        if f.name == stem:
            return f
    known = ", ".join(f.name for f in investigate_files())
    raise NotFound(f"no investigator query named {name!r}; known: {known}")


# --------------------------------------------------------------------------- schema

PING = "RETURN 1 AS ok"

SHOW_CONSTRAINTS = "SHOW CONSTRAINTS YIELD name, type, entityType, labelsOrTypes, properties"
SHOW_INDEXES = "SHOW INDEXES YIELD name, type, entityType, labelsOrTypes, properties, state"
AWAIT_INDEXES = "CALL db.awaitIndexes($timeout_s)"

# --------------------------------------------------------------------------- ingest

#: The counts a committed batch recorded (the batch ran before: ambiguous commit).
INGEST_FIND_BATCH = """
MATCH (b:IngestBatch {token: $token})
RETURN b.new AS new, b.duplicate AS duplicate, b.duplicateRows AS duplicateRows
"""

#: Which of a batch's event ids are stored already (a read: no locks are taken, so a
#: concurrent writer of the same id makes the create below fail on the constraint, and
#: the batch is re-run). Skipped by an optimistic batch (``store/ingest.py``), whose
#: create is checked by the ``acted_event_id`` constraint alone.
INGEST_CHECK = """
UNWIND $ids AS eventId
MATCH ()-[e:ACTED {eventId: eventId}]->()
RETURN collect(eventId) AS stored
"""

#: Creates one batch of new events, given as columns: ``$accounts``/``$targets`` are the
#: batch's distinct keys, ``$ai``/``$ti`` index them per event, ``$act`` indexes
#: ``$actions``. Returns how many events were created.
INGEST_EVENTS = """
UNWIND $accounts AS accountId
MERGE (a:Account {accountId: accountId})
WITH collect(a) AS accounts
UNWIND $targets AS targetId
MERGE (t:Target {targetId: targetId})
WITH accounts, collect(t) AS targets
UNWIND range(0, size($ids) - 1) AS i
WITH accounts[$ai[i]] AS a, targets[$ti[i]] AS t, i
CREATE (a)-[:ACTED {eventId: $ids[i], action: $actions[$act[i]], ts: $ts[i], text: $text[i]}]->(t)
RETURN count(*) AS created
"""

#: Written in the same transaction as the events: its presence proves the batch committed.
#: ``$columns`` is the columnar copy of the events the batch created (``store/columns.py``;
#: an empty map when it created none).
INGEST_MARK_BATCH = """
CREATE (b:IngestBatch {token: $token, createdAt: timestamp(), source: $source,
                       events: $events, new: $new, duplicate: $duplicate,
                       duplicateRows: $duplicateRows})
SET b += $columns
"""

STORE_COUNTS = """
CALL () { MATCH (a:Account) RETURN count(a) AS accounts }
CALL () { MATCH (t:Target) RETURN count(t) AS targets }
CALL () { MATCH ()-[e:ACTED]->() RETURN count(e) AS events }
RETURN accounts, targets, events
"""

# --------------------------------------------------------------------------- export

#: One page of account keys (keyset pagination) with their numbers of events.
EXPORT_ACCOUNT_KEYS = """
MATCH (a:Account)
WHERE a.accountId > $after
WITH a ORDER BY a.accountId
LIMIT $limit
RETURN collect(a.accountId) AS accounts, collect(COUNT { (a)-[:ACTED]->() }) AS degrees
"""

_EXPORT_EVENTS = """
UNWIND range(0, size($accounts) - 1) AS i
MATCH (a:Account {{accountId: $accounts[i]}})-[e:ACTED]->(t:Target)
WHERE e.ts >= $since AND e.ts < $until
RETURN collect(i) AS account, collect(t.targetId) AS target, collect(e.action) AS action,
       collect(e.ts) AS ts, collect(e.text) AS text, collect(e.text IS NOT NULL) AS hasText{ids}
"""

#: The events of one page of accounts as one record of parallel lists (``text`` holds the
#: non-null texts only, ``hasText`` says which events they belong to).
EXPORT_EVENTS = _EXPORT_EVENTS.format(ids="")
EXPORT_EVENTS_WITH_IDS = _EXPORT_EVENTS.format(ids=",\n       collect(e.eventId) AS eventId")

# --------------------------------------------------------------------------- columnar copies
# The copy of each batch's new events on its receipt (``store/columns.py``).

#: The number of ACTED relationships (answered from the count store, O(1)).
COPY_ACTED_COUNT = "MATCH ()-[e:ACTED]->() RETURN count(e) AS events"

#: One keyset page (by token) of the receipts that hold a copy.
COPY_RECEIPTS = """
MATCH (b:IngestBatch)
WHERE b.token > $after AND b.colEvents > 0
WITH b ORDER BY b.token
LIMIT $limit
RETURN collect(b.token) AS tokens, collect(b.colEvents) AS sizes,
       collect(b.colMinTs) AS minTs, collect(b.colMaxTs) AS maxTs
"""

#: The copies of a page of receipts, one record per receipt.
COPY_READ = """
UNWIND $tokens AS token
MATCH (b:IngestBatch {token: token})
RETURN token, b {.colVersion, .colEvents, .colAccounts, .colAccount, .colTargets, .colTarget,
                 .colActions, .colAction, .colTs, .colTexts, .colTextAt} AS batch
"""

#: Locks a receipt (a write to it) and reads its whole copy, for a rewrite.
COPY_LOCK_READ = """
MATCH (b:IngestBatch {token: $token})
SET b.colVersion = b.colVersion
RETURN b {.*} AS batch
"""

#: Replaces a receipt's copy (null values remove properties).
COPY_SET = """
MATCH (b:IngestBatch {token: $token})
SET b += $props
"""

#: The receipts whose copy holds events of an account (a pass over the receipts' key
#: lists: erasure is rare).
COPY_WITH_ACCOUNT = """
MATCH (b:IngestBatch)
WHERE b.colEvents > 0 AND $accountId IN b.colAccounts
RETURN collect(b.token) AS tokens
"""

#: The receipts whose copy holds events before a cutoff.
COPY_BEFORE = """
MATCH (b:IngestBatch)
WHERE b.colEvents > 0 AND b.colMinTs < $cutoff
RETURN collect(b.token) AS tokens
"""

# --------------------------------------------------------------------------- runs

#: Step 1 of a write-back: creates the run (or takes over one queued by the service,
#: whose status is 'queued' or 'running') and marks it 'writing'. Re-running it after an
#: ambiguous commit is harmless. Returns 0 when the run exists in another state
#: (cancelled, failed, complete): nothing is written then.
RUN_CREATE = """
MERGE (r:DetectionRun {runId: $runId})
ON CREATE SET r += {status: 'queued', createdAt: $createdAt, params: $params,
                    since: $since, until: $until, source: $source, version: $version}
WITH r
WHERE r.status IN ['queued', 'running', 'writing']
SET r.status = 'writing', r.stage = 'write-back', r.events = $events,
    r.batches = coalesce(r.batches, [])
RETURN count(r) AS created
"""

#: A run queued by the service (``StartDetection``): visible at once, before any work.
RUN_QUEUE = """
CREATE (r:DetectionRun {runId: $runId, status: 'queued', stage: 'queued', progress: 0.0,
                        createdAt: $createdAt, params: $params, since: $since,
                        until: $until, source: $source, version: $version, owner: $owner})
RETURN r {.*} AS run
"""

#: The worker reports a stage of an open run; returns no row once the run was cancelled
#: (or ended otherwise), which tells the worker to stop.
RUN_STAGE = """
MATCH (r:DetectionRun {runId: $runId})
WHERE r.status IN ['queued', 'running', 'writing']
SET r.status = CASE WHEN r.status = 'writing' THEN 'writing' ELSE 'running' END,
    r.stage = $stage, r.progress = $progress, r.startedAt = coalesce(r.startedAt, $now)
RETURN r.status AS status
"""

#: Cancels an open run; returns the run as it is now either way (no row: unknown run).
RUN_CANCEL = """
MATCH (r:DetectionRun {runId: $runId})
WITH r, r.status IN ['queued', 'running', 'writing'] AS open
FOREACH (_ IN CASE WHEN open THEN [1] ELSE [] END |
  SET r.status = 'cancelled', r.finishedAt = $now, r.error = $reason)
RETURN r {.*} AS run, open AS cancelled
"""

#: Runs left open by an earlier process of the same service instance (it stopped before
#: they finished): they are marked failed at start-up.
RUN_ABANDON = """
MATCH (r:DetectionRun)
WHERE r.status IN ['queued', 'running', 'writing'] AND r.owner = $owner
SET r.status = 'failed', r.finishedAt = $now,
    r.error = 'abandoned: the service stopped before the run finished'
RETURN collect(r.runId) AS runIds
"""

#: One page of runs, newest first (keyset on createdAt, runId).
RUN_PAGE = """
MATCH (r:DetectionRun)
WHERE $after IS NULL OR r.createdAt < $after[0]
   OR (r.createdAt = $after[0] AND r.runId < $after[1])
RETURN r {.*} AS run
ORDER BY r.createdAt DESC, r.runId DESC
LIMIT $limit
"""

#: First statement of every write-back batch: records the batch's key on the run, in the
#: same transaction as the batch's rows. ``done`` = the batch committed before (its
#: re-run after an ambiguous commit must write nothing); ``writing`` = false when the run
#: is complete or failed already.
RUN_CLAIM_BATCH = """
MATCH (r:DetectionRun {runId: $runId})
WITH r, r.status = 'writing' AS writing, $batch IN r.batches AS done
FOREACH (_ IN CASE WHEN writing AND NOT done THEN [1] ELSE [] END |
  SET r.batches = r.batches + $batch)
RETURN writing, done
"""

#: Clusters with their members (plain CREATE: the batch claim makes re-runs safe).
RUN_WRITE_CLUSTERS = """
UNWIND $rows AS row
CREATE (c:Cluster {key: row.key})
SET c += row.props
WITH c, row
UNWIND row.members AS accountId
MERGE (a:Account {accountId: accountId})
CREATE (a)-[m:MEMBER_OF {runId: $runId}]->(c)
RETURN count(m) AS written
"""

RUN_WRITE_TOP_TARGETS = """
UNWIND $rows AS row
MATCH (c:Cluster {key: row.key})
MERGE (t:Target {targetId: row.target})
CREATE (c)-[x:TOP_TARGET {runId: $runId}]->(t)
SET x += row.props
RETURN count(x) AS written
"""

RUN_WRITE_EVIDENCE = """
UNWIND $rows AS row
MERGE (a:Account {accountId: row.a})
MERGE (b:Account {accountId: row.b})
CREATE (a)-[e:COORDINATED {runId: $runId, clusterId: row.clusterId, signal: row.signal,
                           window: row.window}]->(b)
SET e += row.props
RETURN count(e) AS written
"""

#: The last transaction of a write-back: checks that everything is there, then flips the
#: status. Returns no row when the run is not 'writing' or its clusters are incomplete.
RUN_COMPLETE = """
MATCH (r:DetectionRun {runId: $runId})
WHERE r.status = 'writing'
CALL (r) {
  OPTIONAL MATCH (c:Cluster {runId: r.runId})
  RETURN count(c) AS clusters
}
CALL (r) {
  OPTIONAL MATCH ()-[e:COORDINATED {runId: r.runId}]->()
  RETURN count(e) AS edges
}
WITH r, clusters, edges
WHERE clusters = $clusters AND edges = $edges
SET r.status = 'complete', r.completedAt = $completedAt, r.finishedAt = $completedAt,
    r.stage = 'complete', r.progress = 1.0, r.counts = $counts,
    r.stats = $stats, r.clusters = clusters, r.evidenceEdges = edges,
    r.memberships = $memberships
RETURN count(r) AS completed
"""

RUN_FAIL = """
MATCH (r:DetectionRun {runId: $runId})
WHERE r.status IN ['queued', 'running', 'writing']
SET r.status = 'failed', r.failedAt = $failedAt, r.finishedAt = $failedAt, r.error = $error
RETURN count(r) AS failed
"""

RUN_GET = """
MATCH (r:DetectionRun {runId: $runId})
RETURN r {.*} AS run
"""

RUN_LATEST_COMPLETE = """
MATCH (r:DetectionRun {status: 'complete'})
RETURN r {.*} AS run
ORDER BY r.createdAt DESC, r.runId DESC
LIMIT 1
"""

# --------------------------------------------------------------------------- run document

#: A run's clusters in rank order, each with its members and top targets (in rank order).
#: The sub-scores are the flat ``score<SubScore>`` properties of ``cluster``.
RUN_DOCUMENT_CLUSTERS = """
MATCH (c:Cluster {runId: $runId})
CALL (c) {
  MATCH (m:Account)-[:MEMBER_OF {runId: $runId}]->(c)
  RETURN collect(m.accountId) AS members
}
CALL (c) {
  OPTIONAL MATCH (c)-[x:TOP_TARGET {runId: $runId}]->(t:Target)
  WITH x, t ORDER BY x.rank
  RETURN collect(CASE WHEN t IS NULL THEN null ELSE
           {target: t.targetId, accounts: x.accounts, popularity: x.popularity,
            firstTs: x.firstTs, lastTs: x.lastTs} END) AS topTargets
}
RETURN c {.*} AS cluster, members, topTargets
ORDER BY c.rank, c.clusterId
"""

#: Every evidence edge of a run (through the ``COORDINATED.runId`` index: one pass over
#: the run's edges, grouped by ``clusterId`` by the caller).
RUN_DOCUMENT_EVIDENCE = """
MATCH (a:Account)-[e:COORDINATED {runId: $runId}]->(b:Account)
RETURN a.accountId AS a, b.accountId AS b, e {.*} AS edge
"""

# --------------------------------------------------------------------------- service reads

#: One page of a run's clusters by rank (keyset on rank, which is unique in a run), how
#: many clusters of the run pass ``$minScore``, and the run's status (no row: no run).
CLUSTER_PAGE = """
MATCH (r:DetectionRun {runId: $runId})
CALL (r) {
  MATCH (c:Cluster {runId: r.runId}) WHERE c.score >= $minScore
  RETURN count(c) AS total
}
CALL (r) {
  MATCH (c:Cluster {runId: r.runId})
  WHERE c.rank > $afterRank AND c.score >= $minScore
  WITH c ORDER BY c.rank LIMIT $limit
  RETURN collect(c {.*}) AS clusters
}
RETURN r.status AS status, total, clusters
"""

#: One cluster with its members and top targets, and its evidence edges found through
#: its members (each member has few COORDINATED edges; the run's edge index is not used).
CLUSTER_GET = """
MATCH (c:Cluster {key: $key})
CALL (c) {
  MATCH (m:Account)-[:MEMBER_OF]->(c)
  WITH m ORDER BY m.accountId
  RETURN collect(m.accountId) AS members
}
CALL (c) {
  OPTIONAL MATCH (c)-[x:TOP_TARGET]->(t:Target)
  WITH x, t ORDER BY x.rank
  RETURN collect(CASE WHEN t IS NULL THEN null ELSE
           {target: t.targetId, accounts: x.accounts, popularity: x.popularity,
            firstTs: x.firstTs, lastTs: x.lastTs} END) AS topTargets
}
CALL (c) {
  MATCH (a:Account)-[:MEMBER_OF]->(c)
  MATCH (a)-[e:COORDINATED {runId: c.runId, clusterId: c.clusterId}]->(b:Account)
  RETURN collect({a: a.accountId, b: b.accountId, edge: e {.*}}) AS evidence
}
RETURN c {.*} AS cluster, members, topTargets, evidence
"""

#: Records an analyst's decision on a cluster: the current status on the cluster, and
#: every decision as a ``(:ClusterReview)-[:REVIEWS]->(:Cluster)`` history node.
CLUSTER_SET_REVIEW = """
MATCH (c:Cluster {key: $key})
SET c.reviewStatus = $status, c.reviewNote = $note, c.reviewAnalyst = $analyst,
    c.reviewUpdatedAt = $now
CREATE (:ClusterReview {runId: c.runId, clusterId: c.clusterId, status: $status,
                        note: $note, analyst: $analyst, at: $now})-[:REVIEWS]->(c)
RETURN c {.*} AS cluster
"""

#: Clusters by key (``runId/clusterId``).
CLUSTERS_BY_KEYS = """
MATCH (c:Cluster) WHERE c.key IN $keys
RETURN c {.*} AS cluster
"""

#: A run's status and one of its clusters (null when the run has no such cluster).
CLUSTER_SUMMARY = """
MATCH (r:DetectionRun {runId: $runId})
OPTIONAL MATCH (c:Cluster {key: $key})
RETURN r.status AS status, c {.*} AS cluster
"""

# --------------------------------------------------------------------------- erasure

#: The runs an account appears in (memberships or evidence), with how many memberships
#: and evidence edges it has in each, before it is erased.
ERASE_SURVEY = """
MATCH (a:Account {accountId: $accountId})
CALL (a) {
  OPTIONAL MATCH (a)-[m:MEMBER_OF]->(c:Cluster)
  RETURN collect({runId: m.runId, key: c.key}) AS memberships
}
CALL (a) {
  OPTIONAL MATCH (a)-[e:COORDINATED]-()
  WITH e.runId AS runId, e.clusterId AS clusterId, count(e) AS edges
  WHERE runId IS NOT NULL
  RETURN collect({runId: runId, key: runId + '/' + clusterId, edges: edges}) AS evidence
}
RETURN memberships, evidence
"""

#: Marks the runs and clusters an erasure changes, and keeps their counts true.
ERASE_MARK = """
UNWIND $runs AS run
MATCH (r:DetectionRun {runId: run.runId})
SET r.erasures = coalesce(r.erasures, 0) + 1, r.lastErasureAt = $now,
    r.memberships = coalesce(r.memberships, 0) - run.memberships,
    r.evidenceEdges = coalesce(r.evidenceEdges, 0) - run.edges
WITH count(r) AS runs
UNWIND $clusters AS cl
MATCH (c:Cluster {key: cl.key})
SET c.erasures = coalesce(c.erasures, 0) + 1,
    c.size = c.size - cl.members, c.nEdges = c.nEdges - cl.edges
RETURN runs, count(c) AS clusters
"""

#: One bounded batch of an account's relationships of one type; returns how many went.
ERASE_ACTED = """
MATCH (:Account {accountId: $accountId})-[e:ACTED]->()
WITH e LIMIT $limit
DELETE e
RETURN count(*) AS deleted
"""

ERASE_MEMBER_OF = """
MATCH (:Account {accountId: $accountId})-[e:MEMBER_OF]->()
WITH e LIMIT $limit
DELETE e
RETURN count(*) AS deleted
"""

ERASE_COORDINATED = """
MATCH (:Account {accountId: $accountId})-[e:COORDINATED]-()
WITH DISTINCT e LIMIT $limit
DELETE e
RETURN count(*) AS deleted
"""

ERASE_NODE = """
MATCH (a:Account {accountId: $accountId})
DETACH DELETE a
RETURN count(*) AS deleted
"""

#: Retention: events before the cutoff, deleted in transactions of ``$batch`` rows (an
#: auto-commit statement).
RETENTION_EVENTS = """
MATCH ()-[e:ACTED]->()
WHERE e.ts < $cutoff
CALL (e) { DELETE e } IN TRANSACTIONS OF $batch ROWS
RETURN count(*) AS deleted
"""

#: Accounts and targets with no relationship left (auto-commit, batched).
RETENTION_ORPHAN_ACCOUNTS = """
MATCH (a:Account) WHERE NOT EXISTS { (a)--() }
CALL (a) { DELETE a } IN TRANSACTIONS OF $batch ROWS
RETURN count(*) AS deleted
"""

RETENTION_ORPHAN_TARGETS = """
MATCH (t:Target) WHERE NOT EXISTS { (t)--() }
CALL (t) { DELETE t } IN TRANSACTIONS OF $batch ROWS
RETURN count(*) AS deleted
"""
