/* cib-detect evidence report. Everything it shows comes from the JSON block #cib-data;
   every value is inserted as text (never as HTML). No network access is needed or made. */
(function () {
  "use strict";

  var DATA = JSON.parse(document.getElementById("cib-data").textContent);
  var WEIGHTS = { significance: 0.3, evidence: 0.2, density: 0.2, synchrony: 0.2, size: 0.1 };
  var SUB_LABEL = { significance: "Significance", evidence: "Evidence", density: "Density", synchrony: "Synchrony", size: "Size" };
  var SUB_HELP = {
    significance: "median over the cluster's evidence edges of -log10 p / 30 (capped at 1)",
    evidence: "1 - exp(-W/10), W the mean crowd-weighted number of targets per edge",
    density: "evidence edges / possible member pairs",
    synchrony: "median over edges of 1 - median|dt| / window (1 = lockstep)",
    size: "log2(size) / 6, capped at 1"
  };
  var CAPS = DATA.caps;
  var ROWS = DATA.clusters;
  var SUBKEYS = subKeys();
  var state = { sort: "rank", dir: 1, page: 0, query: "", signal: "", minSize: 0, open: null, cy: null, labels: false, hidden: {} };

  // ---------------------------------------------------------------- helpers
  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === "text") node.textContent = String(v);
        else if (k === "cls") node.className = v;
        else if (k === "style") node.setAttribute("style", v);
        else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), v);
        else node.setAttribute(k, v === true ? "" : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }
  function append(node) {
    for (var i = 1; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      if (Array.isArray(child)) { child.forEach(function (c) { append(node, c); }); continue; }
      node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function $(id) { return document.getElementById(id); }
  function isNum(x) { return typeof x === "number" && isFinite(x); }
  function fmt(x, d) { return isNum(x) ? x.toFixed(d === undefined ? 3 : d) : "–"; }
  function fmtInt(x) { return isNum(x) ? Math.round(x).toLocaleString("en-US") : "–"; }
  function fmtP(p) {
    if (!isNum(p)) return "–";
    if (p === 0) return "< 1e-300";
    return p < 0.001 ? p.toExponential(1).replace("e-", "e−") : p.toPrecision(2);
  }
  function fmtTs(iso) {
    if (!iso) return "–";
    return String(iso).replace("T", " ").replace(/\.000Z$/, "").replace(/Z$/, "");
  }
  function sameDay(a, b) { return !!a && !!b && String(a).slice(0, 10) === String(b).slice(0, 10); }
  function fmtDt(s) {
    if (!isNum(s)) return "–";
    if (s < 120) return (Math.round(s * 10) / 10) + " s";
    if (s < 7200) return (s / 60).toFixed(1) + " min";
    return (s / 3600).toFixed(1) + " h";
  }
  function fmtWindow(w) { return w >= 3600 && w % 3600 === 0 ? (w / 3600) + " h" : w >= 60 && w % 60 === 0 ? (w / 60) + " min" : w + " s"; }
  function colour(signal) { return DATA.signals[signal] || "#6b7280"; }
  function chip(signal) { return el("span", { cls: "chip", title: signal }, el("i", { style: "background:" + colour(signal) }), signal); }
  function bar(v, c) {
    var w = Math.max(0, Math.min(1, isNum(v) ? v : 0)) * 100;
    return el("span", { cls: "bar" }, el("span", { style: "width:" + w.toFixed(1) + "%" + (c ? ";background:" + c : "") }));
  }
  function heat(v) {
    var a = isNum(v) ? Math.max(0, Math.min(1, v)) : 0;
    var style = "background:rgba(67,56,202," + (0.06 + a * 0.62).toFixed(3) + ");" + (a > 0.55 ? "color:#fff" : "color:#1f2937");
    return el("span", { cls: "sub", style: style }, fmt(v, 2));
  }
  function subKeys() {
    var seen = {}, keys = [];
    Object.keys(WEIGHTS).forEach(function (k) { seen[k] = true; });
    ROWS.forEach(function (r) { Object.keys(r.sub || {}).forEach(function (k) { if (!seen[k]) { seen[k] = true; keys.push(k); } }); });
    var known = Object.keys(WEIGHTS).filter(function (k) { return ROWS.some(function (r) { return r.sub && k in r.sub; }); });
    return known.concat(keys.sort());
  }
  function plural(n, one, many) { return fmtInt(n) + " " + (n === 1 ? one : (many || one + "s")); }

  // ---------------------------------------------------------------- run
  function renderRun() {
    var run = DATA.run || {}, input = run.input || {}, params = run.params || {}, stats = run.stats || {};
    var src = DATA.source || {};
    clear($("masthead-meta"));
    append($("masthead-meta"), [
      el("div", null, DATA.generator + " · run engine " + (run.version || "?")),
      el("div", null, src.kind === "run" ? "Neo4j run " : "source ", el("span", { cls: "mono" }, src.run_id || src.path || "–")),
      src.sha256 ? el("div", null, "clusters.json sha256 ", el("span", { cls: "mono", title: src.sha256 }, src.sha256.slice(0, 16) + "…")) : null
    ]);
    var flagged = ROWS.reduce(function (s, r) { return s + r.size; }, 0);
    var facts = [
      ["Clusters", fmtInt(ROWS.length)],
      ["Flagged accounts", fmtInt(flagged)],
      ["Events", fmtInt(stats.events !== undefined ? stats.events : input.accepted)],
      ["Accounts", fmtInt(stats.accounts)],
      ["Windows", (params.windows || []).map(fmtWindow).join(", ") || "–"],
      ["FDR · seed", (isNum(params.fdr) ? params.fdr : "–") + " · " + (run.seed !== undefined ? run.seed : params.seed)],
      ["Input", input.path || "–", "mono wide"],
      ["Input sha256", input.sha256 || "–", "mono wide"],
      ["Rows read · rejected · duplicates", [input.rows, input.rejected, input.duplicates].map(fmtInt).join(" · ")],
      ["Version", run.version || "–"]
    ];
    var box = clear($("run-facts"));
    facts.forEach(function (f) {
      var wide = f[2] && f[2].indexOf("wide") >= 0;
      append(box, el("div", { cls: "fact" + (wide ? " wide" : "") }, el("div", { cls: "k" }, f[0]),
        el("div", { cls: "v" + (f[2] && f[2].indexOf("mono") >= 0 ? " mono" : "") }, f[1])));
    });
    $("run-hint").textContent = "What produced these clusters. Attach this page to an escalation as it is: it needs no network.";
    kvTable($("params-table"), params, DATA.param_help || {});
    var flat = {};
    flatten(stats, "", flat);
    flatten({ timings: run.timings || {} }, "", flat);
    if (input.rejected_by_reason) flatten({ rejected_by_reason: input.rejected_by_reason }, "", flat);
    kvTable($("stats-table"), flat, {});
  }
  function flatten(obj, prefix, out) {
    Object.keys(obj || {}).forEach(function (k) {
      var v = obj[k], key = prefix ? prefix + "." + k : k;
      if (v && typeof v === "object" && !Array.isArray(v)) flatten(v, key, out);
      else out[key] = v;
    });
  }
  function kvTable(table, obj, help) {
    clear(table);
    Object.keys(obj).forEach(function (k) {
      var v = obj[k];
      var text = Array.isArray(v) ? v.join(", ") : (v === null || v === undefined ? "null" : String(v));
      append(table, el("tr", null, el("td", { title: help[k] || null }, k), el("td", null, text)));
    });
  }

  // ---------------------------------------------------------------- table
  var COLUMNS = [
    { key: "rank", label: "#", num: true, get: function (r) { return r.rank; } },
    { key: "id", label: "Cluster", get: function (r) { return r.id; } },
    { key: "score", label: "Score", num: true, left: true, get: function (r) { return r.score; } }
  ].concat(SUBKEYS.map(function (k) {
    return { key: "sub." + k, label: SUB_LABEL[k] || k, num: true, sub: k, title: SUB_HELP[k], get: function (r) { return r.sub ? r.sub[k] : null; } };
  })).concat([
    { key: "size", label: "Members", num: true, get: function (r) { return r.size; } },
    { key: "n_edges", label: "Edges", num: true, get: function (r) { return r.n_edges; } },
    { key: "signals", label: "Signals", get: function (r) { return r.signals.join(","); } }
  ]);

  function renderHead() {
    var tr = clear($("cluster-head"));
    COLUMNS.forEach(function (c) {
      var arrow = state.sort === c.key ? (state.dir > 0 ? "▲" : "▼") : "";
      append(tr, el("th", {
        cls: "sortable" + (c.num && !c.left ? " num" : ""), title: c.title || "Sort by " + c.label.toLowerCase(), "data-key": c.key,
        "aria-sort": state.sort === c.key ? (state.dir > 0 ? "ascending" : "descending") : null,
        onclick: function () {
          if (state.sort === c.key) state.dir = -state.dir;
          else { state.sort = c.key; state.dir = (c.num && c.key !== "rank") ? -1 : 1; }
          state.page = 0; renderHead(); renderTable();
        }
      }, c.label, el("span", { cls: "arrow" }, arrow)));
    });
  }

  function filtered() {
    var q = state.query.trim().toLowerCase();
    var col = COLUMNS.filter(function (c) { return c.key === state.sort; })[0] || COLUMNS[0];
    var rows = ROWS.filter(function (r) {
      if (state.signal && r.signals.indexOf(state.signal) < 0) return false;
      if (r.size < state.minSize) return false;
      if (!q) return true;
      if (r.id.toLowerCase().indexOf(q) >= 0) return true;
      if (r.signals.some(function (s) { return s.toLowerCase().indexOf(q) >= 0; })) return true;
      return r.members.some(function (m) { return m.toLowerCase().indexOf(q) >= 0; });
    });
    rows.sort(function (a, b) {
      var x = col.get(a), y = col.get(b);
      if (x === y || (x == null && y == null)) return a.rank - b.rank;
      if (x == null) return 1;
      if (y == null) return -1;
      return (x < y ? -1 : 1) * state.dir;
    });
    return rows;
  }

  function renderTable() {
    var rows = filtered(), size = CAPS.page_size;
    var pages = Math.max(1, Math.ceil(rows.length / size));
    state.page = Math.min(state.page, pages - 1);
    var start = state.page * size, shown = rows.slice(start, start + size);
    var body = clear($("cluster-body"));
    shown.forEach(function (r) {
      var tr = el("tr", {
        cls: (r.detail ? "" : "summary-only") + (state.open === r.id ? " open" : ""), "data-id": r.id, tabindex: "0",
        title: r.detail ? "Open cluster " + r.id : "Summary only: details are included for the top " + CAPS.max_clusters + " clusters",
        onclick: function () { openCluster(r.id, true); },
        onkeydown: function (ev) { if (ev.key === "Enter") openCluster(r.id, true); }
      });
      COLUMNS.forEach(function (c) {
        var td = el("td", { cls: c.num && !c.left ? "num" : null });
        if (c.key === "rank") append(td, el("span", { cls: "rank" }, r.rank));
        else if (c.key === "id") append(td, el("span", { cls: "mono", style: "white-space:nowrap" }, r.id), r.truncated ? [" ", el("span", { cls: "tag", title: "clusters.json keeps only the strongest evidence edges of this cluster" }, "evidence capped")] : null);
        else if (c.key === "score") append(td, el("span", { cls: "score" }, bar(r.score), el("b", null, fmt(r.score, 3))));
        else if (c.sub) append(td, heat(c.get(r)));
        else if (c.key === "signals") append(td, r.signals.map(chip));
        else append(td, fmtInt(c.get(r)));
        append(tr, td);
      });
      append(body, tr);
    });
    if (!shown.length) append(body, el("tr", null, el("td", { colspan: COLUMNS.length, cls: "hint" }, "No cluster matches the filter.")));
    $("table-count").textContent = rows.length === ROWS.length
      ? plural(ROWS.length, "cluster")
      : fmtInt(rows.length) + " of " + plural(ROWS.length, "cluster") + " match";
    var pager = clear($("pager"));
    append(pager, [
      el("button", { type: "button", disabled: state.page === 0, onclick: function () { state.page--; renderTable(); } }, "‹ Previous"),
      el("span", null, rows.length ? "Rows " + fmtInt(start + 1) + "–" + fmtInt(start + shown.length) + " of " + fmtInt(rows.length) + " · page " + (state.page + 1) + " of " + pages : "No rows"),
      el("button", { type: "button", disabled: state.page >= pages - 1, onclick: function () { state.page++; renderTable(); } }, "Next ›")
    ]);
  }

  function renderCaps() {
    var detailed = Object.keys(DATA.details).length;
    var p = clear($("table-caps"));
    append(p, [
      el("strong", null, "Caps: "),
      detailed < ROWS.length
        ? "details (graph, timeline, evidence) are included for the top " + fmtInt(detailed) + " of " + fmtInt(ROWS.length) + " clusters (--max-clusters " + CAPS.max_clusters + "); the others are listed with their scores and members. "
        : "every cluster has its details. ",
      "Per cluster at most " + CAPS.max_evidence + " evidence edges (--max-evidence), " + CAPS.max_examples + " example co-actions (--max-examples) and " + CAPS.max_texts + " text pairs (--max-texts) are shown; " + CAPS.page_size + " clusters per page."
    ]);
  }

  // ---------------------------------------------------------------- detail
  function openCluster(id, fromUser) {
    var row = ROWS.filter(function (r) { return r.id === id; })[0];
    if (!row) return false;
    state.open = id;
    state.hidden = {};
    if (location.hash !== "#cluster=" + id) history.replaceState(null, "", "#cluster=" + id);
    renderTable();
    renderDetail(row);
    if (fromUser) $("detail").scrollIntoView({ block: "start" });
    return true;
  }

  function closeCluster() {
    if (state.cy) { state.cy.destroy(); state.cy = null; }
    state.open = null;
    $("detail").hidden = true;
    history.replaceState(null, "", location.pathname + location.search);
    renderTable();
  }

  function neighbour(row, step) {
    var rows = filtered(), i = rows.indexOf(row);
    return i < 0 ? null : rows[i + step] || null;
  }

  function renderDetail(row) {
    var box = clear($("detail"));
    box.hidden = false;
    if (state.cy) { state.cy.destroy(); state.cy = null; }
    var d = DATA.details[row.id];
    var prev = neighbour(row, -1), next = neighbour(row, 1);
    append(box, el("div", { cls: "detail-head" },
      el("div", null,
        el("h2", null, "Cluster #" + row.rank + " ", el("span", { cls: "mono" }, row.id)),
        el("div", { cls: "sub-title" }, plural(row.size, "member") + " · " + plural(row.n_edges, "evidence edge") + " · score " + fmt(row.score, 3) + " · ", row.signals.map(chip))),
      el("div", { cls: "detail-actions" },
        el("button", { type: "button", disabled: !prev, onclick: function () { openCluster(prev.id, true); } }, "‹ Previous cluster"),
        el("button", { type: "button", disabled: !next, onclick: function () { openCluster(next.id, true); } }, "Next cluster ›"),
        el("button", { type: "button", onclick: closeCluster }, "Close"))));
    var subs = el("div", { cls: "subscores" });
    SUBKEYS.forEach(function (k) {
      var v = row.sub ? row.sub[k] : null;
      append(subs, el("div", { cls: "subscore", title: SUB_HELP[k] || "" },
        el("div", { cls: "k" }, el("span", null, SUB_LABEL[k] || k), el("span", null, WEIGHTS[k] ? "× " + WEIGHTS[k].toFixed(2) : "")),
        el("div", { cls: "v" }, fmt(v, 2)), bar(v)));
    });
    append(box, subs);
    if (!d) {
      append(box, el("p", { cls: "notice" }, "This report includes details (graph, timeline, evidence) for the top " + CAPS.max_clusters +
        " clusters only. Re-run cib-detect report with --max-clusters " + row.rank + " or more to include this one."));
      append(box, el("div", { cls: "panel inspector" }, el("h3", null, "Members"), membersList(row.members, null)));
      return;
    }
    var graphBox = el("div", { cls: "graph", id: "graph", role: "img", "aria-label": "Graph of " + row.size + " members and " + d.edges.length + " evidence edges" });
    var inspector = el("div", { cls: "inspector", id: "inspector" });
    var legend = el("span", { cls: "legend" });
    var shownSignals = {};
    d.edges.forEach(function (e) { shownSignals[e.signal] = true; });
    Object.keys(shownSignals).sort().forEach(function (s) {
      append(legend, el("button", { type: "button", cls: "chip", title: "Show or hide " + s + " edges", "aria-pressed": "true", onclick: function (ev) {
        state.hidden[s] = !state.hidden[s];
        ev.currentTarget.setAttribute("aria-pressed", state.hidden[s] ? "false" : "true");
        ev.currentTarget.style.opacity = state.hidden[s] ? "0.45" : "1";
        applyHidden();
      } }, el("i", { style: "background:" + colour(s) }), s));
    });
    var capNote = "Showing " + fmtInt(d.edges.length) + " of " + plural(row.n_edges, "evidence edge") +
      (d.edges.length < d.edges_in_document ? " (report cap " + CAPS.max_evidence + ")" : "") +
      (row.truncated ? "; clusters.json keeps the strongest " + fmtInt(d.edges_in_document) : "") + ".";
    var alone = d.nodes.filter(function (n) { return n.degree === 0; }).length;
    if (alone) capNote += " " + plural(alone, "member") + " without a shown edge " + (alone === 1 ? "is" : "are") + " drawn apart, below.";
    append(box, el("div", { cls: "panel-grid" },
      el("div", { cls: "panel" },
        el("h3", null, "Coordination graph", el("span", { cls: "hint" }, "node = member (size: summed weight), edge = evidence (width: weight, colour: signal); hover for details, click to inspect")),
        graphBox,
        el("div", { cls: "graph-tools" },
          el("button", { type: "button", onclick: function () { if (state.cy) state.cy.fit(undefined, 24); } }, "Fit"),
          el("button", { type: "button", id: "toggle-labels", onclick: function () { state.labels = !state.labels; applyLabels(); } }, "Labels"),
          legend),
        el("p", { cls: "caps" }, capNote)),
      el("div", { cls: "panel" }, el("h3", null, "Inspector", el("span", { cls: "hint" }, "members, or what you click")), inspector)));
    showMembers(row, d);

    var ev = (DATA.source || {}).events;
    var rasterNote = d.raster_source === "events"
      ? "Full timelines of the members from the events file " + (ev ? ev.path : "") + " (" + fmtInt(d.raster_points) + " actions)" +
        (ev && !ev.matches_run ? "; note: that file's sha256 differs from the run's input." : ".")
      : "Built from the evidence examples in clusters.json: both accounts' timestamps of each example co-action (" + fmtInt(d.raster_points) +
        " actions). Pass --events to draw the members' full timelines.";
    append(box, el("div", { cls: "panel section raster" },
      el("h3", null, "Timeline raster", el("span", { cls: "hint" }, "x = time (UTC), y = member, colour = target (or copied text); columns of one colour are lockstep")),
      el("img", { id: "raster", alt: "Timeline raster of cluster " + row.id, src: d.raster, loading: "eager" }),
      el("p", { cls: "caps" }, rasterNote)));

    append(box, el("div", { cls: "panel section" },
      el("h3", null, "Shared targets, rarest first", el("span", { cls: "hint" }, "targets hit by two or more members; rarer targets are stronger evidence")),
      targetsTable(d.targets),
      el("p", { cls: "caps" }, "From clusters.json top_targets (at most " + ((DATA.run.params || {}).top_targets || "?") + " per cluster), ordered by how many accounts in the whole input hit the target.")));

    append(box, el("div", { cls: "panel section" },
      el("h3", null, "Example co-actions", el("span", { cls: "hint" }, "both timestamps and |dt|; one example per pair (strongest pairs first), then the next")),
      el("div", { cls: "scroll-y" }, examplesTable(d.examples)),
      el("p", { cls: "caps" }, "Showing " + fmtInt(d.examples.length) + " of " + fmtInt(d.examples_total) + " example co-actions of the shown edges" +
        (d.examples.length < d.examples_total ? " (cap " + CAPS.max_examples + ")" : "") + "; clusters.json keeps " + ((DATA.run.params || {}).max_examples || "a few") + " per edge.")));

    if (d.texts_total) {
      var texts = el("div", { cls: "panel section" },
        el("h3", null, "Near-duplicate texts", el("span", { cls: "hint" }, "highlighted words differ between the two posts")));
      d.texts.forEach(function (t) { append(texts, textPair(t)); });
      append(texts, el("p", { cls: "caps" }, "Showing " + fmtInt(d.texts.length) + " of " + fmtInt(d.texts_total) + " text pairs" + (d.texts.length < d.texts_total ? " (cap " + CAPS.max_texts + ")" : "") + "."));
      append(box, texts);
    }
    drawGraph(row, d, graphBox);
  }

  function membersList(members, d) {
    var deg = {};
    if (d) d.nodes.forEach(function (n) { deg[n.id] = n; });
    var list = el("div", { cls: "members-list" });
    members.forEach(function (m) {
      append(list, el("div", { title: deg[m] ? deg[m].degree + " evidence edges, summed weight " + fmt(deg[m].strength, 1) : null }, m));
    });
    return list;
  }

  function showMembers(row, d) {
    var box = clear($("inspector"));
    append(box, [el("p", { cls: "empty" }, "Hover over a node or edge for a summary; click it for its evidence."),
      el("h3", null, plural(row.size, "member")), membersList(row.members, d)]);
  }

  function kv(rows) {
    return el("table", { cls: "kv" }, rows.filter(function (r) { return r; }).map(function (r) { return el("tr", null, el("td", null, r[0]), el("td", null, r[1])); }));
  }

  function edgeFacts(e) {
    return [
      ["accounts", e.a + " – " + e.b], ["signal", e.signal], ["window", fmtWindow(e.window)], ["weight", fmt(e.weight, 2)],
      ["p-value", fmtP(e.p)], ["shared targets", fmtInt(e.shared)], ["episodes", fmtInt(e.episodes) + " (expected " + fmt(e.expected, 2) + ")"],
      ["median |dt|", fmtDt(e.median_dt)], ["first", fmtTs(e.first)], ["last", fmtTs(e.last)]
    ];
  }

  function showEdge(e) {
    var box = clear($("inspector"));
    append(box, [el("h3", null, "Evidence edge"), kv(edgeFacts(e)), el("h3", { style: "margin-top:12px" }, "Examples"),
      el("div", { cls: "scroll-y" }, examplesTable(e.examples.map(function (x) { return Object.assign({ a: e.a, b: e.b, signal: e.signal }, x); }), true))]);
  }

  function showNode(id, d) {
    var box = clear($("inspector"));
    var edges = d.edges.filter(function (e) { return e.a === id || e.b === id; }).sort(function (x, y) { return y.weight - x.weight; });
    var node = d.nodes.filter(function (n) { return n.id === id; })[0] || {};
    var tbl = el("table", { cls: "grid" }, el("thead", null, el("tr", null, el("th", null, "partner"), el("th", null, "signal"), el("th", { cls: "num" }, "weight"), el("th", { cls: "num" }, "p"))));
    var body = el("tbody");
    edges.forEach(function (e) {
      append(body, el("tr", { style: "cursor:pointer", onclick: function () { showEdge(e); } },
        el("td", { cls: "mono" }, e.a === id ? e.b : e.a), el("td", null, chip(e.signal)), el("td", { cls: "num" }, fmt(e.weight, 2)), el("td", { cls: "num" }, fmtP(e.p))));
    });
    append(tbl, body);
    append(box, [el("h3", null, "Account"), kv([["account", id], ["evidence edges", fmtInt(node.degree)], ["summed weight", fmt(node.strength, 2)]]),
      el("h3", { style: "margin-top:12px" }, "Its evidence (click a row)"), el("div", { cls: "scroll-y" }, tbl)]);
  }

  function targetsTable(rows) {
    if (!rows.length) return el("p", { cls: "hint" }, "No shared targets recorded.");
    var t = el("table", { cls: "grid" }, el("thead", null, el("tr", null,
      el("th", null, "Target"), el("th", { cls: "num", title: "members of this cluster that hit the target" }, "Members"),
      el("th", { cls: "num", title: "distinct accounts in the whole input that hit the target" }, "Accounts overall"),
      el("th", { cls: "num", title: "members / accounts overall" }, "Member share"), el("th", null, "First"), el("th", null, "Last"))));
    var body = el("tbody");
    rows.forEach(function (r) {
      append(body, el("tr", null, el("td", { cls: "mono" }, r.target), el("td", { cls: "num" }, fmtInt(r.members)), el("td", { cls: "num" }, fmtInt(r.popularity)),
        el("td", { cls: "num" }, isNum(r.share) ? (r.share * 100).toFixed(0) + " %" : "–"), el("td", { cls: "ts" }, fmtTs(r.first)), el("td", { cls: "ts" }, fmtTs(r.last))));
    });
    append(t, body);
    return t;
  }

  function examplesTable(rows, compact) {
    var head = compact ? ["Target", "A at", "B at", "|dt|"] : ["Account A", "A at", "Account B", "B at", "|dt|", "Target", "Signal"];
    var t = el("table", { cls: "grid" }, el("thead", null, el("tr", null, head.map(function (h) { return el("th", { cls: h === "|dt|" ? "num" : null }, h); }))));
    var body = el("tbody");
    rows.forEach(function (x) {
      var target = x.target_b && x.target_b !== x.target ? [x.target, el("span", { cls: "arrow-b" }, " → "), x.target_b] : x.target;
      var cells = compact
        ? [el("td", { cls: "mono" }, target), el("td", { cls: "ts" }, fmtTs(x.t_a)), el("td", { cls: "ts" }, sameDay(x.t_a, x.t_b) ? fmtTs(x.t_b).slice(11) : fmtTs(x.t_b)), el("td", { cls: "num dt" }, fmtDt(x.dt))]
        : [el("td", { cls: "mono" }, x.a), el("td", { cls: "ts" }, fmtTs(x.t_a)), el("td", { cls: "mono" }, x.b), el("td", { cls: "ts" }, fmtTs(x.t_b)),
           el("td", { cls: "num dt" }, fmtDt(x.dt)), el("td", { cls: "mono" }, target), el("td", null, chip(x.signal))];
      append(body, el("tr", null, cells));
    });
    if (!rows.length) append(body, el("tr", null, el("td", { colspan: head.length, cls: "hint" }, "No examples.")));
    append(t, body);
    return t;
  }

  function textPair(t) {
    function quote(who, at, target, segs) {
      return el("blockquote", null, el("span", { cls: "who" }, who + " · " + fmtTs(at) + " · " + target),
        segs.map(function (s, i) { return [i ? " " : "", s[1] ? el("mark", { cls: "diff" }, s[0]) : s[0]]; }));
    }
    return el("div", { cls: "text-pair" },
      el("div", { cls: "meta" }, el("span", null, "|dt| ", el("b", null, fmtDt(t.dt))), el("span", null, Math.round(t.shared_words * 100) + " % of words shared"), chip(t.signal)),
      quote(t.a, t.t_a, t.target, t.seg_a), quote(t.b, t.t_b, t.target_b || t.target, t.seg_b));
  }

  // ---------------------------------------------------------------- graph
  function range(values) {
    var lo = Infinity, hi = -Infinity;
    values.forEach(function (v) { if (v < lo) lo = v; if (v > hi) hi = v; });
    if (!isFinite(lo)) { lo = 0; hi = 1; }
    if (hi - lo < 1e-9) hi = lo + 1;
    return [lo, hi];
  }

  function drawGraph(row, d, container) {
    if (typeof cytoscape !== "function") { append(container, el("p", { cls: "notice" }, "Graph library missing.")); return; }
    var sr = range(d.nodes.map(function (n) { return n.strength; }));
    var wr = range(d.edges.map(function (e) { return e.weight; }));
    var elements = d.nodes.map(function (n) {
      return { group: "nodes", data: { id: n.id, degree: n.degree, strength: n.strength }, position: { x: n.x, y: n.y } };
    }).concat(d.edges.map(function (e, i) {
      return { group: "edges", data: { id: "e" + i, source: e.a, target: e.b, weight: e.weight, signal: e.signal, colour: colour(e.signal), idx: i } };
    }));
    var cy = cytoscape({
      container: container, elements: elements, layout: { name: "preset", fit: true, padding: 28 },
      minZoom: 0.1, maxZoom: 6, boxSelectionEnabled: false,
      style: [
        { selector: "node", style: {
          "background-color": "#334155", "border-color": "#ffffff", "border-width": 1.5,
          width: "mapData(strength, " + sr[0] + ", " + sr[1] + ", 12, 30)", height: "mapData(strength, " + sr[0] + ", " + sr[1] + ", 12, 30)" } },
        { selector: "node.labelled", style: {
          label: "data(id)", "font-size": 9, color: "#1f2937", "text-valign": "bottom", "text-margin-y": 3,
          "text-background-color": "#ffffff", "text-background-opacity": 0.75, "text-background-padding": 1 } },
        { selector: "edge", style: {
          width: "mapData(weight, " + wr[0] + ", " + wr[1] + ", 1, 7)", "line-color": "data(colour)", opacity: 0.5, "curve-style": "bezier" } },
        { selector: "node.hl", style: { "background-color": "#4338ca" } },
        { selector: "edge.hl", style: { opacity: 0.95 } },
        { selector: ".faded", style: { opacity: 0.08 } },
        { selector: "node:selected", style: { "background-color": "#4338ca", "border-color": "#a5b4fc", "border-width": 3 } },
        { selector: "edge:selected", style: { opacity: 1, "line-style": "solid", "underlay-color": "#a5b4fc", "underlay-opacity": 0.6, "underlay-padding": 3 } },
        { selector: ".hidden", style: { display: "none" } }
      ]
    });
    state.cy = cy;
    state.labels = d.nodes.length <= 25;
    applyLabels();
    var tip = $("tooltip");
    function showTip(evt, lines) {
      clear(tip);
      lines.forEach(function (l, i) { append(tip, [i ? el("br") : null, l[0] ? el("b", null, l[0] + " ") : null, l[1]]); });
      var oe = evt.originalEvent || {};
      tip.hidden = false;
      var x = (oe.clientX || 0) + 14, y = (oe.clientY || 0) + 14;
      tip.style.left = Math.min(x, window.innerWidth - tip.offsetWidth - 8) + "px";
      tip.style.top = Math.min(y, window.innerHeight - tip.offsetHeight - 8) + "px";
    }
    function hideTip() { tip.hidden = true; }
    cy.on("mouseover", "node", function (evt) {
      var n = evt.target;
      cy.elements().addClass("faded");
      n.closedNeighborhood().removeClass("faded").addClass("hl");
      showTip(evt, [["", n.id()], ["evidence edges", String(n.data("degree"))], ["summed weight", fmt(n.data("strength"), 2)]]);
    });
    cy.on("mouseover", "edge", function (evt) {
      var e = d.edges[evt.target.data("idx")];
      evt.target.addClass("hl");
      showTip(evt, [["", e.a + " – " + e.b], ["signal", e.signal], ["weight", fmt(e.weight, 2)], ["p", fmtP(e.p)],
        ["shared targets", fmtInt(e.shared) + " · episodes " + fmtInt(e.episodes)], ["median |dt|", fmtDt(e.median_dt)]]);
    });
    cy.on("mouseout", "node, edge", function () { cy.elements().removeClass("faded hl"); hideTip(); });
    cy.on("tap", "edge", function (evt) { showEdge(d.edges[evt.target.data("idx")]); });
    cy.on("tap", "node", function (evt) { showNode(evt.target.id(), d); });
    cy.on("tap", function (evt) { if (evt.target === cy) showMembers(row, d); });
    container.setAttribute("data-nodes", String(cy.nodes().length));
    container.setAttribute("data-edges", String(cy.edges().length));
  }

  function applyLabels() {
    if (!state.cy) return;
    state.cy.nodes().toggleClass("labelled", state.labels);
    var b = $("toggle-labels");
    if (b) b.textContent = state.labels ? "Hide labels" : "Show labels";
  }

  function applyHidden() {
    if (!state.cy) return;
    state.cy.edges().forEach(function (e) { e.toggleClass("hidden", !!state.hidden[e.data("signal")]); });
  }

  // ---------------------------------------------------------------- start
  function fromHash() {
    var m = /^#cluster=(.+)$/.exec(location.hash || "");
    if (m && m[1] !== state.open) openCluster(decodeURIComponent(m[1]), true);
  }

  function start() {
    renderRun();
    var sel = $("signal-filter");
    Object.keys(DATA.signals).forEach(function (s) { append(sel, el("option", { value: s }, s)); });
    $("filter").addEventListener("input", function (ev) { state.query = ev.target.value; state.page = 0; renderTable(); });
    sel.addEventListener("change", function (ev) { state.signal = ev.target.value; state.page = 0; renderTable(); });
    $("min-size").addEventListener("input", function (ev) { state.minSize = Number(ev.target.value) || 0; state.page = 0; renderTable(); });
    renderHead();
    renderTable();
    renderCaps();
    append(clear($("footer")), ["Generated by " + DATA.generator + ". Self-contained: graph library cytoscape.js (MIT) is embedded; the page makes no network request. Times are UTC."]);
    window.addEventListener("hashchange", fromHash);
    fromHash();
    window.cibReport = {
      ready: true,
      openCluster: function (id) { return openCluster(id, false); },
      cy: function () { return state.cy; },
      rows: function () { return document.querySelectorAll("#cluster-body tr[data-id]").length; }
    };
  }

  start();
})();
