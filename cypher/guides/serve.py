"""Serve this folder to Neo4j Browser on http://localhost:8001 (with CORS).

Neo4j Browser plays a guide from a URL (``:guide http://localhost:8001/NAME.md``) and
fetches it with a cross-origin request, so the server must send
``Access-Control-Allow-Origin``; Python's plain ``http.server`` does not. Binds to
127.0.0.1 only.

    python3 cypher/guides/serve.py [--port 8001]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


class _Handler(SimpleHTTPRequestHandler):
    def guess_type(self, path: Any) -> str:
        return "text/markdown" if str(path).endswith(".md") else super().guess_type(path)

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8001)
    port = ap.parse_args().port
    handler = functools.partial(_Handler, directory=str(HERE))
    with ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        print(f"serving {HERE} on http://localhost:{port}/ (Ctrl-C to stop)")
        for guide in sorted(HERE.glob("*.md")):
            if not guide.name.endswith(".template.md") and guide.name != "README.md":
                print(f"  in Neo4j Browser:  :guide http://localhost:{port}/{guide.name}")
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()


if __name__ == "__main__":
    main()
