// co_actors: accounts that co-acted with an account, computed live from the events.
//
// Purpose:
//   Accounts that performed the same action on the same target as the account within
//   $window seconds (|dt| <= window, inclusive), most shared targets first, with the
//   closest co-action per target (both timestamps). Independent of detection runs: use
//   it to explore an account that no run flagged. Targets with more than
//   $maxTargetEvents events (viral crowds) are skipped.
//
// Parameters:
//   $accountId         string               the account
//   $window            integer     = 60     co-action window in seconds
//   $since             timestamp?  = null   only the account's events at or after (epoch ms)
//   $until             timestamp?  = null   only the account's events before (epoch ms)
//   $maxTargetEvents   integer     = 5000   skip targets with more events than this
//   $limit             integer     = 25     how many co-actors
//
// Neo4j Browser:
//   :param accountId => 'acct-000123'
//   :param window => 60
//   :param since => null
//   :param until => null
//   :param maxTargetEvents => 5000
//   :param limit => 25
//
// Returns one row per co-actor: account, sharedTargets, coActions, medianDtSeconds,
// examples [{target, action, accountTs, partnerTs, dtSeconds}] (closest first, at most 5).
MATCH (x:Account {accountId: $accountId})-[e1:ACTED]->(t:Target)
WHERE ($since IS NULL OR e1.ts >= $since) AND ($until IS NULL OR e1.ts < $until)
  AND COUNT { (t)<-[:ACTED]-() } <= $maxTargetEvents
MATCH (t)<-[e2:ACTED]-(y:Account)
WHERE y <> x AND e2.action = e1.action AND abs(e2.ts - e1.ts) <= $window * 1000
WITH y, t, e1, e2, abs(e2.ts - e1.ts) AS dt
ORDER BY dt, e1.ts, e2.ts
WITH y, t, count(*) AS coActions,
     head(collect({target: t.targetId, action: e1.action, accountTs: e1.ts,
                   partnerTs: e2.ts, dtSeconds: dt / 1000.0})) AS closest
WITH y, t, coActions, closest ORDER BY closest.dtSeconds, closest.target
WITH y, count(t) AS sharedTargets, sum(coActions) AS coActions,
     percentileDisc(closest.dtSeconds, 0.5) AS medianDtSeconds, collect(closest) AS closest
RETURN y.accountId AS account, sharedTargets, coActions, medianDtSeconds,
       closest[..5] AS examples
ORDER BY sharedTargets DESC, coActions DESC, account
LIMIT $limit
