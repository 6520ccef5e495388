// run_diff: how the clusters changed between two runs.
//
// Purpose:
//   Compares the clusters of a newer run with those of an older one through their
//   members. Each cluster of the newer run is compared with the older cluster it shares
//   most members with: 'new' (no member was in any older cluster), 'grown' (larger),
//   'shrunk' (smaller) or 'changed' (same size, other members); unchanged clusters are
//   not listed. 'vanished': an older cluster none of whose members is in any cluster of
//   the newer run. (A cluster's id is a digest of its members, so an unchanged group
//   keeps its clusterId.)
//
// Parameters:
//   $newRunId   string?   = null   the newer run; null = the latest complete run
//   $oldRunId   string?   = null   the older run; null = the complete run before $newRunId
//
// Neo4j Browser:
//   :param newRunId => null
//   :param oldRunId => null
//
// Returns one row per changed cluster, those of the newer run by rank, then vanished
// ones by their old rank: newRunId, oldRunId, change, clusterId, rank, score, size,
// previousClusterId, previousSize, overlap, addedMembers, removedMembers (the vanished
// cluster's own id, rank, score and size for 'vanished').
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
CALL (newRunId, oldRunId) {
  MATCH (c:Cluster {runId: newRunId})
  OPTIONAL MATCH (c)<-[:MEMBER_OF]-(m:Account)-[:MEMBER_OF {runId: oldRunId}]->(o:Cluster)
  WITH c, o, count(m) AS overlap
  ORDER BY overlap DESC, o.rank ASC
  WITH c, collect(CASE WHEN o IS NULL THEN null ELSE
               {clusterId: o.clusterId, key: o.key, size: o.size, overlap: overlap} END)[0]
          AS best
  WITH c, best,
       CASE WHEN best IS NULL THEN 'new'
            WHEN c.size > best.size THEN 'grown'
            WHEN c.size < best.size THEN 'shrunk'
            WHEN best.overlap < c.size THEN 'changed' END AS change
  WHERE change IS NOT NULL
  CALL (c, best) {
    MATCH (a:Account)-[:MEMBER_OF]->(c)
    WHERE best IS NULL OR NOT EXISTS { (a)-[:MEMBER_OF]->(:Cluster {key: best.key}) }
    WITH a ORDER BY a.accountId
    RETURN collect(a.accountId) AS addedMembers
  }
  CALL (c, best) {
    OPTIONAL MATCH (a:Account)-[:MEMBER_OF]->(:Cluster {key: best.key})
    WHERE NOT EXISTS { (a)-[:MEMBER_OF]->(c) }
    WITH a ORDER BY a.accountId
    RETURN collect(a.accountId) AS removedMembers
  }
  RETURN 0 AS part, change, c.clusterId AS clusterId, c.rank AS rank, c.score AS score,
         c.size AS size, best.clusterId AS previousClusterId, best.size AS previousSize,
         best.overlap AS overlap, addedMembers, removedMembers
  UNION ALL
  MATCH (o:Cluster {runId: oldRunId})
  WHERE NOT EXISTS { (o)<-[:MEMBER_OF]-(:Account)-[:MEMBER_OF {runId: newRunId}]->(:Cluster) }
  CALL (o) {
    MATCH (a:Account)-[:MEMBER_OF]->(o)
    WITH a ORDER BY a.accountId
    RETURN collect(a.accountId) AS removedMembers
  }
  RETURN 1 AS part, 'vanished' AS change, o.clusterId AS clusterId, o.rank AS rank,
         o.score AS score, o.size AS size, o.clusterId AS previousClusterId,
         o.size AS previousSize, 0 AS overlap, [] AS addedMembers, removedMembers
}
RETURN newRunId, oldRunId, change, clusterId, rank, score, size, previousClusterId,
       previousSize, overlap, addedMembers, removedMembers
ORDER BY part, rank
