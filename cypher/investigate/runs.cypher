// runs: detection runs, newest first, whatever their status.
//
// Purpose:
//   Lists runs with their status: 'complete' (fully written), 'writing' (in progress, or
//   the process died while writing) or 'failed' (the write-back raised an error). Only
//   complete runs are used by the other queries.
//
// Parameters:
//   $limit   integer   = 20     how many runs
//
// Neo4j Browser:
//   :param limit => 20
//
// Returns one row per run: runId, status, createdAt, completedAt, since, until, events,
// clusters, evidenceEdges, error.
MATCH (r:DetectionRun)
RETURN r.runId AS runId, r.status AS status, r.createdAt AS createdAt,
       r.completedAt AS completedAt, r.since AS since, r.until AS until, r.events AS events,
       r.clusters AS clusters, r.evidenceEdges AS evidenceEdges, r.error AS error
ORDER BY r.createdAt DESC, r.runId DESC
LIMIT $limit
