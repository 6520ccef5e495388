// cluster_detail: one cluster with its members, top targets and evidence edges.
//
// Purpose:
//   Everything behind one cluster: the member accounts, the targets they hit together
//   (rarest first, with first and last times), and every stored evidence edge with its
//   signal, window, weight, p-value and example co-actions (both timestamps).
//
// Parameters:
//   $clusterId   string             the cluster (as in clusters.json, e.g. 'c-1a2b3c4d5e6f')
//   $runId       string?   = null   the run; null = the latest complete run
//
// Neo4j Browser:
//   :param clusterId => 'c-1a2b3c4d5e6f'
//   :param runId => null
//
// Returns at most one row: runId, clusterId, rank, score, size, the sub-scores, signals,
// members (sorted), topTargets (list of maps), evidence (list of maps, strongest first;
// each with examples [{target, targetB, tsA, tsB}], times in epoch ms).
OPTIONAL MATCH (latest:DetectionRun {status: 'complete'})
WITH latest ORDER BY latest.createdAt DESC, latest.runId DESC LIMIT 1
MATCH (run:DetectionRun {runId: coalesce($runId, latest.runId), status: 'complete'})
MATCH (c:Cluster {key: run.runId + '/' + $clusterId})
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
CALL (c, run) {
  OPTIONAL MATCH (a:Account)-[e:COORDINATED {runId: run.runId, clusterId: c.clusterId}]->(b:Account)
  WITH a, e, b ORDER BY e.weight DESC, e.pValue ASC, a.accountId, b.accountId, e.signal
  RETURN collect(CASE WHEN e IS NULL THEN null ELSE
           {a: a.accountId, b: b.accountId, signal: e.signal, window: e.window,
            weight: e.weight, pValue: e.pValue, sharedTargets: e.sharedTargets,
            episodes: e.episodes, expected: e.expected, dtMedian: e.dtMedian,
            firstTs: e.firstTs, lastTs: e.lastTs,
            examples: [i IN range(0, size(e.exampleTargets) - 1) |
                       {target: e.exampleTargets[i], targetB: e.exampleTargetsB[i],
                        tsA: e.exampleTsA[i], tsB: e.exampleTsB[i]}]} END) AS evidence
}
RETURN run.runId AS runId, c.clusterId AS clusterId, c.rank AS rank, c.score AS score,
       c.size AS size, c.scoreSignificance AS significance, c.scoreEvidence AS evidenceScore,
       c.scoreDensity AS density, c.scoreSynchrony AS synchrony, c.scoreSize AS sizeScore,
       c.signals AS signals, c.nEdges AS nEdges, c.evidenceTruncated AS evidenceTruncated,
       members, topTargets, evidence
