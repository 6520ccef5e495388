// target_amplifiers: who acted on a target within a time window, and who is flagged.
//
// Purpose:
//   Every account that acted on one target in [since, until), first actor first, with
//   its number of events there, first and last time, actions, and its cluster in the
//   run (null when the account is not flagged). Answers "who amplified target Y, and
//   were they coordinated?".
//
// Parameters:
//   $targetId   string               the target
//   $since      timestamp?  = null   window start, epoch ms, inclusive; null = no bound
//   $until      timestamp?  = null   window end, epoch ms, exclusive; null = no bound
//   $runId      string?     = null   the run for the flags; null = the latest complete run
//   $limit      integer     = 100    how many accounts
//
// Neo4j Browser:
//   :param targetId => 'trk-000042'
//   :param since => datetime('2026-01-01T00:00:00Z').epochMillis
//   :param until => datetime('2026-01-02T00:00:00Z').epochMillis
//   :param runId => null
//   :param limit => 100
//
// Returns one row per account: account, events, firstTs, lastTs (epoch ms), actions,
// clusterId, clusterRank, clusterScore (null when not flagged in the run), runId.
OPTIONAL MATCH (latest:DetectionRun {status: 'complete'})
WITH latest ORDER BY latest.createdAt DESC, latest.runId DESC LIMIT 1
OPTIONAL MATCH (run:DetectionRun {runId: coalesce($runId, latest.runId), status: 'complete'})
WITH run.runId AS runId
MATCH (t:Target {targetId: $targetId})<-[e:ACTED]-(a:Account)
WHERE ($since IS NULL OR e.ts >= $since) AND ($until IS NULL OR e.ts < $until)
WITH runId, a, count(e) AS events, min(e.ts) AS firstTs, max(e.ts) AS lastTs,
     collect(DISTINCT e.action) AS actions
OPTIONAL MATCH (a)-[:MEMBER_OF {runId: runId}]->(c:Cluster)
RETURN a.accountId AS account, events, firstTs, lastTs, actions,
       c.clusterId AS clusterId, c.rank AS clusterRank, c.score AS clusterScore, runId
ORDER BY firstTs, account
LIMIT $limit
