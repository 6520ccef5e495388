"""Helpers of the Neo4j store tests (imported by the tests and their conftest)."""

from __future__ import annotations

from cib_detect.store.graph_store import GraphStore

#: Relationships first: deleting a hub node with its relationships in one transaction
#: could exceed the server's transaction memory.
WIPE = (
    "MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 20000 ROWS",
    "MATCH (n) CALL (n) { DELETE n } IN TRANSACTIONS OF 20000 ROWS",
)


def wipe(store: GraphStore) -> None:
    """Delete all data; constraints and indexes stay."""
    for statement in WIPE:
        store.autocommit(statement)


def count(store: GraphStore, query: str, **params: object) -> int:
    """The single value of a one-row, one-column query, as an int."""
    rows = store.read(query, params)
    return int(next(iter(rows[0].values())))


def stored_events(store: GraphStore) -> int:
    return count(store, "MATCH ()-[e:ACTED]->() RETURN count(e) AS n")
