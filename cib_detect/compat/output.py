"""Edge lists of ``cib-detect network`` as CSV or GraphML.

Profile ``cnt`` writes byte for byte what the toolkit writes:

* CSV: ``output_gephi_csv`` (``output.py:30-40``): ``csv.writer`` with ``QUOTE_ALL``
  and ``\\r\\n`` line ends, header ``source,target,weight,edge_type``, one row per edge
  (loops only with ``include_self_loops``). The toolkit's own CLI cannot write it
  (``compute --output_format csv`` passes ``n_messages`` to it, ``__main__.py:344-351``,
  and fails);
  its Python API ``write_output(..., output_type="csv")`` does.
* GraphML: ``compute --output_file x.graphml`` (``output.py:43-51``, ``graph.py:63-86``): a
  networkx ``DiGraph`` written by networkx's ElementTree writer (used when ``lxml`` is
  not installed; with lxml networkx lays the same graph out differently). Nodes appear
  in the order edges introduce them and carry ``username`` and ``message_0..n-1``;
  edges follow source by source in that node order (networkx adjacency order).

Profiles ``coortweet`` and ``native`` write undirected edge lists with their columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cib_detect.compat.cnt import DirectedEdges
from cib_detect.errors import InvalidInput
from cib_detect.kernels import compat as k

I32 = npt.NDArray[np.int32]
U8 = npt.NDArray[np.uint8]

XML_HEAD = (
    "<?xml version='1.0' encoding='utf-8'?>\n"
    '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
    'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n'
)


def csv_quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def xml_text(text: str) -> str:
    """ElementTree's character-data escaping."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def xml_attr(text: str) -> str:
    """ElementTree's attribute escaping (Python 3.11)."""
    return (
        xml_text(text)
        .replace('"', "&quot;")
        .replace("\r", "&#13;")
        .replace("\n", "&#10;")
        .replace("\t", "&#09;")
    )


def _buffer(pieces: Sequence[str]) -> tuple[U8, npt.NDArray[np.int64]]:
    encoded = [p.encode("utf-8") for p in pieces]
    ptr = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=ptr[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), ptr


def render_rows(
    a: I32,
    b: I32,
    weight: npt.NDArray[np.int64],
    names: list[str],
    escape: str,
    parts: tuple[str, str, str, str],
) -> bytes:
    """``parts[0] name(a) parts[1] name(b) parts[2] weight parts[3]`` per edge."""
    if a.shape[0] == 0:
        return b""
    used, inverse = np.unique(np.concatenate((a, b)), return_inverse=True)
    quote = csv_quote if escape == "csv" else xml_attr
    name_buf, name_ptr = _buffer([quote(names[u]) for u in used.tolist()])
    part_buf, part_ptr = _buffer(parts)
    m = a.shape[0]
    ra = inverse[:m].astype(np.int64)
    rb = inverse[m:].astype(np.int64)
    out = k.render_edges(ra, rb, weight.astype(np.int64), name_buf, name_ptr, part_buf, part_ptr)
    return bytes(out.tobytes())


def write_cnt_csv(edges: DirectedEdges, path: Path) -> None:
    """The toolkit's ``output_gephi_csv`` file."""
    head = b'"source","target","weight","edge_type"\r\n'
    tail = '","' + edges.network + '"\r\n'
    body = render_rows(edges.a, edges.b, edges.weight, edges.users, "csv", ("", ",", ',"', tail))
    _write(path, head + body)


def edge_node_order(a: I32, b: I32) -> I32:
    """Nodes in the order a graph built edge by edge first sees them."""
    seq = np.empty(2 * a.shape[0], dtype=np.int64)
    seq[0::2] = a
    seq[1::2] = b
    _, first = np.unique(seq, return_index=True)
    return seq[np.sort(first)].astype(np.int32)


def write_cnt_graphml(
    edges: DirectedEdges,
    annotations: dict[int, tuple[str, list[str]]],
    n_messages: int,
    path: Path,
) -> None:
    """The GraphML file of the toolkit's ``compute --output_file x.graphml``."""
    nodes = edge_node_order(edges.a, edges.b)
    has_attrs = any(int(u) in annotations for u in nodes.tolist())
    node_keys = ["username", *[f"message_{i}" for i in range(n_messages)]] if has_attrs else []
    keys = [(name, "node", "string") for name in node_keys]
    if edges.n:
        keys += [("weight", "edge", "long"), ("edge_type", "edge", "string")]
    out: list[str] = [XML_HEAD]
    for i in range(len(keys) - 1, -1, -1):
        name, scope, typ = keys[i]
        out.append(f'  <key id="d{i}" for="{scope}" attr.name="{name}" attr.type="{typ}" />\n')
    if not edges.n:
        out.append('  <graph edgedefault="directed" />\n</graphml>\n')
        _write(path, "".join(out).encode("utf-8"))
        return
    out.append('  <graph edgedefault="directed">\n')
    for u in nodes.tolist():
        ident = xml_attr(edges.users[u])
        ann = annotations.get(u)
        if ann is None:
            out.append(f'    <node id="{ident}" />\n')
            continue
        out.append(f'    <node id="{ident}">\n')
        for i, value in enumerate([ann[0], *ann[1][:n_messages]]):
            if value:
                out.append(f'      <data key="d{i}">{xml_text(value)}</data>\n')
            else:
                out.append(f'      <data key="d{i}" />\n')
        out.append("    </node>\n")
    # networkx lists a DiGraph's edges source by source, sources in node order
    rank = np.empty(len(edges.users), dtype=np.int64)
    rank[nodes] = np.arange(nodes.size)
    by_source = np.argsort(rank[edges.a], kind="stable")
    kw = len(node_keys)
    body = render_rows(
        edges.a[by_source],
        edges.b[by_source],
        edges.weight[by_source],
        edges.users,
        "xml",
        (
            '    <edge source="',
            '" target="',
            f'">\n      <data key="d{kw}">',
            f'</data>\n      <data key="d{kw + 1}">{xml_text(edges.network)}</data>\n    </edge>\n',
        ),
    )
    tail = "  </graph>\n</graphml>\n"
    _write(path, "".join(out).encode("utf-8") + body + tail.encode("utf-8"))


def write_table_csv(path: Path, columns: dict[str, Sequence[object]]) -> None:
    """A plain CSV (``csv.writer`` minimal quoting, ``\\n`` line ends)."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(list(columns))
    writer.writerows(zip(*columns.values(), strict=True))
    _write(path, buf.getvalue().encode("utf-8"))


def write_undirected_graphml(
    path: Path, names: list[str], a: I32, b: I32, attrs: dict[str, Sequence[object]]
) -> None:
    """An undirected GraphML edge list (networkx-style keys) with typed edge attributes."""
    types = {
        name: "long"
        if all(isinstance(v, (int, np.integer)) for v in vals[:1])
        else "double"
        if all(isinstance(v, (float, np.floating)) for v in vals[:1])
        else "string"
        for name, vals in attrs.items()
    }
    out = [XML_HEAD]
    keys = list(attrs)
    for i in range(len(keys) - 1, -1, -1):
        out.append(
            f'  <key id="d{i}" for="edge" attr.name="{keys[i]}" attr.type="{types[keys[i]]}" />\n'
        )
    nodes = edge_node_order(a, b)
    if not nodes.size:
        out.append('  <graph edgedefault="undirected" />\n</graphml>\n')
        _write(path, "".join(out).encode("utf-8"))
        return
    out.append('  <graph edgedefault="undirected">\n')
    out.extend(f'    <node id="{xml_attr(names[u])}" />\n' for u in nodes.tolist())
    cols = [attrs[key] for key in keys]
    for e, (u, v) in enumerate(zip(a.tolist(), b.tolist(), strict=True)):
        out.append(f'    <edge source="{xml_attr(names[u])}" target="{xml_attr(names[v])}">\n')
        for i, col in enumerate(cols):
            out.append(f'      <data key="d{i}">{xml_text(str(col[e]))}</data>\n')
        out.append("    </edge>\n")
    out.append("  </graph>\n</graphml>\n")
    _write(path, "".join(out).encode("utf-8"))


def _write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc}") from exc
