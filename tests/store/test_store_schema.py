"""``cib-detect schema apply``: named constraints and indexes, idempotent."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import pytest

from cib_detect.store import cypher
from cib_detect.store.graph_store import GraphStore
from cib_detect.store.schema import apply_schema, ensure_schema, existing_names, schema_names

pytestmark = pytest.mark.neo4j
RunCli = Callable[..., subprocess.CompletedProcess[str]]

EXPECTED = {
    "account_account_id",
    "target_target_id",
    "acted_event_id",
    "ingest_batch_token",
    "detection_run_run_id",
    "cluster_key",
    "detection_run_status",
    "cluster_run_id",
    "cluster_cluster_id",
    "coordinated_run_id",
    "member_of_run_id",
}


def _drop_schema(store: GraphStore) -> None:
    for row in store.read("SHOW CONSTRAINTS YIELD name"):
        if row["name"] in EXPECTED:
            store.autocommit(f"DROP CONSTRAINT {row['name']} IF EXISTS")
    for row in store.read("SHOW INDEXES YIELD name"):
        if row["name"] in EXPECTED:
            store.autocommit(f"DROP INDEX {row['name']} IF EXISTS")


def _schema_state(store: GraphStore) -> list[tuple[object, ...]]:
    rows = store.read(cypher.SHOW_CONSTRAINTS) + store.read(cypher.SHOW_INDEXES)
    return sorted(
        (r["name"], r["type"], r["entityType"], tuple(r["labelsOrTypes"] or ()),
         tuple(r["properties"] or ()))
        for r in rows
    )  # fmt: skip


def test_schema_files_declare_named_statements() -> None:
    assert set(schema_names()) == EXPECTED
    for f in cypher.schema_files():
        for stmt in f.statements:
            assert "IF NOT EXISTS" in stmt, stmt


def test_apply_twice_is_a_no_op(clean_db: GraphStore) -> None:
    _drop_schema(clean_db)
    assert not EXPECTED & existing_names(clean_db)
    first = apply_schema(clean_db)
    assert set(first.created) == EXPECTED and first.existing == []
    state = _schema_state(clean_db)
    second = apply_schema(clean_db)
    assert second.created == [] and set(second.existing) == EXPECTED
    assert _schema_state(clean_db) == state
    assert ensure_schema(clean_db) == []


def test_event_id_uniqueness_is_enforced(clean_db: GraphStore) -> None:
    from cib_detect.errors import CibError

    clean_db.write(
        "CREATE (:Account {accountId: 'a'})-[:ACTED {eventId: 'e1', ts: 1}]->"
        "(:Target {targetId: 't'})"
    )
    with pytest.raises(CibError, match="ConstraintValidationFailed"):
        clean_db.write(
            "MATCH (a:Account {accountId: 'a'}), (t:Target {targetId: 't'}) "
            "CREATE (a)-[:ACTED {eventId: 'e1', ts: 2}]->(t)"
        )


def test_cli_schema_apply_twice(clean_db: GraphStore, run_cli: RunCli) -> None:
    _drop_schema(clean_db)
    first = run_cli(["schema", "apply", "--json"])
    assert first.returncode == 0, first.stderr
    second = run_cli(["schema", "apply", "--json"])
    assert second.returncode == 0, second.stderr
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert set(a["created"]) == EXPECTED
    assert b["created"] == [] and set(b["existing"]) == EXPECTED
