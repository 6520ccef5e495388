"""``cib-detect schema apply``: the named constraints and indexes of ``cypher/schema/``.

Every statement is ``CREATE … IF NOT EXISTS``, so applying twice is a no-op. The report
says which names were created now and which existed already, and waits until every index
is online (a uniqueness constraint is only enforced once its index is).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cib_detect.errors import FailedPrecondition
from cib_detect.store import cypher
from cib_detect.store.graph_store import GraphStore

_NAME = re.compile(r"^\s*CREATE\s+(?:CONSTRAINT|INDEX)\s+(\w+)\s+IF\s+NOT\s+EXISTS", re.I)


@dataclass
class SchemaReport:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    statements: int = 0
    files: list[str] = field(default_factory=list)

    def as_record(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "existing": self.existing,
            "statements": self.statements,
            "files": self.files,
        }


def schema_names() -> list[str]:
    """Names of every constraint and index the schema files declare, in file order."""
    names: list[str] = []
    for f in cypher.schema_files():
        for stmt in f.statements:
            m = _NAME.match(stmt)
            if m is None:
                raise FailedPrecondition(
                    f"{f.path}: every schema statement must be a named "
                    f"'CREATE CONSTRAINT|INDEX <name> IF NOT EXISTS': {stmt[:60]!r}"
                )
            names.append(m.group(1))
    return names


def existing_names(store: GraphStore) -> set[str]:
    """Names of the constraints and indexes the database has now."""
    rows = store.read(cypher.SHOW_CONSTRAINTS) + store.read(cypher.SHOW_INDEXES)
    return {str(r["name"]) for r in rows}


def apply_schema(store: GraphStore, *, await_s: float = 300.0) -> SchemaReport:
    """Apply every ``cypher/schema/*.cypher`` statement and wait for the indexes."""
    wanted = schema_names()
    before = existing_names(store)
    report = SchemaReport(files=[f.path.name for f in cypher.schema_files()])
    for f in cypher.schema_files():
        for stmt in f.statements:
            store.autocommit(stmt)
            report.statements += 1
    store.autocommit(cypher.AWAIT_INDEXES, {"timeout_s": int(await_s)}, timeout_s=await_s + 30)
    after = existing_names(store)
    missing = [n for n in wanted if n not in after]
    if missing:
        raise FailedPrecondition(
            "the database already holds an equivalent constraint or index under another "
            f"name, so these were not created: {', '.join(missing)}; drop the other one"
        )
    report.created = [n for n in wanted if n not in before]
    report.existing = [n for n in wanted if n in before]
    return report


def ensure_schema(store: GraphStore) -> list[str]:
    """Apply the schema when any of its constraints or indexes is missing; returns the
    names created now (empty when everything was there)."""
    if set(schema_names()) <= existing_names(store):
        return []
    return apply_schema(store).created
