"""A real gRPC server on 127.0.0.1 (port picked by the OS) over the real local Neo4j."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from neo4j_helpers import wipe
from service_helpers import Running, service_settings

from cib_detect.client import CibClient
from cib_detect.config import Neo4jSettings
from cib_detect.service.server import create_server
from cib_detect.store.graph_store import GraphStore
from cib_detect.store.schema import apply_schema


@pytest.fixture(scope="module")
def running(store: GraphStore, neo4j_settings: Neo4jSettings) -> Iterator[Running]:
    """A started service over an empty graph (per module)."""
    wipe(store)
    apply_schema(store)
    service, port = create_server(service_settings(neo4j_settings))
    client = CibClient(f"127.0.0.1:{port}", timeout_s=60)
    try:
        client.wait_until_serving(timeout_s=120)
        yield Running(service, client, store)
    finally:
        client.close()
        service.stop(grace_s=2)
