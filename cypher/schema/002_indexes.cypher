// Secondary indexes for the investigator queries and the write-back (all RANGE indexes).
//
// Named and idempotent, like 001_constraints.cypher. ACTED carries no index besides its
// eventId constraint: every ACTED query starts from an Account or a Target node, and each
// extra index would slow ingest down.

// Complete runs (the queries read only those), newest first by a sort of the few runs.
CREATE INDEX detection_run_status IF NOT EXISTS
FOR (r:DetectionRun) ON (r.status);

// A run's clusters (single property: Neo4j 5 does not seek a composite index on a prefix).
CREATE INDEX cluster_run_id IF NOT EXISTS
FOR (c:Cluster) ON (c.runId);

// The same group of accounts across runs.
CREATE INDEX cluster_cluster_id IF NOT EXISTS
FOR (c:Cluster) ON (c.clusterId);

// Evidence edges and memberships of one run.
CREATE INDEX coordinated_run_id IF NOT EXISTS
FOR ()-[c:COORDINATED]-() ON (c.runId);

CREATE INDEX member_of_run_id IF NOT EXISTS
FOR ()-[m:MEMBER_OF]-() ON (m.runId);
