"""Run the investigator queries of ``cypher/investigate/`` by name.

Each file starts with a header comment the runner reads::

    // Parameters:
    //   $accountId   string             the account to explain
    //   $runId       string?   = null   the run; null = the latest complete run
    //   $limit       integer   = 10     evidence edges per cluster

A parameter without ``= default`` is required. Types: ``string``, ``integer``, ``float``,
``boolean`` and ``timestamp`` (epoch milliseconds; on the command line also ISO-8601 with
a zone, or epoch seconds); ``?`` allows null. Values given as text (``--param k=v``) are
converted to the declared type; unknown or missing parameters are :class:`InvalidInput`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cib_detect.errors import FailedPrecondition, FieldViolation, InvalidInput
from cib_detect.store import cypher
from cib_detect.store.export import parse_timestamp
from cib_detect.store.graph_store import GraphStore

TYPES = ("string", "integer", "float", "boolean", "timestamp")
_PARAM = re.compile(
    r"^//\s+\$(?P<name>\w+)\s+(?P<type>\w+)(?P<null>\?)?\s+"
    r"(?:=\s+(?P<default>'[^']*'|\S+)\s+)?(?P<doc>.*)$"
)


@dataclass(frozen=True)
class QueryParam:
    name: str
    type: str
    nullable: bool
    required: bool
    default: Any
    doc: str


@dataclass(frozen=True)
class InvestigatorQuery:
    name: str
    path: Path
    purpose: str
    params: tuple[QueryParam, ...]
    statement: str

    def as_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "purpose": self.purpose,
            "params": [
                {
                    "name": p.name,
                    "type": p.type + ("?" if p.nullable else ""),
                    "required": p.required,
                    "default": p.default,
                    "doc": p.doc,
                }
                for p in self.params
            ],
        }


def _literal(text: str, where: str) -> Any:
    if text == "null":
        return None
    if text in ("true", "false"):
        return text == "true"
    if text.startswith("'") and text.endswith("'"):
        return text[1:-1]
    try:
        return json.loads(text)
    except ValueError:
        raise FailedPrecondition(f"{where}: cannot read default value {text!r}") from None


def _section(lines: list[str], title: str) -> list[str]:
    """Comment lines under ``// <title>:`` up to the next blank comment line."""
    out: list[str] = []
    inside = False
    for line in lines:
        if not line.startswith("//"):
            break
        body = line[2:].strip()
        if inside:
            if not body:
                break
            out.append(line)
        elif body == f"{title}:":
            inside = True
    return out


def parse_query(f: cypher.CypherFile) -> InvestigatorQuery:
    """Read the header of an investigator query file."""
    lines = f.text.splitlines()
    purpose = " ".join(line[2:].strip() for line in _section(lines, "Purpose"))
    params: list[QueryParam] = []
    for line in _section(lines, "Parameters"):
        if line[2:].strip() == "(none)":
            continue
        m = _PARAM.match(line)
        if m is None or m["type"] not in TYPES:
            raise FailedPrecondition(f"{f.path}: cannot read parameter line {line!r}")
        has_default = m["default"] is not None
        params.append(
            QueryParam(
                name=m["name"],
                type=m["type"],
                nullable=m["null"] is not None,
                required=not has_default,
                default=_literal(m["default"], str(f.path)) if has_default else None,
                doc=m["doc"].strip(),
            )
        )
    if not purpose:
        raise FailedPrecondition(f"{f.path}: the header has no 'Purpose:' section")
    return InvestigatorQuery(f.name, f.path, purpose, tuple(params), f.statement)


def list_queries() -> list[InvestigatorQuery]:
    return [parse_query(f) for f in cypher.investigate_files()]


def get_query(name: str) -> InvestigatorQuery:
    return parse_query(cypher.investigate_file(name))


def _coerce(p: QueryParam, value: Any) -> Any:
    if value is None or (isinstance(value, str) and value == "null" and p.nullable):
        if not p.nullable:
            raise ValueError("may not be null")
        return None
    if p.type == "string":
        return str(value)
    if p.type == "integer":
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError("not an integer")
        return int(value)
    if p.type == "float":
        return float(value)
    if p.type == "boolean":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "1", "yes"):
            return True
        if str(value).lower() in ("false", "0", "no"):
            return False
        raise ValueError("not a boolean")
    return parse_timestamp(value)


def bind(q: InvestigatorQuery, given: dict[str, Any]) -> dict[str, Any]:
    """Declared parameters with defaults filled in and values converted to their type."""
    known = {p.name: p for p in q.params}
    problems = [
        FieldViolation(k, f"unknown parameter of {q.name}; known: {', '.join(known) or 'none'}")
        for k in given
        if k not in known
    ]
    out: dict[str, Any] = {}
    for p in q.params:
        if p.name not in given:
            if p.required:
                problems.append(FieldViolation(p.name, f"required ({p.type}): {p.doc}"))
            else:
                out[p.name] = p.default
            continue
        try:
            out[p.name] = _coerce(p, given[p.name])
        except (TypeError, ValueError) as exc:
            problems.append(FieldViolation(p.name, f"expected {p.type}: {exc}"))
    if problems:
        raise InvalidInput(
            f"bad parameters for query {q.name}: " + "; ".join(v.describe() for v in problems),
            violations=problems,
        )
    return out


def run_query(
    store: GraphStore, name: str, params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Run the investigator query ``name`` (file stem) with ``params``; rows as dicts."""
    q = get_query(name)
    return store.read(q.statement, bind(q, params or {}))
