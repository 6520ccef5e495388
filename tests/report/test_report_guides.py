"""The Neo4j Browser guide is generated from the investigator queries and stays fresh."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
GUIDES = REPO / "cypher" / "guides"


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_guide", GUIDES / "build_guide.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["build_guide"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_guide_is_fresh() -> None:
    build = _builder()
    pairs = build.targets()
    assert pairs, "no guide template"
    for template, guide in pairs:
        assert guide.read_text(encoding="utf-8") == build.render(
            template.read_text(encoding="utf-8")
        ), f"{guide.name} is stale: run python3 cypher/guides/build_guide.py"


def test_guide_walks_through_the_investigator_queries() -> None:
    guide = (GUIDES / "investigate_cluster.md").read_text(encoding="utf-8")
    named = set(re.findall(r"cypher/investigate/([a-z0-9_]+)\.cypher", guide))
    for name in named:
        assert (REPO / "cypher" / "investigate" / f"{name}.cypher").is_file(), name
    # top clusters, one cluster, why flagged, who amplified, co-actors, new and grown
    assert {"top_clusters", "cluster_detail", "why_flagged", "target_amplifiers",
            "co_actors", "run_diff"} <= named  # fmt: skip
    # Browser Markdown guides: slides split on '---' lines, cypher blocks are runnable
    slides = re.split(r"\r?\n---\r?\n", guide)
    assert len(slides) >= 8
    blocks = re.findall(r"```cypher\n(.*?)\n```", guide, flags=re.S)
    assert blocks and all(b.strip() for b in blocks)
    assert not any(b.rstrip().endswith(";") and not b.startswith(":") for b in blocks)
