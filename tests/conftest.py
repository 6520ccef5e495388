"""Shared fixtures: one small generated world per session, its detection, a CLI runner.

The world is the smallest size ``generate_world`` accepts that plants every campaign style
and every trap archetype once (40k events: one full set; 20k plants the same set but
leaves only ~200 trap accounts, so one stray flag would already be 0.5 %).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from neo4j_helpers import wipe

from cib_detect.config import DetectParams, Neo4jSettings, load_settings
from cib_detect.detect import run_detection
from cib_detect.io import read_events
from cib_detect.model import DetectionResult, EventTable, InputInfo
from cib_detect.report.json_out import build_document
from cib_detect.store import local_neo4j
from cib_detect.store.graph_store import GraphStore
from cib_detect.store.schema import apply_schema
from cib_detect.synthetic import World, generate_world, write_world

WORLD_EVENTS = 40_000
WORLD_SEED = 0

#: The console script installed next to the interpreter running the tests.
CLI = Path(sys.executable).with_name("cib-detect")


@pytest.fixture(scope="session")
def small_world() -> World:
    return generate_world(WORLD_EVENTS, WORLD_SEED)


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("world")


@pytest.fixture(scope="session")
def world_parquet(small_world: World, world_dir: Path) -> Path:
    path = world_dir / "world.parquet"
    write_world(small_world, path)
    return path


@dataclass
class Detection:
    events: EventTable
    info: InputInfo
    params: DetectParams
    result: DetectionResult
    doc: dict[str, Any]


@pytest.fixture(scope="session")
def detection(world_parquet: Path) -> Detection:
    """The engine run in-process on the small world with default parameters."""
    events, info = read_events(world_parquet)
    params = DetectParams()
    result = run_detection(events, params)
    doc = build_document(result, params, info)
    return Detection(events, info, params, result, doc)


@pytest.fixture(scope="session")
def run_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``cib-detect`` in a fresh interpreter; ``hashseed`` sets PYTHONHASHSEED."""
    assert CLI.exists(), f"console script not found next to {sys.executable}"

    def run(
        args: Sequence[str | os.PathLike[str]],
        *,
        hashseed: int | None = 0,
        cwd: Path | None = None,
        timeout: float = 120.0,
    ) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ)
        env.pop("PYTHONHASHSEED", None)
        if hashseed is not None:
            env["PYTHONHASHSEED"] = str(hashseed)
        env["COLUMNS"] = "200"  # keep rich from wrapping error lines
        env["NO_COLOR"] = "1"
        return subprocess.run(
            [str(CLI), *map(str, args)],
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture(scope="session")
def cli_world_doc(
    world_parquet: Path,
    world_dir: Path,
    run_cli: Callable[..., subprocess.CompletedProcess[str]],
) -> tuple[Path, dict[str, Any]]:
    """``cib-detect detect`` on the small world (PYTHONHASHSEED=0): (clusters.json, parsed)."""
    out = world_dir / "clusters_hash0.json"
    proc = run_cli(["detect", world_parquet, "--out", out, "--json"], hashseed=0)
    # pytest.fail, not assert: an xfail(raises=AssertionError) must not swallow a crash
    if proc.returncode != 0:
        pytest.fail(f"cib-detect failed ({proc.returncode}):\n{proc.stderr}")
    return out, json.loads(out.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- Neo4j
# The server is the one ``cib-detect neo4j start`` runs (``make test`` starts it before
# pytest). When it is not running, it is started here and stopped at the end of the
# session. Community edition has a single user database, so tests share it: ``clean_db``
# deletes every node and relationship (keeping the schema) before a test that needs an
# empty graph.


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
