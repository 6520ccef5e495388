"""The report in real headless Chromium: the table, a cluster's graph and timeline render,
nothing goes to the network, and the console stays clean."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cdp import Browser, Page


def _open(browser: Browser, path: Path, fragment: str = "") -> Page:
    page = browser.new_page()
    page.set_viewport(1366, 900)
    page.goto(path.as_uri() + fragment)
    page.wait_for("window.cibReport && window.cibReport.ready")
    return page


def _offline(page: Page) -> None:
    urls = page.requested_urls()
    assert urls, "no request recorded at all"
    assert all(u.startswith(("file:", "data:")) for u in urls), urls


def _clean(page: Page) -> None:
    assert page.console_errors() == []


def _cell_texts(page: Page, col: int) -> list[str]:
    texts: list[str] = page.evaluate(
        f"Array.from(document.querySelectorAll('#cluster-body tr[data-id]'))"
        f".map(tr => tr.children[{col}].textContent.trim())"
    )
    return texts


def test_table_graph_and_timeline_render(
    browser: Browser, report_html: Path, doc: dict[str, Any], artifacts: Path
) -> None:
    top = doc["clusters"][0]
    page = _open(browser, report_html, f"#cluster={top['cluster_id']}")
    # the ranked cluster table
    assert page.evaluate("cibReport.rows()") == len(doc["clusters"])
    ids = _cell_texts(page, 1)
    assert [i.split()[0] for i in ids] == [c["cluster_id"] for c in doc["clusters"]]
    assert [i.endswith("evidence capped") for i in ids] == [
        c["evidence_truncated"] for c in doc["clusters"]
    ]
    # the opened cluster's graph: one node per member, one edge per evidence edge
    page.wait_for("cibReport.cy() && cibReport.cy().nodes().length > 0")
    graph = page.evaluate(
        "(() => { const cy = cibReport.cy(); const box = document.getElementById('graph');"
        " const canvases = Array.from(box.querySelectorAll('canvas'));"
        " return {nodes: cy.nodes().length, edges: cy.edges().length,"
        " canvases: canvases.length, width: Math.max(...canvases.map(c => c.width)),"
        " visible: cy.nodes().filter(n => n.renderedBoundingBox().w > 0).length}; })()"
    )
    assert graph["nodes"] == top["size"]
    assert graph["edges"] == min(len(top["evidence"]), 200)
    assert graph["canvases"] >= 1 and graph["width"] > 100
    assert graph["visible"] == top["size"]
    # the timeline raster, decoded
    page.wait_for("document.getElementById('raster').complete")
    size = page.evaluate(
        "(() => { const i = document.getElementById('raster');"
        " return [i.naturalWidth, i.naturalHeight, i.getBoundingClientRect().width]; })()"
    )
    assert size[0] > 500 and size[1] > 200 and size[2] > 300
    assert "events file" in page.evaluate("document.querySelector('.raster .caps').textContent")
    # example co-actions show both timestamps and dt
    first = page.evaluate(
        "Array.from(document.querySelectorAll('.scroll-y table.grid tbody tr')[0].children)"
        ".map(td => td.textContent)"
    )
    ex = top["evidence"][0]["examples"][0]
    assert first[0] == top["evidence"][0]["a"] and first[2] == top["evidence"][0]["b"]
    assert first[1].replace(" ", "T") in ex["t_a"] and first[3].replace(" ", "T") in ex["t_b"]
    assert first[4].endswith(("s", "min", "h"))
    # hover details on an edge: the tooltip shows signal and weight
    page.evaluate("void cibReport.cy().edges()[0].emit('mouseover')")
    tip = page.evaluate("document.getElementById('tooltip').textContent")
    assert top["evidence"][0]["signal"] in tip and "weight" in tip
    page.evaluate("void cibReport.cy().edges()[0].emit('mouseout')")
    page.screenshot(artifacts / "report.png")
    _offline(page)
    _clean(page)


def test_sort_filter_and_pages(browser: Browser, capped_html: Path, doc: dict[str, Any]) -> None:
    page = _open(browser, capped_html)
    n = len(doc["clusters"])
    assert page.evaluate("cibReport.rows()") == min(3, n)
    assert f"of {n}" in page.evaluate("document.getElementById('pager').textContent")
    # sort by members (descending on first click)
    page.evaluate("document.querySelector('th[data-key=size]').click()")
    sizes = [int(s.replace(",", "")) for s in _cell_texts(page, 8)]
    assert sizes == sorted((c["size"] for c in doc["clusters"]), reverse=True)[:3]
    # filter by an account of the last cluster: exactly that cluster is left
    last = doc["clusters"][-1]
    page.evaluate(
        "(() => { const f = document.getElementById('filter'); f.value = "
        + json.dumps(last["members"][0])
        + "; f.dispatchEvent(new Event('input')); })()"
    )
    assert [i.split()[0] for i in _cell_texts(page, 1)] == [last["cluster_id"]]
    # a cluster beyond the detail cap says so and lists its members
    page.evaluate(f"cibReport.openCluster({json.dumps(last['cluster_id'])})")
    text = page.evaluate("document.getElementById('detail').textContent")
    assert "--max-clusters" in text and last["members"][-1] in text
    assert page.evaluate("cibReport.cy()") is None
    caps = page.evaluate("document.getElementById('table-caps').textContent")
    assert "top 2 of" in caps and "5 evidence edges" in caps
    _offline(page)
    _clean(page)


def test_text_cluster_shows_near_duplicates(
    browser: Browser, report_html: Path, doc: dict[str, Any]
) -> None:
    text = next(c for c in doc["clusters"] if "near_duplicate_text" in c["signals"])
    page = _open(browser, report_html, f"#cluster={text['cluster_id']}")
    page.wait_for("cibReport.cy() && cibReport.cy().nodes().length > 0")
    pairs = page.evaluate("document.querySelectorAll('.text-pair').length")
    assert 0 < pairs <= 20
    quoted = page.evaluate("document.querySelector('.text-pair blockquote').textContent")
    texts = [x["text_a"] for e in text["evidence"] for x in e["examples"] if x.get("text_a")]
    assert any(t.split()[0] in quoted for t in texts)
    _clean(page)


def test_hostile_strings_stay_text(browser: Browser, tmp_path: Path) -> None:
    """Account ids and texts are data: markup in them is shown, never run."""
    from cib_detect.report.html import write_report
    from cib_detect.report.load import normalize

    evil = '</script><img src=x onerror="window.pwned=1">'
    ex = {"target": "t<b>1</b>", "t_a": 1_767_225_600_000, "t_b": 1_767_225_601_000,
          "target_b": "t2", "text_a": evil + " copy pasta text one two three",
          "text_b": evil + " copy pasta text one two four"}  # fmt: skip
    edge = {"a": evil, "b": "acct-2", "signal": "near_duplicate_text", "weight": 2.0,
            "window": 3600, "p_value": 1e-9, "examples": [ex]}  # fmt: skip
    d = normalize({"run": {"version": evil}, "clusters": [
        {"cluster_id": "c-evil", "rank": 1, "score": 0.5, "members": [evil, "acct-2", "acct-3"],
         "signals": ["near_duplicate_text"], "evidence": [edge]}]})  # fmt: skip
    out = tmp_path / "evil.html"
    write_report(d, out, source={"kind": "file", "path": evil})
    page = _open(browser, out, "#cluster=c-evil")
    page.wait_for("cibReport.cy() && cibReport.cy().nodes().length === 3")
    assert page.evaluate("window.pwned") is None
    assert evil in page.evaluate("document.getElementById('detail').textContent")
    _offline(page)
    _clean(page)
