// Uniqueness constraints of the cib-detect graph (Neo4j 5.26 Community).
//
// Named and idempotent: `cib-detect schema apply` runs this file; running it again
// changes nothing. Every constraint also creates the RANGE index its name carries, so the
// keys below need no separate index. See cypher/README.md for the model.

// One node per account and per target.
CREATE CONSTRAINT account_account_id IF NOT EXISTS
FOR (a:Account) REQUIRE a.accountId IS UNIQUE;

CREATE CONSTRAINT target_target_id IF NOT EXISTS
FOR (t:Target) REQUIRE t.targetId IS UNIQUE;

// One ACTED relationship per event: ingest is idempotent by event id, even for two
// concurrent ingests of overlapping files (the loser of a race hits this constraint,
// re-runs its batch and then sees the event as a duplicate).
CREATE CONSTRAINT acted_event_id IF NOT EXISTS
FOR ()-[e:ACTED]-() REQUIRE e.eventId IS UNIQUE;

// One marker per committed ingest batch: a batch re-run after an ambiguous commit finds
// its marker and reports the counts of the attempt that did commit.
CREATE CONSTRAINT ingest_batch_token IF NOT EXISTS
FOR (b:IngestBatch) REQUIRE b.token IS UNIQUE;

// Detection runs and their clusters (a cluster's key is runId + '/' + clusterId: the same
// group of accounts keeps its clusterId across runs, so clusterId alone is not unique).
CREATE CONSTRAINT detection_run_run_id IF NOT EXISTS
FOR (r:DetectionRun) REQUIRE r.runId IS UNIQUE;

CREATE CONSTRAINT cluster_key IF NOT EXISTS
FOR (c:Cluster) REQUIRE c.key IS UNIQUE;
