"""A bounded in-process cache of what never changes once a run is complete: each
cluster's members, top targets and evidence edges, already converted to API messages.

The cluster's own node (score, review status, erasure count) is always read fresh, in
the same query that checks the run is complete, so analysts' decisions show at once on
every instance, and parts cached before an erasure (by any instance or the CLI) are
never served: their ``version`` no longer matches the node's erasure count.
Entries expire after ``ttl_s`` and the least recently used go first beyond
``max_items``; :meth:`ClusterCache.drop_run` forgets a run (when its data is changed).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from cib_detect._proto.cib.v1 import common_pb2 as pb


@dataclass(frozen=True)
class ClusterParts:
    members: tuple[str, ...]
    top_targets: tuple[pb.TopTarget, ...]
    evidence: tuple[pb.EvidenceEdge, ...]  # strongest first
    version: int = 0  # the cluster's erasure count when it was read


class ClusterCache:
    def __init__(self, max_items: int = 4096, ttl_s: float = 300.0) -> None:
        self.max_items = max_items
        self.ttl_s = ttl_s
        self._items: OrderedDict[tuple[str, str], tuple[float, ClusterParts]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, run_id: str, cluster_id: str) -> ClusterParts | None:
        key = (run_id, cluster_id)
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                return None
            if time.monotonic() - hit[0] > self.ttl_s:
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return hit[1]

    def put(self, run_id: str, cluster_id: str, parts: ClusterParts) -> None:
        if self.max_items <= 0:
            return
        with self._lock:
            self._items[(run_id, cluster_id)] = (time.monotonic(), parts)
            self._items.move_to_end((run_id, cluster_id))
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def drop_run(self, run_id: str) -> None:
        with self._lock:
            for key in [k for k in self._items if k[0] == run_id]:
                del self._items[key]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
