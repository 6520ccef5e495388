"""A local Neo4j 5.26 Community server, built from Maven Central and run without Docker.

``install`` builds the tiny launcher in ``neo4j/`` (repo root) with Maven and collects it and
every Neo4j jar into ``<home>/lib``; ``start`` runs it detached (``java -cp <home>/lib/*``),
bound to ``127.0.0.1:<bolt_port>`` only, and waits until Bolt accepts the configured
credentials; ``stop`` sends SIGTERM (the launcher's shutdown hook stops the DBMS cleanly) and
SIGKILL only as a last resort.

Layout of ``settings.home``::

    lib/          launcher + Neo4j jars, and INSTALLED.json (version + launcher digest)
    data/         databases and transaction logs (data/dbms/auth.ini seeds the password)
    logs/         neo4j.log (launcher stdout/stderr), debug.log, install.log
    build/        Maven build directory
    neo4j.pid     pid of the running launcher

The password of user ``neo4j`` is taken from ``settings.password`` on the *first* start only
(it is stored in the system database then); to reset it, stop the server and delete
``<home>/data``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cib_detect.config import Neo4jSettings
from cib_detect.errors import DeadlineExceeded, FailedPrecondition, Unavailable

HOST = "127.0.0.1"
LAUNCHER_CLASS = "org.cibdetect.neo4j.Launcher"
INSTALL_TIMEOUT_S = 1800.0
#: A 4 GiB heap: with 1 GiB, young-generation collections took about a fifth of the
#: server's CPU during ingest (the young generation fills with each batch's
#: transaction state); a larger one is collected less often at the same cost per pass.
JVM_OPTIONS: tuple[str, ...] = (
    "-Xms4g",
    "-Xmx4g",
    "-XX:+UseG1GC",
    "-XX:+ExitOnOutOfMemoryError",
    "-XX:-OmitStackTraceInFastThrow",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dlog4j2.disable.jmx=true",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
)


def project_dir() -> Path:
    """The Maven project of the launcher (``neo4j/`` at the repository root)."""
    return Path(__file__).resolve().parents[2] / "neo4j"


def _home(settings: Neo4jSettings) -> Path:
    return Path(settings.home).expanduser().resolve()


def _lib(settings: Neo4jSettings) -> Path:
    return _home(settings) / "lib"


def _pid_file(settings: Neo4jSettings) -> Path:
    return _home(settings) / "neo4j.pid"


def _log_file(settings: Neo4jSettings) -> Path:
    return _home(settings) / "logs" / "neo4j.log"


def _marker(settings: Neo4jSettings) -> Path:
    return _lib(settings) / "INSTALLED.json"


def bolt_uri(settings: Neo4jSettings) -> str:
    """The URI the local server listens on (always loopback)."""
    return f"bolt://{HOST}:{settings.bolt_port}"


@contextlib.contextmanager
def _locked(settings: Neo4jSettings) -> Iterator[None]:
    """Serialise install/start/stop of one home across processes."""
    home = _home(settings)
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _launcher_digest() -> str:
    """Digest of the launcher sources: a changed pom or Launcher.java triggers a rebuild."""
    root = project_dir()
    h = hashlib.sha256()
    for rel in ("pom.xml", "src/main/java/org/cibdetect/neo4j/Launcher.java"):
        h.update(rel.encode())
        h.update((root / rel).read_bytes())
    return h.hexdigest()[:16]


def _installed_record(settings: Neo4jSettings) -> dict[str, Any] | None:
    try:
        record = json.loads(_marker(settings).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def is_installed(settings: Neo4jSettings) -> bool:
    """True when ``<home>/lib`` holds a build of this launcher for ``settings.version``."""
    record = _installed_record(settings)
    if record is None or record.get("version") != settings.version:
        return False
    with contextlib.suppress(OSError):
        if record.get("launcher") != _launcher_digest():
            return False
    return (_lib(settings) / "cib-neo4j-launcher.jar").is_file()


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def install(settings: Neo4jSettings, *, force: bool = False) -> Path:
    """Build the launcher and collect Neo4j ``settings.version`` into ``<home>/lib``.

    Skipped when already installed for the same version and launcher sources. Needs ``mvn``
    and a JDK 17+ on PATH; the jars come from Maven Central (via ``~/.m2``). Returns the home.
    """
    home = _home(settings)
    with _locked(settings):
        if not force and is_installed(settings):
            return home
        pid = _running_pid(settings)
        if pid is not None:
            raise FailedPrecondition(
                f"the local Neo4j server is running (pid {pid}); stop it before re-installing"
            )
        pom = project_dir() / "pom.xml"
        if not pom.is_file():
            raise FailedPrecondition(f"launcher project not found at {pom}")
        mvn = shutil.which("mvn")
        if mvn is None:
            raise FailedPrecondition("Maven (`mvn`) is not on PATH; install Maven 3.8+")
        if shutil.which("java") is None:
            raise FailedPrecondition("`java` is not on PATH; install a JDK 17 or 21")

        lib, staging = _lib(settings), home / "lib.new"
        shutil.rmtree(staging, ignore_errors=True)
        (home / "logs").mkdir(parents=True, exist_ok=True)
        install_log = home / "logs" / "install.log"
        cmd = [
            mvn, "-q", "-B", "-Dstyle.color=never", "-f", str(pom), "package",
            f"-Dneo4j.version={settings.version}",
            f"-Dcib.lib.dir={staging}",
            f"-Dcib.build.dir={home / 'build'}",
        ]  # fmt: skip
        with install_log.open("w") as log:
            log.write("$ " + " ".join(cmd) + "\n")
            log.flush()
            try:
                rc = subprocess.run(
                    cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    timeout=INSTALL_TIMEOUT_S, check=False,
                ).returncode  # fmt: skip
            except subprocess.TimeoutExpired:
                raise DeadlineExceeded(
                    f"Maven build did not finish in {INSTALL_TIMEOUT_S:.0f}s; see {install_log}"
                ) from None
        if rc != 0 or not (staging / "cib-neo4j-launcher.jar").is_file():
            shutil.rmtree(staging, ignore_errors=True)
            raise Unavailable(
                f"Maven build of the Neo4j {settings.version} launcher failed (exit {rc}); "
                f"see {install_log}:\n{_tail(install_log, 25)}"
            )
        record = {
            "version": settings.version,
            "launcher": _launcher_digest(),
            "installed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (staging / "INSTALLED.json").write_text(json.dumps(record, indent=2) + "\n")
        shutil.rmtree(lib, ignore_errors=True)
        staging.rename(lib)
        shutil.rmtree(home / "build", ignore_errors=True)
    return home


# --------------------------------------------------------------------------- processes


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is our exited child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _proc_status(pid: int) -> dict[str, str] | None:
    try:
        text = (Path("/proc") / str(pid) / "status").read_text()
    except OSError:
        return None
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def _gone(pid: int) -> bool:
    """Has ``pid`` fully exited? (A JVM's leader thread turns zombie before its other threads
    die and release the Bolt port, so a zombie only counts once it has no threads left.)"""
    _reap(pid)
    if not Path("/proc/self").is_dir():  # no procfs (macOS): "some process has this pid"
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    st = _proc_status(pid)
    if st is None:
        return True
    return st.get("State", "R")[:1] in ("Z", "X") and int(st.get("Threads", "1").strip()) <= 1


def _alive(pid: int, home: Path) -> bool:
    """Is ``pid`` a live launcher process of ``home``?"""
    if _gone(pid):
        return False
    if not Path("/proc/self").is_dir():
        return True
    try:
        cmdline = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return LAUNCHER_CLASS.encode() in cmdline and str(home).encode() in cmdline


def _read_pid(settings: Neo4jSettings) -> int | None:
    try:
        return int(_pid_file(settings).read_text().strip())
    except (OSError, ValueError):
        return None


def _running_pid(settings: Neo4jSettings) -> int | None:
    pid = _read_pid(settings)
    return pid if pid is not None and _alive(pid, _home(settings)) else None


def _port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _auth(settings: Neo4jSettings) -> tuple[str, str]:
    return (settings.user, settings.password)


def bolt_check(
    host: str, port: int, auth: tuple[str, str] | None = None, timeout: float = 5.0
) -> bool:
    """One bounded attempt: does Bolt on host:port accept ``auth``? Raises on auth failure."""
    from neo4j import GraphDatabase, exceptions

    if not _port_open(host, port, timeout=min(timeout, 1.0)):
        return False
    driver = GraphDatabase.driver(
        f"bolt://{host}:{port}",
        auth=auth,
        connection_timeout=timeout,
        connection_acquisition_timeout=timeout,
        max_connection_pool_size=1,
    )
    try:
        driver.verify_connectivity()
        return True
    except exceptions.AuthError as exc:
        raise FailedPrecondition(
            f"Neo4j on {host}:{port} rejected the credentials of user {auth[0] if auth else '?'}: "
            f"{exc.message}. The password is set on the first start only; to reset it, stop the "
            "server and delete <home>/data (this deletes the graph)."
        ) from None
    except (exceptions.DriverError, exceptions.Neo4jError, OSError):
        return False
    finally:
        driver.close()


def wait_for_bolt(
    host: str,
    port: int,
    timeout: float,
    *,
    auth: tuple[str, str] | None = None,
    alive: Callable[[], bool] | None = None,
    interval: float = 0.5,
) -> float:
    """Wait until Bolt on host:port accepts ``auth`` (``verify_connectivity``).

    Returns the seconds waited. Raises :class:`DeadlineExceeded` after ``timeout`` seconds,
    :class:`Unavailable` as soon as ``alive()`` turns false (the server died), and
    :class:`FailedPrecondition` at once on an authentication failure.
    """
    if auth is None:
        auth = ("neo4j", os.environ.get("CIB_NEO4J__PASSWORD", "cib-detect-local"))
    start = time.monotonic()
    deadline = start + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded(f"Neo4j Bolt on {host}:{port} did not answer in {timeout:.0f}s")
        if bolt_check(host, port, auth, timeout=max(0.5, min(5.0, remaining))):
            return time.monotonic() - start
        if alive is not None and not alive():
            raise Unavailable(f"the Neo4j server for {host}:{port} exited while starting")
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


def start(settings: Neo4jSettings, wait: bool = True) -> int:
    """Start the local server (installing it first if needed); return the launcher's pid.

    Idempotent: when this home's server already runs, return its pid (after waiting for Bolt
    when ``wait``). Bounded by ``settings.start_timeout_s``.
    """
    home = _home(settings)
    uri_port = urlsplit(settings.uri).port
    if uri_port is not None and uri_port != settings.bolt_port:
        # Not fatal: the server listens on bolt_port, clients use uri.
        warnings.warn(
            f"neo4j.uri port {uri_port} differs from neo4j.bolt_port {settings.bolt_port}",
            stacklevel=2,
        )
    pid = _running_pid(settings)
    if pid is None:
        install(settings)  # takes the lock itself; a no-op when installed
        with _locked(settings):
            pid = _running_pid(settings)  # another process may have started it meanwhile
            if pid is None:
                pid = _spawn(settings, home)
    running_pid = pid
    if wait:
        log = _log_file(settings)
        try:
            wait_for_bolt(
                HOST, settings.bolt_port, settings.start_timeout_s,
                auth=_auth(settings), alive=lambda: not _gone(running_pid),
            )  # fmt: skip
        except (DeadlineExceeded, Unavailable) as exc:
            raise type(exc)(f"{exc.message}; last lines of {log}:\n{_tail(log)}") from None
    return running_pid


def _spawn(settings: Neo4jSettings, home: Path) -> int:
    if _port_open(HOST, settings.bolt_port, timeout=0.5):
        raise FailedPrecondition(
            f"port {HOST}:{settings.bolt_port} is already in use by another process; "
            "set CIB_NEO4J__BOLT_PORT to a free port"
        )
    java = shutil.which("java")
    if java is None:
        raise FailedPrecondition("`java` is not on PATH; install a JDK 17 or 21")
    log = _log_file(settings)
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        java, *JVM_OPTIONS, "-cp", str(_lib(settings) / "*"), LAUNCHER_CLASS,
        str(home), str(settings.bolt_port), settings.database,
    ]  # fmt: skip
    env = dict(os.environ, CIB_NEO4J__PASSWORD=settings.password)
    with log.open("a") as fh:
        fh.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting Neo4j {settings.version}\n")
        fh.flush()
        proc = subprocess.Popen(
            cmd, cwd=home, env=env, stdin=subprocess.DEVNULL, stdout=fh,
            stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
        )  # fmt: skip
    _pid_file(settings).write_text(f"{proc.pid}\n")
    return proc.pid


def stop(settings: Neo4jSettings, timeout: float = 60) -> bool:
    """Stop the local server: SIGTERM, wait up to ``timeout`` s, then SIGKILL.

    Returns True when a running server was stopped, False when none was running.
    """
    with _locked(settings):
        pid = _running_pid(settings)
        if pid is None:
            _pid_file(settings).unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not _gone(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            kill_deadline = time.monotonic() + 10
            while not _gone(pid) and time.monotonic() < kill_deadline:
                time.sleep(0.1)
            with _log_file(settings).open("a") as fh:
                fh.write(f"=== killed (SIGKILL) after {timeout:.0f}s without a clean shutdown\n")
            if not _gone(pid):
                raise Unavailable(f"Neo4j (pid {pid}) survived SIGKILL")
        _pid_file(settings).unlink(missing_ok=True)
        return True


def status(settings: Neo4jSettings) -> dict[str, Any]:
    """Installed / running / pid / uri / bolt_ok of the local server (bounded, a few seconds)."""
    record = _installed_record(settings)
    pid = _running_pid(settings)
    bolt_ok = False
    error: str | None = None
    if pid is not None:
        try:
            bolt_ok = bolt_check(HOST, settings.bolt_port, _auth(settings), timeout=5.0)
        except FailedPrecondition as exc:
            error = exc.message
    return {
        "installed": is_installed(settings),
        "installed_version": record.get("version") if record else None,
        "version": settings.version,
        "home": str(_home(settings)),
        "running": pid is not None,
        "pid": pid,
        "uri": bolt_uri(settings),
        "bolt_ok": bolt_ok,
        "log": str(_log_file(settings)),
        "error": error,
    }
