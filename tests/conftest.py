"""Shared fixtures: one small generated world per session, its detection, a CLI runner.

The world is the smallest size ``generate_world`` accepts that plants every campaign style
and every trap archetype once (40k events: one full set; 20k plants the same set but
leaves only ~200 trap accounts, so one stray flag would already be 0.5 %).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cib_detect.config import DetectParams
from cib_detect.detect import run_detection
from cib_detect.io import read_events
from cib_detect.model import DetectionResult, EventTable, InputInfo
from cib_detect.report.json_out import build_document
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
