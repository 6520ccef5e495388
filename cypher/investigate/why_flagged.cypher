// why_flagged: why an account is flagged — its clusters and strongest evidence.
//
// Purpose:
//   For one account: every cluster of the run it belongs to, and its strongest evidence
//   edges in each (the partner account, signal, window, weight, p-value, number of
//   shared targets) with example shared targets and both timestamps. No row: the account
//   is not in any cluster of that run.
//
// Parameters:
//   $accountId   string             the account to explain
//   $runId       string?   = null   the run; null = the latest complete run
//   $limit       integer   = 10     evidence edges per cluster, strongest first
//
// Neo4j Browser:
//   :param accountId => 'acct-000123'
//   :param runId => null
//   :param limit => 10
//
// Returns one row per (cluster, evidence edge): runId, clusterId, rank, score, size,
// partner, signal, window, weight, pValue, log10P, sharedTargets, episodes, expected,
// dtMedian (s), firstTs, lastTs, examples [{target, partnerTarget, accountTs,
// partnerTs, dtSeconds}] (epoch ms).
OPTIONAL MATCH (latest:DetectionRun {status: 'complete'})
WITH latest ORDER BY latest.createdAt DESC, latest.runId DESC LIMIT 1
MATCH (run:DetectionRun {runId: coalesce($runId, latest.runId), status: 'complete'})
MATCH (x:Account {accountId: $accountId})-[:MEMBER_OF {runId: run.runId}]->(c:Cluster)
CALL (x, c, run) {
  MATCH (x)-[e:COORDINATED {runId: run.runId, clusterId: c.clusterId}]-(y:Account)
  WITH e, y ORDER BY e.weight DESC, e.pValue ASC, y.accountId, e.signal
  LIMIT $limit
  RETURN e, y
}
WITH run, x, c, e, y, startNode(e) = x AS xIsA
RETURN run.runId AS runId, c.clusterId AS clusterId, c.rank AS rank, c.score AS score,
       c.size AS size, y.accountId AS partner, e.signal AS signal, e.window AS window,
       e.weight AS weight, e.pValue AS pValue, e.log10P AS log10P,
       e.sharedTargets AS sharedTargets,
       e.episodes AS episodes, e.expected AS expected, e.dtMedian AS dtMedian,
       e.firstTs AS firstTs, e.lastTs AS lastTs,
       [i IN range(0, size(e.exampleTargets) - 1) |
        {target: CASE WHEN xIsA THEN e.exampleTargets[i] ELSE e.exampleTargetsB[i] END,
         partnerTarget: CASE WHEN xIsA THEN e.exampleTargetsB[i] ELSE e.exampleTargets[i] END,
         accountTs: CASE WHEN xIsA THEN e.exampleTsA[i] ELSE e.exampleTsB[i] END,
         partnerTs: CASE WHEN xIsA THEN e.exampleTsB[i] ELSE e.exampleTsA[i] END,
         dtSeconds: abs(e.exampleTsB[i] - e.exampleTsA[i]) / 1000.0}] AS examples
ORDER BY rank, weight DESC, pValue, partner, signal
