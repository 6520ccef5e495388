"""The page as a file: self-contained, locked down by its CSP, deterministic, caps stated;
the vendored library is the one recorded."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from cib_detect.report import html, plots

CYTOSCAPE_SHA256 = "081591ab735b2b6a3b31a3c60f8f3a3e2fee8c92939e0c7820ad1208571b6cd8"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data


def _parse(page: str) -> _Tags:
    p = _Tags()
    p.feed(page)
    return p


def test_vendored_library_is_the_recorded_one() -> None:
    vendor = resources.files("cib_detect.report").joinpath("vendor")
    data = vendor.joinpath("cytoscape.min.js").read_bytes()
    assert hashlib.sha256(data).hexdigest() == CYTOSCAPE_SHA256
    assert "MIT" in vendor.joinpath("LICENSE.cytoscape").read_text(encoding="utf-8") or (
        "Permission is hereby granted" in vendor.joinpath("LICENSE.cytoscape").read_text()
    )
    readme = vendor.joinpath("README.md").read_text(encoding="utf-8")
    assert "3.34.4" in readme and CYTOSCAPE_SHA256 in readme


def test_page_is_self_contained(report_html: Path) -> None:
    page = report_html.read_text(encoding="utf-8")
    tags = _parse(page)
    # nothing is loaded from anywhere: no src/href on scripts, links, images, frames
    for tag, attrs in tags.tags:
        assert tag not in ("link", "iframe", "object", "embed", "base"), tag
        if tag == "script":
            assert "src" not in attrs
    assert "url(" not in html._asset("templates", "report.css")
    # the CSP allows only the inline scripts, by hash, and data: images
    metas = [a for t, a in tags.tags if t == "meta"]
    csp = next(a["content"] for a in metas if a.get("http-equiv") == "Content-Security-Policy")
    assert csp is not None and "default-src 'none'" in csp and "img-src data:" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    script_tags = [a for t, a in tags.tags if t == "script"]
    runnable = [
        s
        for s, a in zip(tags.scripts, script_tags, strict=True)
        if a.get("type") != "application/json"
    ]
    assert len(runnable) == 2
    for s in runnable:
        digest = base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    # the data block parses and holds every cluster
    data = json.loads(tags.scripts[0])
    assert data["caps"]["max_clusters"] == 50 and data["timelines"] == "events"


def test_report_is_deterministic(doc: dict[str, Any], tmp_path: Path) -> None:
    caps = html.Caps(max_clusters=3)
    src = {"kind": "file", "path": "x"}
    a = html.write_report(doc, tmp_path / "a.html", source=src, caps=caps)
    b = html.write_report(doc, tmp_path / "b.html", source=src, caps=caps)
    assert a["sha256"] == b["sha256"]


def test_view_states_caps_and_keeps_every_cluster(doc: dict[str, Any]) -> None:
    caps = html.Caps(max_clusters=2, max_evidence=3, max_examples=4, max_texts=1)
    view = html.build_view(doc, source={"kind": "file", "path": "x"}, caps=caps)
    assert [r["id"] for r in view["clusters"]] == [c["cluster_id"] for c in doc["clusters"]]
    assert [r["detail"] for r in view["clusters"]] == [i < 2 for i in range(len(doc["clusters"]))]
    assert view["caps"] == caps.as_record()
    for c in doc["clusters"][:2]:
        d = view["details"][c["cluster_id"]]
        assert len(d["edges"]) == min(3, len(c["evidence"]))
        assert len(d["examples"]) <= 4
        assert d["examples_total"] == sum(len(e["examples"]) for e in c["evidence"][:3])
        assert {n["id"] for n in d["nodes"]} == set(c["members"])
        assert d["raster"].startswith("data:image/png;base64,iVBOR")
        assert d["raster_source"] == "evidence"


def test_examples_cover_many_pairs_and_texts_are_diffed(doc: dict[str, Any]) -> None:
    text = next(c for c in doc["clusters"] if "near_duplicate_text" in c["signals"])
    d = html.cluster_detail(text, html.Caps(max_examples=10), None)
    pairs = {(x["a"], x["b"]) for x in d["examples"]}
    assert len(pairs) == min(10, len(text["evidence"]))  # one per pair first
    t = d["texts"][0]
    assert t["t_a"] and t["t_b"] and t["dt"] is not None
    original = _text_of(text, t)
    assert original is not None
    assert " ".join(s for s, _ in t["seg_a"]) == " ".join(original.split())
    assert 0 < t["shared_words"] <= 1


def _text_of(cluster: dict[str, Any], row: dict[str, Any]) -> str | None:
    for e in cluster["evidence"]:
        for x in e["examples"]:
            if (e["a"], e["b"], x["t_a"]) == (row["a"], row["b"], row["t_a"]):
                return str(x["text_a"])
    return None


def test_layout_is_deterministic_and_places_isolated_members() -> None:
    edges = [{"a": "a", "b": "b", "weight": 2.0}, {"a": "b", "b": "c", "weight": 1.0}]
    pos = html.layout(["a", "b", "c", "lonely"], edges)
    assert pos == html.layout(["a", "b", "c", "lonely"], edges)
    assert pos["lonely"][1] > max(pos[m][1] for m in "abc")


def test_raster_points_come_from_both_sides_of_each_example(doc: dict[str, Any]) -> None:
    c = doc["clusters"][0]
    p = plots.points_from_evidence(c)
    e = c["evidence"][0]
    x = e["examples"][0]
    keys = set(zip(p.members, p.targets, p.ts.tolist(), strict=True))
    from cib_detect.report.load import ts_ms

    assert (e["a"], x["target"], ts_ms(x["t_a"])) in keys
    assert (e["b"], x.get("target_b") or x["target"], ts_ms(x["t_b"])) in keys
    png = plots.timeline_png(c, p)
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_text_groups_join_copies_across_targets(doc: dict[str, Any]) -> None:
    text = next(c for c in doc["clusters"] if "near_duplicate_text" in c["signals"])
    groups = plots.text_groups(text)
    labels = set(groups.values())
    assert labels and all(label.startswith("text “") for label in labels)
    assert len(labels) < len(groups)  # several posts share one copied text


def test_full_timelines_from_events(detection: Any, doc: dict[str, Any]) -> None:
    c = doc["clusters"][0]
    p = plots.MemberTimelines(detection.events).points(c["members"])
    ev = detection.events
    codes = {ev.accounts.index(m) for m in c["members"]}
    assert p.n == sum(1 for a in ev.account.tolist() if a in codes)
    assert list(p.ts) == sorted(p.ts)
    assert p.source == "events"


@pytest.mark.parametrize("name", ["report.html", "report.css", "report.js"])
def test_templates_are_package_data(name: str) -> None:
    assert resources.files("cib_detect.report").joinpath("templates", name).is_file()
    assert re.search(r"\S", html._asset("templates", name))
