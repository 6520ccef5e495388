"""The local Neo4j server (``cib-detect neo4j start``) answers Bolt with the configured password.

Reuses a server that is already running for the configured home; otherwise installs (Maven) and
starts one, and stops it again at the end. Every wait is bounded by ``start_timeout_s``.
"""

from __future__ import annotations

import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cib_detect.config import Neo4jSettings, load_settings
from cib_detect.store import local_neo4j

pytestmark = pytest.mark.neo4j


@pytest.fixture(scope="module")
def settings() -> Neo4jSettings:
    return load_settings().neo4j


@pytest.fixture(scope="module")
def server(settings: Neo4jSettings) -> Iterator[int]:
    was_running = local_neo4j.status(settings)["running"]
    missing_tools = shutil.which("mvn") is None or shutil.which("java") is None
    if not was_running and not local_neo4j.is_installed(settings) and missing_tools:
        pytest.skip("local Neo4j is not installed and mvn/java are missing")
    pid = local_neo4j.start(settings, wait=True)
    try:
        yield pid
    finally:
        if not was_running:
            assert local_neo4j.stop(settings, timeout=60)


def test_bolt_answers_with_password(settings: Neo4jSettings, server: int) -> None:
    from neo4j import GraphDatabase

    label = f"CibTest_{uuid.uuid4().hex[:12]}"
    auth = (settings.user, settings.password)
    with GraphDatabase.driver(
        local_neo4j.bolt_uri(settings), auth=auth, connection_timeout=10
    ) as driver:
        driver.verify_connectivity()
        records, _, _ = driver.execute_query("RETURN 1 AS one", database_=settings.database)
        assert records[0]["one"] == 1
        try:
            driver.execute_query(
                f"CREATE (n:{label} {{key: $key, n: 42}})",
                key="k1",
                database_=settings.database,
            )
            records, _, _ = driver.execute_query(
                f"MATCH (n:{label} {{key: $key}}) RETURN n.n AS n, count(*) AS c",
                key="k1",
                database_=settings.database,
            )
            assert [(r["n"], r["c"]) for r in records] == [(42, 1)]
        finally:
            driver.execute_query(f"MATCH (n:{label}) DETACH DELETE n", database_=settings.database)
        records, _, _ = driver.execute_query(
            f"MATCH (n:{label}) RETURN count(n) AS c", database_=settings.database
        )
        assert records[0]["c"] == 0


def test_status_reports_running_server(settings: Neo4jSettings, server: int) -> None:
    st = local_neo4j.status(settings)
    assert st["installed"] is True
    assert st["running"] is True
    assert st["pid"] == server
    assert st["bolt_ok"] is True
    assert st["uri"] == f"bolt://127.0.0.1:{settings.bolt_port}"


def test_start_is_idempotent(settings: Neo4jSettings, server: int) -> None:
    assert local_neo4j.start(settings, wait=True) == server


def test_wrong_password_is_reported(settings: Neo4jSettings, server: int) -> None:
    from cib_detect.errors import FailedPrecondition

    with pytest.raises(FailedPrecondition, match="rejected the credentials"):
        local_neo4j.wait_for_bolt(
            "127.0.0.1", settings.bolt_port, 10, auth=(settings.user, "definitely-wrong")
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_conf_file_settings_apply(settings: Neo4jSettings, server: int, tmp_path: Path) -> None:
    """A second server whose ``conf/neo4j.conf`` sets the page cache, a transaction timeout
    and the log retention (a launcher default) runs with them; the settings the launcher
    fixes (Bolt on 127.0.0.1) still hold."""
    from neo4j import GraphDatabase

    home = tmp_path / "home"
    (home / "conf").mkdir(parents=True)
    (home / "lib").symlink_to(Path(settings.home).expanduser().resolve() / "lib")  # installed
    (home / "conf" / "neo4j.conf").write_text(
        "# tuning of a local server\n"
        "server.memory.pagecache.size=64m\n"
        "db.transaction.timeout=77s\n"
        "db.tx_log.rotation.retention_policy=2 files\n"  # a launcher default, overridden
        "server.bolt.listen_address=0.0.0.0:1\n"  # ignored: the launcher fixes it
    )
    port = _free_port()
    other = settings.model_copy(
        update={"home": home, "bolt_port": port, "uri": f"bolt://127.0.0.1:{port}"}
    )
    local_neo4j.start(other, wait=True)
    try:
        with GraphDatabase.driver(
            local_neo4j.bolt_uri(other), auth=(other.user, other.password), connection_timeout=10
        ) as driver:
            records, _, _ = driver.execute_query(
                "SHOW SETTINGS YIELD name, value "
                "WHERE name IN ['server.memory.pagecache.size', 'db.transaction.timeout', "
                "'server.bolt.listen_address', 'db.tx_log.rotation.retention_policy'] "
                "RETURN name, value",
                database_=other.database,
            )
        got = {r["name"]: r["value"] for r in records}
        assert got["db.transaction.timeout"] == "1m17s"
        assert got["server.memory.pagecache.size"] == "64.00MiB"
        assert got["server.bolt.listen_address"] == f"127.0.0.1:{port}"
        assert got["db.tx_log.rotation.retention_policy"] == "2 files"
    finally:
        assert local_neo4j.stop(other, timeout=60)
