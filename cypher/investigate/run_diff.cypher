// run_diff: new and grown clusters between two runs.
//
// Purpose:
//   Compares the clusters of a newer run with those of an older one through their
//   members. 'new': no member of the cluster was in any cluster of the older run.
//   'grown': the cluster is larger than the older cluster it shares most members with;
//   addedMembers are the accounts that were not in that older cluster. Unchanged,
//   shrunk and split clusters are not listed. (A cluster's id is a digest of its members,
//   so an unchanged group keeps its clusterId.)
//
// Parameters:
//   $newRunId   string?   = null   the newer run; null = the latest complete run
//   $oldRunId   string?   = null   the older run; null = the complete run before $newRunId
//
// Neo4j Browser:
//   :param newRunId => null
//   :param oldRunId => null
//
// Returns one row per new or grown cluster of the newer run, by rank: newRunId,
// oldRunId, change, clusterId, rank, score, size, previousClusterId, previousSize,
// overlap, addedMembers.
OPTIONAL MATCH (r:DetectionRun {status: 'complete'})
WITH r ORDER BY r.createdAt DESC, r.runId DESC
WITH collect(r) AS runs
WITH runs, coalesce($newRunId, runs[0].runId) AS newRunId
WITH runs, newRunId, [x IN runs WHERE x.runId = newRunId][0] AS newRun
WITH newRunId, coalesce($oldRunId,
       [x IN runs WHERE x.createdAt < newRun.createdAt
                     OR (x.createdAt = newRun.createdAt AND x.runId < newRun.runId)][0].runId)
     AS oldRunId
MATCH (:DetectionRun {runId: newRunId, status: 'complete'})
MATCH (c:Cluster {runId: newRunId})
OPTIONAL MATCH (c)<-[:MEMBER_OF]-(m:Account)-[:MEMBER_OF {runId: oldRunId}]->(o:Cluster)
WITH newRunId, oldRunId, c, o, count(m) AS overlap
ORDER BY overlap DESC, o.rank ASC
WITH newRunId, oldRunId, c,
     collect(CASE WHEN o IS NULL THEN null ELSE
               {clusterId: o.clusterId, size: o.size, overlap: overlap} END) AS before
WITH newRunId, oldRunId, c, before[0] AS best
WITH newRunId, oldRunId, c, best,
     CASE WHEN best IS NULL THEN 'new' WHEN c.size > best.size THEN 'grown' END AS change
WHERE change IS NOT NULL
CALL (c, best, oldRunId) {
  MATCH (a:Account)-[:MEMBER_OF]->(c)
  WHERE best IS NULL
     OR NOT EXISTS { (a)-[:MEMBER_OF]->(:Cluster {key: oldRunId + '/' + best.clusterId}) }
  WITH a ORDER BY a.accountId
  RETURN collect(a.accountId) AS addedMembers
}
RETURN newRunId, oldRunId, change, c.clusterId AS clusterId, c.rank AS rank,
       c.score AS score, c.size AS size, best.clusterId AS previousClusterId,
       best.size AS previousSize, best.overlap AS overlap, addedMembers
ORDER BY rank
