"""A real gRPC server on 127.0.0.1 (port picked by the OS) over the real local Neo4j."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from neo4j_helpers import wipe

from cib_detect.client import CibClient
from cib_detect.config import Neo4jSettings, Settings
from cib_detect.service.server import CibService, create_server
from cib_detect.store import local_neo4j
from cib_detect.store.graph_store import GraphStore
from cib_detect.store.schema import apply_schema


def service_settings(neo4j: Neo4jSettings, uri: str | None = None) -> Settings:
    settings = Settings(neo4j=neo4j.model_copy(update={"uri": uri or local_neo4j.bolt_uri(neo4j)}))
    settings.service.host = "127.0.0.1"
    settings.service.port = 0
    settings.service.instance = f"test-{secrets.token_hex(4)}"
    settings.service.startup_poll_s = 0.2
    settings.service.shutdown_grace_s = 2.0
    return settings


@dataclass
class Running:
    service: CibService
    client: CibClient
    store: GraphStore

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.service.port}"


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
