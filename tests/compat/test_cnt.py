"""Profile ``cnt`` against the real coordination-network-toolkit 1.5.2.

Each input goes through the toolkit's own ``preprocess`` into its SQLite database and
its ``compute_*`` functions (the ``compute`` command's code), and through
``cib-detect``'s profile; the network tables (self pairs included) must be equal row for
row, and the files the toolkit writes (``write_output``: CSV, GraphML) byte for byte.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cnt_toolkit import Toolkit, as_list, make_rows, ours, ours_files, same_graphml, write_csv

from cib_detect.compat import cnt
from cib_detect.compat.cnt import NETWORK_TYPES
from cib_detect.compat.io import read_cnt_table
from cib_detect.errors import InvalidInput

WINDOWS = (0, 1, 5, 30)
MIN_WEIGHTS = (1, 3)


@pytest.fixture(scope="module")
def dense(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Toolkit]:
    """300 rows on a narrow time range: many ties at window edges, repeats, self pairs."""
    d = tmp_path_factory.mktemp("cnt_dense")
    path = write_csv(d / "dense.csv", make_rows(300, seed=1))
    return path, Toolkit(path, d / "dense.db")


@pytest.fixture(scope="module")
def larger(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Toolkit]:
    """1,500 rows written with \\r\\n line ends (as Python's csv module writes them)."""
    d = tmp_path_factory.mktemp("cnt_larger")
    path = write_csv(d / "larger.csv", make_rows(1500, seed=2), crlf=True)
    return path, Toolkit(path, d / "larger.db")


@pytest.mark.parametrize("network", NETWORK_TYPES)
def test_every_network_window_and_min_weight_matches(
    network: str, dense: tuple[Path, Toolkit]
) -> None:
    path, toolkit = dense
    seen_weights: set[int] = set()
    for window in WINDOWS:
        for min_w in MIN_WEIGHTS:
            toolkit.compute(network, window, min_w)
            expected = toolkit.edges(network)
            got = as_list(ours(path, network, window, min_w))
            assert got == sorted(expected, key=lambda e: (e[0].encode(), e[1].encode()))
            seen_weights.update(w for _, _, w in got)
    assert max(seen_weights) >= 3  # the inputs do produce repeated co-action


@pytest.mark.parametrize("network", NETWORK_TYPES)
def test_larger_input_with_crlf_matches(network: str, larger: tuple[Path, Toolkit]) -> None:
    path, toolkit = larger
    for window, min_w in ((1, 2), (30, 4)):
        toolkit.compute(network, window, min_w)
        assert sorted(as_list(ours(path, network, window, min_w))) == sorted(toolkit.edges(network))


@pytest.mark.parametrize(
    ("threshold", "min_size"), [(0.5, 1.0), (0.8, 3.0), (0.34, 2.5), (0.0, 4.0), (1.0, 1.0)]
)
def test_similar_tweet_thresholds_and_document_sizes(
    threshold: float, min_size: float, dense: tuple[Path, Toolkit]
) -> None:
    path, toolkit = dense
    kw = {"similarity_threshold": threshold, "min_document_size_similarity": min_size}
    toolkit.compute("co_similar_tweet", 5, 1, **kw)
    assert sorted(as_list(ours(path, "co_similar_tweet", 5, 1, **kw))) == sorted(
        toolkit.edges("co_similar_tweet")
    )


def test_plain_jaccard_without_empty_documents(tmp_path: Path) -> None:
    """``--min-document-size-similarity 0`` is the plain Jaccard function."""
    rows = [r for r in make_rows(200, seed=5) if r[5] not in ("", "@only")]
    path = write_csv(tmp_path / "texts.csv", rows)
    toolkit = Toolkit(path, tmp_path / "texts.db")
    kw = {"similarity_threshold": 0.5, "min_document_size_similarity": 0.0}
    toolkit.compute("co_similar_tweet", 5, 1, **kw)
    assert sorted(as_list(ours(path, "co_similar_tweet", 5, 1, **kw))) == sorted(
        toolkit.edges("co_similar_tweet")
    )


def test_plain_jaccard_on_an_empty_document_fails_like_the_toolkit(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "empty.csv", [["m1", "a", "a", "", "", "@only", "1", ""]])
    toolkit = Toolkit(path, tmp_path / "empty.db")
    kw = {"similarity_threshold": 0.5, "min_document_size_similarity": 0.0}
    with pytest.raises(sqlite3.OperationalError):
        toolkit.compute("co_similar_tweet", 5, 1, **kw)
    with pytest.raises(InvalidInput, match="divide by zero"):
        ours(path, "co_similar_tweet", 5, 1, **kw)


def test_window_edges_are_inclusive_in_float_arithmetic(tmp_path: Path) -> None:
    """Ties exactly at ``t ± w``; ``0.1 + 0.2``-style float edges; NaN never co-acts."""
    times = ["10", "11", "12", "12.5", "13", "10.1", "10.3", "nan", "inf", "inf", "-inf"]
    users = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"]
    rows = [
        [f"m{i}", u, u, "", "", "same text", t, "u"]
        for i, (u, t) in enumerate(zip(users, times, strict=True))
    ]
    path = write_csv(tmp_path / "edges.csv", rows)
    toolkit = Toolkit(path, tmp_path / "edges.db")
    for network in ("co_link", "co_post", "co_tweet"):
        for window in (0, 1, 2):
            toolkit.compute(network, window, 1)
            expected = toolkit.edges(network)
            assert sorted(as_list(ours(path, network, window, 1))) == sorted(expected)
    pairs = {(a, b) for a, b, _ in expected}
    assert ("a", "c") in pairs and ("a", "d") not in pairs  # |dt| = 2 in, 2.5 out
    assert ("i", "j") in pairs and not any("h" in p for p in pairs)


def test_duplicate_message_ids_keep_their_extra_urls(tmp_path: Path) -> None:
    """``insert or ignore``: the first row of an id is the message, but a later row with
    the same id still adds its new urls, with its own user and time."""
    rows = [
        ["m1", "a", "a", "", "", "x", "10", "u1"],
        ["m1", "b", "b", "", "", "y", "50", "u1 u2"],  # u1 ignored, u2 added as b @ 50
        ["m2", "c", "c", "", "", "x", "51", "u2"],
        ["m3", "c", "c", "", "", "x", "11", "u1"],
    ]
    path = write_csv(tmp_path / "dup.csv", rows)
    toolkit = Toolkit(path, tmp_path / "dup.db")
    for network in NETWORK_TYPES:
        toolkit.compute(network, 2, 1)
        assert sorted(as_list(ours(path, network, 2, 1))) == sorted(toolkit.edges(network))
    toolkit.compute("co_link", 2, 1)
    assert ("b", "c", 1) in toolkit.edges("co_link")


@pytest.mark.parametrize("loops", [False, True])
def test_csv_output_is_byte_identical(
    loops: bool, dense: tuple[Path, Toolkit], tmp_path: Path
) -> None:
    path, toolkit = dense
    for network in ("co_link", "co_retweet"):
        toolkit.compute(network, 5, 1)
        theirs = toolkit.write(network, tmp_path / f"t_{network}.csv", "csv", loops=loops)
        mine = ours_files(
            path, network, 5, 1, tmp_path / f"o_{network}.csv", include_self_loops=loops
        )
        assert mine == theirs


@pytest.mark.parametrize("n_messages", [10, 2, 0])
def test_graphml_output_is_byte_identical(
    n_messages: int, dense: tuple[Path, Toolkit], tmp_path: Path
) -> None:
    path, toolkit = dense
    for network in ("co_link", "co_tweet"):
        toolkit.compute(network, 5, 2)
        theirs = toolkit.write(
            network, tmp_path / "t.graphml", "graphml", loops=False, n_messages=n_messages
        )
        mine = ours_files(path, network, 5, 2, tmp_path / "o.graphml", n_messages=n_messages)
        assert same_graphml(mine, theirs)


def test_empty_network_outputs_match(dense: tuple[Path, Toolkit], tmp_path: Path) -> None:
    path, toolkit = dense
    toolkit.compute("co_reply", 0, 1000)
    for suffix in ("csv", "graphml"):
        theirs = toolkit.write("co_reply", tmp_path / f"t.{suffix}", suffix, loops=False)
        mine = ours_files(path, "co_reply", 0, 1000, tmp_path / f"o.{suffix}")
        assert mine == theirs if suffix == "csv" else same_graphml(mine, theirs)


def test_resolved_urls(dense: tuple[Path, Toolkit], tmp_path: Path) -> None:
    """``--resolved``: the toolkit's resolve_urls needs the network, so its
    ``resolved_url`` table is filled here and ``resolved_message_url`` built with the
    toolkit's own statement (``urls.py``); we read the same mapping from a CSV."""
    path, toolkit = dense
    mapping = {"http://a.example/1": "http://same", "http://b.example/2": "http://same", "x": ""}
    with sqlite3.connect(toolkit.db) as db:
        for url, res in mapping.items():
            db.execute("update resolved_url set resolved_url = ? where url = ?", (res or None, url))
        db.executescript(
            """
            drop table if exists resolved_message_url;
            create table resolved_message_url(
                message_id references edge(message_id), resolved_url, timestamp, user_id,
                primary key (message_id, resolved_url));
            insert or ignore into resolved_message_url
            select message_id, resolved_url.resolved_url, timestamp, user_id
            from message_url inner join resolved_url using(url)
            """
        )
    table = tmp_path / "resolved.csv"
    table.write_text(
        "url,resolved_url\n" + "".join(f"{u},{r}\n" for u, r in mapping.items()) + "y,y\n",
        encoding="utf-8",
    )
    with sqlite3.connect(toolkit.db) as db:
        db.execute("update resolved_url set resolved_url = 'y' where url = 'y'")
        db.execute(
            "insert or ignore into resolved_message_url select message_id, 'y', timestamp, "
            "user_id from message_url where url = 'y'"
        )
    for window in (1, 30):
        toolkit.compute("co_link", window, 1, resolved=True)
        got = ours(path, "co_link", window, 1, resolved_urls=table)
        assert sorted(as_list(got)) == sorted(toolkit.edges("co_link"))


def test_compute_networks_cli_graphml_matches_ours(tmp_path: Path) -> None:
    """The toolkit's command line end to end (``preprocess``, then ``compute
    --output_file``) against ``cib-detect network`` (in a fresh process each)."""
    path = write_csv(tmp_path / "in.csv", make_rows(150, seed=9))
    bin_dir = Path(sys.executable).parent
    db = tmp_path / "cli.db"
    run = {"capture_output": True, "text": True, "check": True, "timeout": 120}
    subprocess.run([bin_dir / "compute_networks", db, "preprocess", path], **run)  # type: ignore[call-overload]
    subprocess.run(  # type: ignore[call-overload]
        [bin_dir / "compute_networks", db, "compute", "co_retweet", "--time_window", "5",
         "--min_edge_weight", "1", "--output_file", tmp_path / "t.graphml"],
        **run,
    )  # fmt: skip
    subprocess.run(  # type: ignore[call-overload]
        [sys.executable, "-m", "cib_detect.cli_network", path, "--network", "co_retweet",
         "--time-window", "5", "--min-edge-weight", "1", "--out", tmp_path / "o.graphml"],
        **run,
    )  # fmt: skip
    mine, theirs = (tmp_path / "o.graphml").read_bytes(), (tmp_path / "t.graphml").read_bytes()
    assert same_graphml(mine, theirs)


@pytest.mark.parametrize("network", ["co_link", "co_post", "co_similar_tweet"])
def test_split_pair_walk_gives_the_same_network(network: str, dense: tuple[Path, Toolkit]) -> None:
    path, toolkit = dense
    toolkit.compute(network, 5, 1)
    expected = sorted(toolkit.edges(network))
    msgs = cnt.messages_from_table(read_cnt_table(path), network)
    params = cnt.CntParams(
        network=network, time_window=5, min_edge_weight=1, include_self_loops=True
    )
    for threads in (1, 2, 3):
        got = as_list(cnt.compute(msgs, params, threads=threads, split_rows=0))
        assert sorted(got) == expected
        assert got == sorted(got, key=lambda e: (e[0].encode(), e[1].encode()))
