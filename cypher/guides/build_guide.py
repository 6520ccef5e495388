"""Build the Neo4j Browser guide(s) in this folder from their templates.

A template (``*.template.md``) is the guide's Markdown with placeholders that pull the
investigator queries in verbatim, so the guide never drifts from ``cypher/investigate/``:

* ``{{query:NAME}}`` -> a runnable ```` ```cypher ```` block with the statement of
  ``cypher/investigate/NAME.cypher`` (its ``//`` header left out) and the file's name;
* ``{{params:NAME}}`` -> one runnable block per ``:param`` example line of that file's
  header (section ``Neo4j Browser:``).

    python3 cypher/guides/build_guide.py            # rewrite the guides
    python3 cypher/guides/build_guide.py --check    # exit 1 when a guide is stale

Standard library only, so it runs without the project installed.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
INVESTIGATE = HERE.parent / "investigate"
_PLACEHOLDER = re.compile(r"\{\{(query|params):([a-z0-9_]+)\}\}")


def _read(name: str) -> str:
    path = INVESTIGATE / f"{name}.cypher"
    if not path.is_file():
        raise SystemExit(f"guide template refers to {path.relative_to(HERE.parent.parent)}, "
                         "which does not exist")  # fmt: skip
    return path.read_text(encoding="utf-8")


def statement(text: str) -> str:
    """The query without whole-line ``//`` comments, without a final ``;``."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("//")]
    body = "\n".join(lines).strip()
    return body[:-1].rstrip() if body.endswith(";") else body


def param_examples(text: str) -> list[str]:
    """The ``:param`` lines of the header's ``Neo4j Browser:`` section."""
    out: list[str] = []
    in_section = False
    for line in text.splitlines():
        if not line.startswith("//"):
            break
        content = line[2:].strip()
        if content.lower().startswith("neo4j browser"):
            in_section = True
            continue
        if in_section:
            if content.startswith(":param"):
                out.append(content)
            elif content and not content.startswith("("):
                in_section = False
    return out


def _block(code: str) -> str:
    return f"```cypher\n{code}\n```"


def _expand(match: re.Match[str]) -> str:
    kind, name = match.group(1), match.group(2)
    text = _read(name)
    if kind == "query":
        return _block(statement(text)) + f"\n\n*Query file: `cypher/investigate/{name}.cypher`*"
    params = param_examples(text)
    if not params:
        return "*(this query takes no parameters)*"
    return "\n\n".join(_block(p) for p in params)


def render(template: str) -> str:
    return _PLACEHOLDER.sub(_expand, template)


def targets() -> list[tuple[Path, Path]]:
    """(template, guide) pairs of this folder."""
    return [
        (t, t.with_name(t.name.replace(".template.md", ".md")))
        for t in sorted(HERE.glob("*.template.md"))
    ]


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for template, guide in targets():
        text = render(template.read_text(encoding="utf-8"))
        current = guide.read_text(encoding="utf-8") if guide.exists() else None
        if current == text:
            continue
        if check:
            stale.append(guide.name)
        else:
            guide.write_text(text, encoding="utf-8")
            print(f"wrote {guide.relative_to(HERE.parent.parent)}")
    if stale:
        print(f"stale guide(s): {', '.join(stale)}; run python3 cypher/guides/build_guide.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
