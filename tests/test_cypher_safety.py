"""Cypher text is never built from values at run time (static checks, no Neo4j).

Values travel as ``$parameters``; the statements are constants of
:mod:`cib_detect.store.cypher` or ``cypher/*.cypher`` files. Checked here, over every
module of ``cib_detect`` (``cib_detect/_proto`` excluded):

* the query argument of every ``.run``/``.read``/``.write``/``.quick_read``/
  ``.autocommit``/``.execute_query`` call and of every ``Query(...)`` is not built from
  strings: no f-string, no ``+``/``%``, no ``.format``/``.format_map``/``.join``/
  ``.replace``, neither directly nor through a local variable assigned such an expression
  (calls on file handles and ``sys.stdout``/``sys.stderr`` are not queries);
* no Cypher constant is formatted anywhere (``cypher.X.format(...)``, ``cypher.X % ...``,
  ``cypher.X + ...``);
* in ``cib_detect/store/cypher.py``, the only ``.format`` calls are module-level
  constants formatted once at import, with constant arguments, from a template that
  nothing else uses; every other Cypher string constant, every resulting statement and
  every ``cypher/*.cypher`` file has no Python ``{name}``/``%(name)s`` placeholder left.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import cib_detect
from cib_detect.store import cypher

PACKAGE = Path(cib_detect.__file__).resolve().parent
ROOT = PACKAGE.parent
CYPHER_MODULE = PACKAGE / "store" / "cypher.py"

#: Methods whose first argument (or ``query=`` keyword) is a Cypher statement.
QUERY_METHODS = frozenset({"run", "read", "write", "quick_read", "autocommit", "execute_query"})
QUERY_KEYWORDS = frozenset({"query", "query_", "statement", "cypher", "text"})
#: String-building methods: ``"...{}".format(x)``, ``"".join(parts)`` and the like.
STRING_BUILDERS = frozenset({"format", "format_map", "join", "replace"})
#: Calls whose result is a file-like object, not a Neo4j session or transaction.
FILE_OPENERS = frozenset(
    {"open", "fdopen", "input_stream", "output_stream", "NamedTemporaryFile", "TextIOWrapper"}
)
#: Receivers that are never a session: the process's streams, the os and subprocess modules.
NOT_SESSIONS = frozenset({"sys.stdout", "sys.stderr", "sys.stdin", "subprocess", "os"})

#: ``{name}`` (not ``{{name}}``, an escaped brace) or ``%(name)s``.
PLACEHOLDER = re.compile(r"(?<!\{)\{[A-Za-z_][A-Za-z0-9_]*\}|%\([A-Za-z_]\w*\)[sdr]")
CYPHER_WORDS = re.compile(r"\b(MATCH|MERGE|CREATE|RETURN|UNWIND|CALL|SHOW|SET|DELETE)\b")


@dataclass(frozen=True)
class Offender:
    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "_proto" not in p.relative_to(PACKAGE).parts)


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------- scopes

_SCOPES = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def _own_nodes(scope: ast.AST) -> Iterator[ast.AST]:
    """Nodes of ``scope`` outside its nested functions and classes."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, _SCOPES):
            stack.extend(ast.iter_child_nodes(node))


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "<expr>"


def _callee_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        f = node.func
        if isinstance(f, ast.Name):
            return f.id
        if isinstance(f, ast.Attribute):
            return f.attr
    return None


def _targets(node: ast.AST) -> list[str]:
    """Names bound by an assignment target (tuples unpacked)."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, (ast.Tuple, ast.List)):
        return [n for e in node.elts for n in _targets(e)]
    return []


@dataclass
class Scope:
    parent: Scope | None
    files: set[str] = field(default_factory=set)  # names bound to file-like objects
    built: dict[str, tuple[int, str]] = field(default_factory=dict)  # name -> (line, how)

    def is_file(self, name: str) -> bool:
        s: Scope | None = self
        while s is not None:
            if name in s.files:
                return True
            s = s.parent
        return False

    def built_at(self, name: str) -> tuple[int, str] | None:
        s: Scope | None = self
        while s is not None:
            if name in s.built:
                return s.built[name]
            s = s.parent
        return None


def _string_built(node: ast.AST | None, scope: Scope | None = None) -> str | None:
    """How ``node`` builds a string at run time, or None when it does not."""
    if node is None:
        return None
    if isinstance(node, ast.JoinedStr):
        return "f-string"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return "string concatenation (+)"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return "%-formatting"
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in STRING_BUILDERS
    ):
        return f".{node.func.attr}(...)"
    if isinstance(node, ast.IfExp):
        return _string_built(node.body, scope) or _string_built(node.orelse, scope)
    if isinstance(node, ast.Name) and scope is not None:
        where = scope.built_at(node.id)
        if where is not None:
            return f"variable {node.id!r} built by {where[1]} on line {where[0]}"
    return None


def _bind(scope: Scope, node: ast.AST) -> None:
    """Record names bound to file objects or to strings built at run time."""
    if isinstance(node, ast.withitem) and node.optional_vars is not None:
        if _callee_name(node.context_expr) in FILE_OPENERS:
            scope.files.update(_targets(node.optional_vars))
    elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = [n for t in targets for n in _targets(t)]
        if _callee_name(node.value) in FILE_OPENERS:
            scope.files.update(names)
        how = _string_built(node.value)
        if how is not None:
            for n in names:
                scope.built.setdefault(n, (node.lineno, how))
    elif isinstance(node, ast.AugAssign) and isinstance(node.op, (ast.Add, ast.Mod)):
        for n in _targets(node.target):
            scope.built.setdefault(n, (node.lineno, "augmented assignment (+=)"))


def _query_argument(call: ast.Call) -> ast.AST | None:
    if call.args:
        return call.args[0]
    for kw in call.keywords:
        if kw.arg in QUERY_KEYWORDS:
            return kw.value
    return None


def _query_call(call: ast.Call, scope: Scope) -> str | None:
    """``receiver.method`` or ``Query`` when ``call`` takes a Cypher statement."""
    f = call.func
    if isinstance(f, ast.Name) and f.id == "Query":
        return "Query"
    if not isinstance(f, ast.Attribute):
        return None
    if f.attr == "Query":
        return _dotted(f)
    if f.attr not in QUERY_METHODS:
        return None
    receiver = _dotted(f.value)
    if receiver in NOT_SESSIONS:
        return None
    if isinstance(f.value, ast.Name) and scope.is_file(f.value.id):
        return None
    return f"{receiver}.{f.attr}"


def _cypher_aliases(tree: ast.Module) -> set[str]:
    """Local names of the ``cib_detect.store.cypher`` module."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "cib_detect.store":
            names |= {a.asname or a.name for a in node.names if a.name == "cypher"}
        elif isinstance(node, ast.Import):
            names |= {
                a.asname for a in node.names if a.name == "cib_detect.store.cypher" and a.asname
            }
    return names


def _roots_at(node: ast.AST, aliases: set[str]) -> bool:
    """True for ``cypher.NAME`` (an attribute of the cypher module)."""
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in aliases
    )


def find_dynamic_queries(source: str, filename: str = "<string>") -> list[Offender]:
    """Query arguments built from strings at run time, and Cypher constants formatted."""
    tree = ast.parse(source, filename=filename)
    aliases = _cypher_aliases(tree)
    found: list[Offender] = []

    def visit(scope_node: ast.AST, parent: Scope | None) -> None:
        scope = Scope(parent)
        own = list(_own_nodes(scope_node))
        for node in own:
            _bind(scope, node)
        for node in own:
            if isinstance(node, ast.Call):
                what = _query_call(node, scope)
                how = _string_built(_query_argument(node), scope) if what else None
                if how is not None:
                    found.append(Offender(filename, node.lineno, f"{what}(...) query is {how}"))
                f = node.func
                if (
                    isinstance(f, ast.Attribute)
                    and f.attr in STRING_BUILDERS
                    and _roots_at(f.value, aliases)
                ):
                    found.append(
                        Offender(filename, node.lineno, f"{_dotted(f)}(...) formats Cypher")
                    )
            elif (
                isinstance(node, ast.BinOp)
                and isinstance(node.op, (ast.Add, ast.Mod))
                and (_roots_at(node.left, aliases) or _roots_at(node.right, aliases))
            ):
                found.append(Offender(filename, node.lineno, "Cypher constant in + or %"))
            if isinstance(node, _SCOPES):
                visit(node, scope)

    visit(tree, None)
    return sorted(found, key=lambda o: o.line)


# ---------------------------------------------------------------------- cypher.py


def check_cypher_module(source: str, filename: str = "<string>") -> list[Offender]:
    """The rules of the statements module (see the module docstring)."""
    tree = ast.parse(source, filename=filename)
    found: list[Offender] = []
    constants: dict[str, tuple[int, str]] = {}  # module-level string constants
    templates: dict[str, int] = {}  # name -> number of module-level .format uses
    for node in tree.body:
        if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = [n for t in targets for n in _targets(t)]
        value = node.value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            for n in names:
                constants[n] = (node.lineno, value.value)
            continue
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
            if value.func.attr in STRING_BUILDERS - {"format"}:
                found.append(Offender(filename, node.lineno, f".{value.func.attr}(...)"))
                continue
            if value.func.attr != "format":
                continue
            receiver = value.func.value
            if isinstance(receiver, ast.Name) and receiver.id in constants:
                templates[receiver.id] = templates.get(receiver.id, 0) + 1
            elif not (isinstance(receiver, ast.Constant) and isinstance(receiver.value, str)):
                found.append(Offender(filename, node.lineno, "format of a non-constant string"))
            args = [*value.args, *(kw.value for kw in value.keywords)]
            if any(kw.arg is None for kw in value.keywords) or not all(
                isinstance(a, ast.Constant) and isinstance(a.value, str) for a in args
            ):
                found.append(Offender(filename, node.lineno, ".format with non-constant args"))
        elif _string_built(value) is not None:
            found.append(Offender(filename, node.lineno, f"built by {_string_built(value)}"))
    # templates are formatted only at module level: no other use anywhere in the module
    uses: dict[str, int] = {}
    for name_node in ast.walk(tree):
        if isinstance(name_node, ast.Name) and isinstance(name_node.ctx, ast.Load):
            uses[name_node.id] = uses.get(name_node.id, 0) + 1
    for name, n_format in templates.items():
        if uses.get(name, 0) != n_format:
            line = constants[name][0]
            found.append(Offender(filename, line, f"template {name} used outside .format"))
    # Cypher constants that are not templates hold no Python placeholders
    for name, (line, text) in constants.items():
        if name in templates or not CYPHER_WORDS.search(text):
            continue
        m = PLACEHOLDER.search(text)
        if m:
            found.append(Offender(filename, line, f"{name} holds placeholder {m.group(0)!r}"))
    # .format on a module constant inside a function: formatted at run time
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for call in ast.walk(fn):
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr in STRING_BUILDERS
                and isinstance(call.func.value, ast.Name)
                and call.func.value.id in constants
                and CYPHER_WORDS.search(constants[call.func.value.id][1])
            ):
                found.append(
                    Offender(filename, call.lineno, f"{call.func.value.id} formatted at run time")
                )
    return sorted(found, key=lambda o: o.line)


def _report(found: list[Offender]) -> str:
    return "Cypher built from strings at run time:\n" + "\n".join(f"  {o}" for o in found)


# ------------------------------------------------------------------------- tests


def test_no_query_is_built_from_strings() -> None:
    found = [
        o
        for path in modules()
        for o in find_dynamic_queries(path.read_text(encoding="utf-8"), _rel(path))
    ]
    assert not found, _report(found)


def test_the_scan_sees_the_query_calls() -> None:
    """The checker is not vacuous: it sees the store's query calls."""
    calls = 0
    for path in modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _query_call(node, Scope(None)) is not None:
                calls += 1
    assert calls >= 30, calls


def test_cypher_module_formats_only_constants() -> None:
    found = check_cypher_module(CYPHER_MODULE.read_text(encoding="utf-8"), _rel(CYPHER_MODULE))
    assert not found, _report(found)


def test_statements_have_no_python_placeholders() -> None:
    """The statements as run: the module's constants after import, and the files."""
    found = []
    for name in dir(cypher):
        value = getattr(cypher, name)
        public = name.isupper() and not name.startswith("_")  # _X: a template
        if public and isinstance(value, str) and CYPHER_WORDS.search(value):
            m = PLACEHOLDER.search(value)
            if m:
                found.append(f"cib_detect.store.cypher.{name}: {m.group(0)!r}")
    files = [*cypher.schema_files(), *cypher.investigate_files()]
    assert files
    for f in files:
        for m in PLACEHOLDER.finditer(f.text):
            line = f.text.count("\n", 0, m.start()) + 1
            found.append(f"{_rel(f.path)}:{line}: {m.group(0)!r}")
    assert not found, "Python placeholders in Cypher:\n" + "\n".join(found)


# -------------------------------------------------------------- the checkers fail

BAD_SOURCES = {
    "f-string": """session.run(f"MATCH (n {{id: '{x}'}}) RETURN n")""",
    "format": """tx.run("MATCH (n {{id: '{}'}}) RETURN n".format(x), {})""",
    "concat": """store.read("MATCH (n) WHERE n.id = '" + x + "' RETURN n")""",
    "percent": """store.write("MATCH (n {id: '%s'}) DELETE n" % x)""",
    "join": """store.autocommit(" ".join(["MATCH (n)", clause]))""",
    "Query": """q = Query(f"MATCH (n:{label}) RETURN n", timeout=1)""",
    "neo4j.Query": """q = neo4j.Query("MATCH (n:" + label + ") RETURN n")""",
    "keyword": """session.run(query=f"MATCH (n:{label}) RETURN n")""",
    "quick_read": """store.quick_read(cypher.RUN_GET if a else f"RETURN {b}")""",
    "execute_query": """driver.execute_query("RETURN " + x)""",
    "via variable": """
def go(tx, label):
    query = f"MATCH (n:{label}) RETURN n"
    return tx.run(query)
""",
    "via closure": """
def go(store, label):
    q = "MATCH (n:%s) RETURN n" % label
    def work(tx):
        return tx.run(q).single()
    return store.read_tx(work)
""",
    "augmented": """
def go(store, extra):
    query = cypher.RUN_GET
    query += extra
    return store.read(query)
""",
    "cypher constant formatted": """
from cib_detect.store import cypher
q = cypher.RUN_GET.format(x=1)
""",
    "cypher constant concatenated": """
from cib_detect.store import cypher
def go(store, where):
    return store.read(cypher.RUN_GET + where)
""",
}

GOOD_SOURCES = {
    "constant": """tx.run(cypher.RUN_GET, {"runId": run_id})""",
    "parameter": """
def read(self, query, params=None):
    q = Query(query, timeout=1)
    return session.run(q, dict(params or {}))
""",
    "choice of constants": """
def go(tx, with_ids):
    query = cypher.EXPORT_EVENTS_WITH_IDS if with_ids else cypher.EXPORT_EVENTS
    return tx.run(query, params)
""",
    "file handles": """
import sys, subprocess
with path.open("w") as log:
    log.write("$ " + " ".join(cmd) + "\\n")
with open(p, "w") as fh:
    fh.write(f"{port}\\n")
with os.fdopen(fd, "wb") as out:
    out.write(b"{" + data + b"}")
sys.stdout.write(json.dumps(doc) + "\\n")
subprocess.run(cmd + ["-q"])
""",
    "statement attribute": """store.read(q.statement, bind(q, params))""",
}


@pytest.mark.parametrize("source", list(BAD_SOURCES.values()), ids=list(BAD_SOURCES))
def test_checker_flags_built_queries(source: str) -> None:
    found = find_dynamic_queries(source, "synthetic.py")
    assert found, source
    assert all(str(o).startswith("synthetic.py:") for o in found)


@pytest.mark.parametrize("source", list(GOOD_SOURCES.values()), ids=list(GOOD_SOURCES))
def test_checker_accepts_constant_queries(source: str) -> None:
    assert find_dynamic_queries(source, "synthetic.py") == []


def test_checker_reports_file_and_line() -> None:
    source = "x = 1\nsession.run(f\"MATCH (n {{id: '{x}'}}) RETURN n\")\n"
    [offender] = find_dynamic_queries(source, "pkg/mod.py")
    assert str(offender).startswith("pkg/mod.py:2: session.run(...) query is f-string")
    with pytest.raises(AssertionError, match=r"pkg/mod\.py:2"):
        assert not [offender], _report([offender])


CYPHER_MODULE_BAD = {
    "runtime argument": """
_T = "MATCH (n {{id: $id}}) RETURN n{extra}"
A = _T.format(extra=EXTRA)
""",
    "format in a function": """
_T = "MATCH (n) RETURN n{extra}"
A = _T.format(extra="")
def statement(extra):
    return _T.format(extra=extra)
""",
    "template used directly": """
_T = "MATCH (n) RETURN n{extra}"
A = _T.format(extra="")
B = _T
""",
    "unformatted placeholder": """
Q = "MATCH (n:Run {runId: {runId}}) RETURN n"
""",
    "f-string constant": """
Q = f"MATCH (n:{LABEL}) RETURN n"
""",
    "percent placeholder": """
Q = "MATCH (n) WHERE n.id = %(id)s RETURN n"
""",
    "format of an expression": """
A = ("MATCH (n) " + TAIL).format(x="")
""",
}


@pytest.mark.parametrize("source", list(CYPHER_MODULE_BAD.values()), ids=list(CYPHER_MODULE_BAD))
def test_cypher_module_checker_flags(source: str) -> None:
    assert check_cypher_module(source, "cypher.py")


def test_cypher_module_checker_accepts_constant_formats() -> None:
    source = """
_T = "MATCH (a {{accountId: $a}}) RETURN a{ids}"
A = _T.format(ids="")
B = _T.format(ids=", a.x AS x")
C = "MATCH (r {runId: $runId}) RETURN r {.*} AS run"
"""
    assert check_cypher_module(source, "cypher.py") == []
