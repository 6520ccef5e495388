// top_clusters: the most suspicious clusters of a run, with their sub-scores.
//
// Purpose:
//   Ranked clusters of the latest complete run (or of the run given), each with its score
//   and the five sub-scores it is the weighted sum of (significance 0.30, evidence 0.20,
//   density 0.20, synchrony 0.20, size 0.10; each in [0, 1]).
//
// Parameters:
//   $runId   string?   = null   the run; null = the latest complete run
//   $limit   integer   = 20     how many clusters, most suspicious first
//
// Neo4j Browser:
//   :param runId => null
//   :param limit => 20
//
// Returns one row per cluster: runId, rank, clusterId, score, size, significance,
// evidence, density, synchrony, sizeScore, signals, nEdges.
OPTIONAL MATCH (latest:DetectionRun {status: 'complete'})
WITH latest ORDER BY latest.createdAt DESC, latest.runId DESC LIMIT 1
MATCH (run:DetectionRun {runId: coalesce($runId, latest.runId), status: 'complete'})
MATCH (c:Cluster {runId: run.runId})
RETURN run.runId AS runId, c.rank AS rank, c.clusterId AS clusterId, c.score AS score,
       c.size AS size, c.scoreSignificance AS significance, c.scoreEvidence AS evidence,
       c.scoreDensity AS density, c.scoreSynchrony AS synchrony, c.scoreSize AS sizeScore,
       c.signals AS signals, c.nEdges AS nEdges
ORDER BY rank
LIMIT $limit
