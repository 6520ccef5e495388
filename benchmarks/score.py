"""Score a detector's clusters against a synthetic world's ground truth.

    python benchmarks/score.py clusters.json world.truth.json [--json]

``clusters.json`` is ``{"run": {...}, "clusters": [{"cluster_id", "rank", "members", ...}]}``
(a bare list of clusters is accepted too); the truth is what
``cib_detect.synthetic.write_world`` writes. Everything is computed over accounts:

* overall precision / recall / F1: flagged = union of all cluster members, positives =
  all campaign members;
* per campaign style: recall, and campaigns *recovered* (>= 50 % of the campaign's members
  in ONE cluster whose members are >= 80 % from that campaign);
* precision@10: share of the top-ranked min(10, n) clusters that are correct (>= 80 % of
  the members from a single campaign);
* ARI between truth labels (campaign id or "none") and predicted labels (cluster id or
  "none") over campaign members plus flagged accounts;
* per trap archetype: false-positive rate (flagged trap members / trap members);
* organic non-trap accounts flagged.

The exit code is always 0: this is a report.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from pathlib import Path
from typing import Any

RECOVER_COVERAGE = 0.5  # share of a campaign's members in one cluster
PURITY = 0.8  # share of a cluster's members from one campaign
TOP_K = 10
NONE = "none"


def _ratio(a: float, b: float) -> float:
    return float(a) / float(b) if b else 0.0


def _f1(p: float, r: float) -> float:
    return 2.0 * p * r / (p + r) if p + r > 0 else 0.0


def adjusted_rand_index(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Hubert-Arabie adjusted Rand index of two labelings of the same items."""
    if len(a) != len(b):
        raise ValueError("labelings differ in length")
    n = len(a)
    if n < 2:
        return 1.0

    def c2(x: int) -> float:
        return x * (x - 1) / 2.0

    sum_ij = sum(c2(v) for v in Counter(zip(a, b, strict=True)).values())
    sum_a = sum(c2(v) for v in Counter(a).values())
    sum_b = sum(c2(v) for v in Counter(b).values())
    expected = sum_a * sum_b / c2(n)
    top = (sum_a + sum_b) / 2.0
    if top == expected:  # both trivial (all one label, or all singletons)
        return 1.0 if sum_ij == top else 0.0
    return (sum_ij - expected) / (top - expected)


def load_clusters(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(run record, clusters sorted by rank) from a clusters.json file."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if isinstance(data, list):
        run: dict[str, Any] = {}
        clusters = data
    else:
        run = data.get("run") or {}
        clusters = data.get("clusters") or []
    indexed = list(enumerate(clusters))
    indexed.sort(key=lambda ic: (ic[1].get("rank", ic[0] + 1), ic[0]))
    out = []
    for i, c in indexed:
        cid = str(c.get("cluster_id", f"cluster-{i + 1}"))
        members = [str(m) for m in c.get("members", [])]
        out.append({**c, "cluster_id": cid, "members": members})
    return run, out


def score(clusters: list[dict[str, Any]], truth: dict[str, Any]) -> dict[str, Any]:
    """Every metric as one JSON-able dict (clusters sorted by rank, best first)."""
    campaigns = truth.get("campaigns", [])
    traps = truth.get("traps", [])
    camp_of: dict[str, str] = {}
    style_of: dict[str, str] = {}
    size_of: dict[str, int] = {}
    for c in campaigns:
        style_of[c["id"]] = c["style"]
        size_of[c["id"]] = len(set(c["members"]))
        for m in c["members"]:
            camp_of[m] = c["id"]
    positives = set(camp_of)
    trap_members: dict[str, set[str]] = defaultdict(set)
    for t in traps:
        trap_members[t["archetype"]].update(t["members"])
    all_trap = set().union(*trap_members.values()) if trap_members else set()

    # Predicted labels: the best-ranked cluster that holds the account.
    cluster_of: dict[str, str] = {}
    for c in clusters:
        for m in c["members"]:
            cluster_of.setdefault(m, c["cluster_id"])
    flagged = set(cluster_of)

    tp = len(flagged & positives)
    precision = _ratio(tp, len(flagged))
    recall = _ratio(tp, len(positives))

    # Per cluster: how many members from each campaign; purity of the best campaign.
    per_campaign_best: dict[str, dict[str, Any]] = {}
    top: list[dict[str, Any]] = []
    for c in clusters:
        members = set(c["members"])
        size = len(members)
        counts = Counter(camp_of[m] for m in members if m in camp_of)
        main, main_n = counts.most_common(1)[0] if counts else (None, 0)
        purity = _ratio(main_n, size)
        correct = purity >= PURITY
        if len(top) < TOP_K:
            top.append(
                {
                    "cluster_id": c["cluster_id"],
                    "rank": c.get("rank"),
                    "size": size,
                    "campaign": main,
                    "purity": round(purity, 4),
                    "correct": correct,
                }
            )
        for cid, n in counts.items():
            p = _ratio(n, size)
            best = per_campaign_best.get(cid)
            cover = _ratio(n, size_of[cid])
            recovered = cover >= RECOVER_COVERAGE and p >= PURITY
            cand = {
                "cluster_id": c["cluster_id"],
                "overlap": n,
                "coverage": cover,
                "purity": p,
                "recovered": recovered,
            }
            if best is None or (recovered, n, p) > (
                best["recovered"],
                best["overlap"],
                best["purity"],
            ):
                per_campaign_best[cid] = cand

    camp_rows = []
    styles: dict[str, dict[str, Any]] = {}
    for c in campaigns:
        members = set(c["members"])
        hit = len(members & flagged)
        best = per_campaign_best.get(c["id"])
        rec = bool(best and best["recovered"])
        camp_rows.append(
            {
                "id": c["id"],
                "style": c["style"],
                "size": len(members),
                "flagged": hit,
                "recall": round(_ratio(hit, len(members)), 4),
                "recovered": rec,
                "best_cluster": best["cluster_id"] if best else None,
                "best_coverage": round(best["coverage"], 4) if best else 0.0,
                "best_purity": round(best["purity"], 4) if best else 0.0,
            }
        )
        s = styles.setdefault(
            c["style"], {"campaigns": 0, "members": 0, "flagged": 0, "recovered": 0}
        )
        s["campaigns"] += 1
        s["members"] += len(members)
        s["flagged"] += hit
        s["recovered"] += int(rec)
    for s in styles.values():
        s["recall"] = round(_ratio(s["flagged"], s["members"]), 4)

    k = len(top)
    correct_top = sum(1 for t in top if t["correct"])

    universe = sorted(positives | flagged)
    ari = adjusted_rand_index(
        [camp_of.get(a, NONE) for a in universe], [cluster_of.get(a, NONE) for a in universe]
    )

    trap_rows = {}
    for arch, members in sorted(trap_members.items()):
        hit = len(members & flagged)
        trap_rows[arch] = {
            "members": len(members),
            "flagged": hit,
            "fp_rate": round(_ratio(hit, len(members)), 6),
        }
    trap_hit = len(all_trap & flagged)

    organic_flagged = flagged - positives - all_trap
    n_accounts = int(truth.get("n_accounts", 0))
    organic_total = max(0, n_accounts - len(positives) - len(all_trap))

    recovered_total = sum(1 for r in camp_rows if r["recovered"])
    return {
        "n_clusters": len(clusters),
        "n_flagged": len(flagged),
        "overall": {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(_f1(precision, recall), 4),
            "true_positives": tp,
            "flagged": len(flagged),
            "positives": len(positives),
        },
        "recovered": {
            "recovered": recovered_total,
            "total": len(camp_rows),
            "rate": round(_ratio(recovered_total, len(camp_rows)), 4),
        },
        "styles": dict(sorted(styles.items())),
        "campaigns": camp_rows,
        "precision_at_10": {
            "k": k,
            "correct": correct_top,
            "value": round(_ratio(correct_top, k), 4),
            "top": top,
        },
        "ari": round(ari, 4),
        "ari_accounts": len(universe),
        "traps": trap_rows,
        "trap_fp": {
            "members": len(all_trap),
            "flagged": trap_hit,
            "fp_rate": round(_ratio(trap_hit, len(all_trap)), 6),
        },
        "organic": {
            "accounts": organic_total,
            "flagged": len(organic_flagged),
            "rate": round(_ratio(len(organic_flagged), organic_total), 6),
        },
    }


def score_files(clusters_path: str | Path, truth_path: str | Path) -> dict[str, Any]:
    run, clusters = load_clusters(clusters_path)
    truth = json.loads(Path(truth_path).read_text(encoding="utf-8"))
    report = score(clusters, truth)
    report["clusters_file"] = str(clusters_path)
    report["truth_file"] = str(truth_path)
    report["world"] = {
        k: truth.get(k) for k in ("seed", "n_events", "n_sets", "n_accounts", "n_targets")
    }
    report["run"] = {k: v for k, v in run.items() if isinstance(v, str | int | float | bool)}
    return report


def _pct(x: float) -> str:
    return f"{100.0 * x:.1f}%"


def render(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    o = report["overall"]
    head = Table(title="overall (accounts)")
    head.add_column("metric")
    head.add_column("value", justify="right")
    p10 = report["precision_at_10"]
    rec = report["recovered"]
    org = report["organic"]
    for name, value in (
        ("clusters", str(report["n_clusters"])),
        ("flagged accounts", str(o["flagged"])),
        ("campaign members", str(o["positives"])),
        ("precision", f"{o['precision']:.3f}"),
        ("recall", f"{o['recall']:.3f}"),
        ("F1", f"{o['f1']:.3f}"),
        ("ARI", f"{report['ari']:.3f} over {report['ari_accounts']} accounts"),
        ("precision@10", f"{p10['value']:.2f} ({p10['correct']}/{p10['k']})"),
        ("campaigns recovered", f"{rec['recovered']}/{rec['total']}"),
        ("trap FP rate", _pct(report["trap_fp"]["fp_rate"])),
        ("organic flagged", f"{org['flagged']} of {org['accounts']} ({_pct(org['rate'])})"),
    ):
        head.add_row(name, value)
    console.print(head)

    st = Table(title="per campaign style")
    for col in ("style", "campaigns", "members", "flagged", "recall", "recovered"):
        st.add_column(col, justify="right" if col != "style" else "left")
    for name, s in report["styles"].items():
        st.add_row(
            name,
            str(s["campaigns"]),
            str(s["members"]),
            str(s["flagged"]),
            f"{s['recall']:.3f}",
            f"{s['recovered']}/{s['campaigns']}",
        )
    console.print(st)

    tr = Table(title="organic traps (should not be flagged)")
    for col in ("archetype", "members", "flagged", "FP rate"):
        tr.add_column(col, justify="right" if col != "archetype" else "left")
    for name, t in report["traps"].items():
        tr.add_row(name, str(t["members"]), str(t["flagged"]), _pct(t["fp_rate"]))
    t = report["trap_fp"]
    tr.add_row("all traps", str(t["members"]), str(t["flagged"]), _pct(t["fp_rate"]))
    console.print(tr)

    if p10["top"]:
        tp = Table(title=f"top {p10['k']} clusters")
        for col in ("rank", "cluster", "size", "main campaign", "purity", "correct"):
            tp.add_column(col)
        for c in p10["top"]:
            tp.add_row(
                str(c["rank"]),
                c["cluster_id"],
                str(c["size"]),
                str(c["campaign"] or "-"),
                f"{c['purity']:.2f}",
                "yes" if c["correct"] else "no",
            )
        console.print(tp)


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clusters", help="clusters.json written by the detector")
    ap.add_argument("truth", help="<world>.truth.json written by the generator")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    args = ap.parse_args(list(argv) if argv is not None else None)
    try:
        report = score_files(args.clusters, args.truth)
    except (OSError, ValueError, KeyError, TypeError) as exc:  # a report, never a crash
        report = {"error": f"{type(exc).__name__}: {exc}"}
        if not args.json:
            print(f"score: {report['error']}", file=sys.stderr)
    if args.json:
        print(json.dumps(report, indent=2))
    elif "error" not in report:
        render(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
