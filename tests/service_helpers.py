"""Helpers of the service tests (imported by the tests and their conftest)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from cib_detect.client import CibClient
from cib_detect.config import Neo4jSettings, Settings
from cib_detect.service.server import CibService
from cib_detect.store import local_neo4j
from cib_detect.store.graph_store import GraphStore


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
