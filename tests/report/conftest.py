"""Fixtures of the report tests: the small world's clusters.json as ``detect`` writes it,
a report rendered from it, and one headless Chromium for the session.

Chromium is Debian's ``chromium`` package. Without it the browser tests are skipped —
except under CI (``CI`` set), where a missing browser fails them, so a CI machine without
the package cannot pass silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cdp import Browser, find_chromium

from cib_detect.report.html import Caps, write_report
from cib_detect.report.json_out import write_clusters_json
from cib_detect.report.load import read_clusters_json
from cib_detect.report.plots import MemberTimelines

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="session")
def clusters_path(detection: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """clusters.json of the small world, written by the engine's own writer."""
    path = tmp_path_factory.mktemp("report") / "clusters.json"
    write_clusters_json(detection.result, detection.params, detection.info, path)
    return path


@pytest.fixture(scope="session")
def doc(clusters_path: Path) -> dict[str, Any]:
    return read_clusters_json(clusters_path)


@pytest.fixture(scope="session")
def report_html(
    doc: dict[str, Any], detection: Any, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The report of the small world with full timelines from its events."""
    out = tmp_path_factory.mktemp("html") / "report.html"
    write_report(
        doc,
        out,
        source={"kind": "file", "path": "clusters.json"},
        timelines=MemberTimelines(detection.events),
    )
    return out


@pytest.fixture(scope="session")
def capped_html(doc: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report with details for the top 2 clusters only, 5 evidence edges each and
    3 clusters per table page."""
    out = tmp_path_factory.mktemp("html") / "capped.html"
    caps = Caps(max_clusters=2, max_evidence=5, max_examples=4, max_texts=2, page_size=3)
    write_report(doc, out, source={"kind": "file", "path": "clusters.json"}, caps=caps)
    return out


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    exe = find_chromium()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with Browser.launch(exe) as b:
        yield b


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
