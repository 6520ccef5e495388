"""Fixtures of the Neo4j store tests: the real local server, a store, a clean database.

The server is the one ``cib-detect neo4j start`` runs (``make test`` starts it before
pytest). When it is not running, it is started here and stopped at the end of the session,
as ``test_local_neo4j.py`` does. Community edition has a single user database, so tests
share it: :func:`clean_db` deletes every node and relationship (keeping the schema) before
a test that needs an empty graph.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from neo4j_helpers import wipe

from cib_detect.config import Neo4jSettings, load_settings
from cib_detect.store import local_neo4j
from cib_detect.store.graph_store import GraphStore
from cib_detect.store.ingest import ingest_file
from cib_detect.store.schema import apply_schema


@pytest.fixture(scope="session")
def neo4j_settings() -> Neo4jSettings:
    return load_settings().neo4j


@pytest.fixture(scope="session")
def neo4j_server(neo4j_settings: Neo4jSettings) -> Iterator[None]:
    was_running = local_neo4j.status(neo4j_settings)["running"]
    missing_tools = shutil.which("mvn") is None or shutil.which("java") is None
    if not was_running and not local_neo4j.is_installed(neo4j_settings) and missing_tools:
        pytest.skip("local Neo4j is not installed and mvn/java are missing")
    local_neo4j.start(neo4j_settings, wait=True)
    try:
        yield
    finally:
        if not was_running:
            local_neo4j.stop(neo4j_settings, timeout=60)


@pytest.fixture(scope="session")
def store(neo4j_settings: Neo4jSettings, neo4j_server: None) -> Iterator[GraphStore]:
    uri = local_neo4j.bolt_uri(neo4j_settings)
    with GraphStore.open(neo4j_settings, uri) as s:
        apply_schema(s)
        yield s


@pytest.fixture
def clean_db(store: GraphStore) -> GraphStore:
    """The store with an empty graph (schema kept)."""
    wipe(store)
    apply_schema(store)
    return store


@pytest.fixture(scope="module")
def loaded_world(store: GraphStore, world_parquet: Path) -> GraphStore:
    """The small generated world ingested into an otherwise empty graph (per module)."""
    wipe(store)
    apply_schema(store)
    result, _ = ingest_file(store, world_parquet)
    assert result.new > 0
    return store
