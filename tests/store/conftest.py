"""Fixtures of the Neo4j store tests (the server, store and clean_db fixtures live in
``tests/conftest.py``, shared with the service tests)."""

from __future__ import annotations

from pathlib import Path

import pytest
from neo4j_helpers import wipe

from cib_detect.store.graph_store import GraphStore
from cib_detect.store.ingest import ingest_file
from cib_detect.store.schema import apply_schema


@pytest.fixture(scope="module")
def loaded_world(store: GraphStore, world_parquet: Path) -> GraphStore:
    """The small generated world ingested into an otherwise empty graph (per module)."""
    wipe(store)
    apply_schema(store)
    result, _ = ingest_file(store, world_parquet)
    assert result.new > 0
    return store
