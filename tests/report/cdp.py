"""A minimal headless-Chromium driver over the DevTools protocol on a pipe.

Chromium started with ``--remote-debugging-pipe`` reads protocol commands from fd 3 and
writes replies and events to fd 4, each message JSON terminated by a NUL byte (the
transport Puppeteer and Playwright use). No WebSocket client and no Python package are
needed: only Debian's ``chromium``.

    with Browser.launch() as browser:
        page = browser.new_page()
        page.goto("file:///tmp/report.html")
        page.evaluate("document.title")
        page.screenshot(Path("shot.png"))
        page.console_errors()   # console errors, uncaught exceptions, CSP and load errors
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")

#: Headless, no sandbox (root in CI), and nothing that talks to the network by itself.
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--no-default-browser-check",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
)


def find_chromium() -> str | None:
    env = os.environ.get("CIB_CHROMIUM")
    if env:
        return env
    for c in CHROMIUM_CANDIDATES:
        if Path(c).exists():
            return c
    return shutil.which("chromium")


class CdpError(RuntimeError):
    pass


class Browser:
    def __init__(self, proc: subprocess.Popen[bytes], to_chrome: int, from_chrome: int) -> None:
        self._proc = proc
        self._out = to_chrome
        self._in = from_chrome
        self._next = 0
        self._lock = threading.Lock()
        self._replies: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self._cv = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="cdp-reader", daemon=True)
        self._reader.start()

    @classmethod
    @contextmanager
    def launch(
        cls, executable: str | None = None, *, window: tuple[int, int] = (1366, 900)
    ) -> Iterator[Browser]:
        exe = executable or find_chromium()
        if exe is None:
            raise FileNotFoundError("chromium not found")
        profile = tempfile.mkdtemp(prefix="cib-chromium-")
        cmd_r, cmd_w = os.pipe()  # we write commands, chromium reads fd 3
        ev_r, ev_w = os.pipe()  # chromium writes fd 4, we read
        # Move the child's ends above 10 (close-on-exec) so that the dup2 onto 3 and 4 in
        # the child can never overwrite one of them; only 3 and 4 survive the exec.
        hi_r = fcntl.fcntl(cmd_r, fcntl.F_DUPFD_CLOEXEC, 10)
        hi_w = fcntl.fcntl(ev_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(cmd_r)
        os.close(ev_w)

        def child_fds() -> None:
            os.dup2(hi_r, 3)
            os.dup2(hi_w, 4)

        args = [
            exe,
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={window[0]},{window[1]}",
            "about:blank",
        ]
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=child_fds,  # only two dup2 calls between fork and exec
            close_fds=False,  # every other descriptor of ours is close-on-exec
        )
        os.close(hi_r)
        os.close(hi_w)
        browser = cls(proc, cmd_w, ev_r)
        try:
            yield browser
        finally:
            browser.close()
            shutil.rmtree(profile, ignore_errors=True)

    # -- transport --------------------------------------------------------------------

    def _read(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._in, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cv:
                    self._cv.notify_all()
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                with self._cv:
                    if "id" in msg:
                        self._replies[msg["id"]] = msg
                    else:
                        self.events.append(msg)
                    self._cv.notify_all()

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: str | None = None,
        timeout: float = 20.0,
    ) -> dict[str, Any]:
        with self._lock:
            self._next += 1
            mid = self._next
        msg: dict[str, Any] = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._out, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cv:
            while mid not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0 or self._proc.poll() is not None:
                    raise CdpError(f"{method}: no reply (chromium exit {self._proc.poll()})")
                self._cv.wait(left)
            reply = self._replies.pop(mid)
        if "error" in reply:
            raise CdpError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    def wait_event(
        self, method: str, *, session: str | None = None, timeout: float = 20.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for ev in self.events:
                    if ev.get("method") == method and (
                        session is None or ev.get("sessionId") == session
                    ):
                        return ev
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CdpError(f"no {method} event within {timeout}s")
                self._cv.wait(left)

    def new_page(self) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        page = Page(self, session)
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.send(f"{domain}.enable")
        return page

    def close(self) -> None:
        with suppress(CdpError, OSError):
            self.send("Browser.close", timeout=5.0)
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=10)
        for fd in (self._out, self._in):
            with suppress(OSError):
                os.close(fd)


class Page:
    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.send(method, params, session=self.session)

    def _events(self, method: str) -> list[dict[str, Any]]:
        return [
            e
            for e in list(self.browser.events)
            if e.get("sessionId") == self.session and e.get("method") == method
        ]

    def goto(self, url: str, *, timeout: float = 30.0) -> None:
        self.send("Page.navigate", {"url": url})
        self.browser.wait_event("Page.loadEventFired", session=self.session, timeout=timeout)

    def evaluate(self, expression: str, *, await_promise: bool = False) -> Any:
        res = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": await_promise},
        )
        if "exceptionDetails" in res:
            raise CdpError(f"evaluate failed: {res['exceptionDetails']}")
        return res.get("result", {}).get("value")

    def wait_for(self, expression: str, *, timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise CdpError(f"timed out waiting for {expression}")
            time.sleep(0.05)

    def set_viewport(self, width: int, height: int) -> None:
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def screenshot(self, path: Path, *, full_page: bool = True) -> Path:
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": full_page}
        if full_page:
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            params["clip"] = {
                "x": 0,
                "y": 0,
                "width": size["width"],
                "height": size["height"],
                "scale": 1,
            }
        data = self.send("Page.captureScreenshot", params)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def console_errors(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions and browser log errors
        (CSP violations, failed loads) seen on this page so far."""
        out: list[str] = []
        for e in self._events("Runtime.consoleAPICalled"):
            p = e["params"]
            if p.get("type") in ("error", "warning", "assert"):
                args = " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"])
                out.append(f"console.{p['type']}: {args}")
        for e in self._events("Runtime.exceptionThrown"):
            d = e["params"]["exceptionDetails"]
            out.append(f"exception: {d.get('exception', {}).get('description', d.get('text'))}")
        for e in self._events("Log.entryAdded"):
            entry = e["params"]["entry"]
            if entry.get("level") in ("error", "warning"):
                out.append(f"log.{entry['level']}: {entry.get('text')} {entry.get('url', '')}")
        return out

    def requested_urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self._events("Network.requestWillBeSent")]
