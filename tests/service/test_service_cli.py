"""``cib-detect serve`` as its own process, driven by ``cib-detect client``; SIGTERM
shuts it down cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from neo4j_helpers import wipe

from cib_detect.config import Neo4jSettings
from cib_detect.store import local_neo4j
from cib_detect.store.graph_store import GraphStore
from cib_detect.store.schema import apply_schema

pytestmark = pytest.mark.neo4j
CLI = Path(sys.executable).with_name("cib-detect")


def test_serve_and_client_commands(
    store: GraphStore, neo4j_settings: Neo4jSettings, world_parquet: Path, tmp_path: Path
) -> None:
    wipe(store)
    apply_schema(store)
    env = dict(os.environ)
    env["CIB_NEO4J__URI"] = local_neo4j.bolt_uri(neo4j_settings)
    env["CIB_SERVICE__INSTANCE"] = "cli-test"
    config = tmp_path / "cib-detect.toml"
    config.write_text('[service]\nhost = "127.0.0.1"\nshutdown_grace_s = 3.0\n')
    port_file = tmp_path / "port"
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [str(CLI), "serve", "--config", str(config), "--port", "0", "--port-file", str(port_file)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        end = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None and time.monotonic() < end, "serve did not start"
            time.sleep(0.1)
        target = f"127.0.0.1:{port_file.read_text().strip()}"

        def client(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [str(CLI), "client", *args, "--target", target], capture_output=True,
                text=True, env={**env, "COLUMNS": "200"}, timeout=300, check=False,
            )  # fmt: skip

        end = time.monotonic() + 60
        while client("health").returncode != 0:
            assert time.monotonic() < end, "service never became SERVING"
            time.sleep(0.2)
        ingested = client("ingest", str(world_parquet), "--json")
        assert ingested.returncode == 0, ingested.stderr
        counts = json.loads(ingested.stdout)
        assert counts["new"] > 0 and counts["invalid"] == 0
        detected = client("detect", "--json")
        assert detected.returncode == 0, detected.stderr
        run = json.loads(detected.stdout)
        assert run["state"] == "RUN_STATE_SUCCEEDED"
        listed = json.loads(client("clusters", "--json", "--limit", "3").stdout)
        assert [c["rank"] for c in listed] == [1, 2, 3]
        top = listed[0]["cluster_id"]
        shown = json.loads(client("cluster", top, "--json").stdout)
        assert shown["members"] and shown["evidence"]
        why = json.loads(client("explain", shown["members"][0], "--json").stdout)
        assert why["flagged"] is True
        reviewed = client("review", top, "--status", "dismissed", "--note", "fan club")
        assert reviewed.returncode == 0 and "dismissed" in reviewed.stdout
        bad = client("review", top, "--status", "maybe")
        assert bad.returncode == 2 and "--status" in bad.stderr
        missing = client("cluster", "c-none")
        assert missing.returncode == 2 and "NOT_FOUND" in missing.stderr
        runs = json.loads(client("runs", "--json").stdout)
        assert runs[0]["run_id"] == run["run_id"]
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        log.close()
    assert code == 0, (tmp_path / "serve.log").read_text()[-2000:]
    text = (tmp_path / "serve.log").read_text()
    assert "shutting_down" in text and "stopped" in text
