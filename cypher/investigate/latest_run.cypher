// latest_run: the latest complete detection run.
//
// Purpose:
//   The newest run whose write-back finished (status 'complete'): its id, time window,
//   counts and parameters. A run still 'writing' (or 'failed', or killed mid-write) is
//   never returned, so everything the other queries show belongs to a finished run.
//
// Parameters:
//   (none)
//
// Neo4j Browser:
//   (no parameters needed)
//
// Returns at most one row: runId, createdAt, completedAt (epoch ms), since, until (epoch
// ms or null), events, clusters, evidenceEdges, memberships, params (JSON text).
MATCH (r:DetectionRun)
WHERE r.status = 'complete'
RETURN r.runId AS runId, r.createdAt AS createdAt, r.completedAt AS completedAt,
       r.since AS since, r.until AS until, r.events AS events, r.clusters AS clusters,
       r.evidenceEdges AS evidenceEdges, r.memberships AS memberships, r.params AS params
ORDER BY r.createdAt DESC, r.runId DESC
LIMIT 1
