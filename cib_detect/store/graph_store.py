"""The Neo4j graph store: one injected driver, ``database_`` on every call, bounded time.

:class:`GraphStore` is the only object that talks to Neo4j. It takes a driver (one per
process; :func:`open_driver` builds one from :class:`~cib_detect.config.Neo4jSettings`)
and runs read and write transaction functions with a server-side timeout, translating
driver failures into :mod:`cib_detect.errors` (``Unavailable`` when Neo4j cannot be
reached, ``FailedPrecondition`` for bad credentials, ``InvalidInput`` for a bad query
parameter). The statements themselves come from :mod:`cib_detect.store.cypher`.

Timeouts nest (``shared/design.md`` §6): connect < acquire < driver retry budget <
transaction timeout, each a field of :class:`StoreTimeouts`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from neo4j import (
    READ_ACCESS,
    Driver,
    GraphDatabase,
    ManagedTransaction,
    NotificationMinimumSeverity,
    Query,
    Transaction,
    unit_of_work,
)
from neo4j import exceptions as nx

from cib_detect.config import Neo4jSettings
from cib_detect.errors import (
    CibError,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidInput,
    Unavailable,
)
from cib_detect.store import cypher

T = TypeVar("T")
Params = Mapping[str, Any]
#: What a transaction function receives: a managed (driver-retried) or explicit transaction.
Tx = ManagedTransaction | Transaction

#: Errors after which re-running an idempotent transaction is the right move: the server
#: was unreachable (possibly during commit), a transient failure such as a deadlock, or a
#: uniqueness race lost to a concurrent writer.
RETRYABLE = (nx.ServiceUnavailable, nx.SessionExpired, nx.TransientError, nx.ConstraintError)


class QuietList(list[Any]):
    """A list parameter whose ``repr`` is its length.

    The driver formats every query's parameters for its debug log whether or not debug
    logging is on (``" ".join(map(repr, fields))`` in ``Bolt5x5.run``): for an ingest batch
    of 5000 events that cost about as much client CPU as packing the batch (~3 ms). The
    packer takes list subclasses as lists, so what is sent does not change."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<list of {len(self)}>"


class QuietStr(str):
    """A string parameter whose ``repr`` is its length (see :class:`QuietList`)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<string of {len(self)}>"


#: Server error codes that mean a parameter value was wrong (user input, not a bug).
_BAD_PARAMETER_CODES = (
    "Neo.ClientError.Statement.Parameter",
    "Neo.ClientError.Statement.TypeError",
    "Neo.ClientError.Statement.ArgumentError",
)


@dataclass(frozen=True)
class StoreTimeouts:
    """Time bounds of every call (seconds)."""

    connect_s: float = 10.0
    """TCP + Bolt handshake of one connection."""
    acquire_s: float = 60.0
    """Waiting for a pooled connection (includes connecting)."""
    retry_s: float = 30.0
    """Driver's budget for re-running a transaction function after transient errors."""
    tx_s: float = 600.0
    """Server-side timeout of one transaction (0 or less: the server's default)."""


def open_driver(
    settings: Neo4jSettings,
    uri: str | None = None,
    timeouts: StoreTimeouts | None = None,
    *,
    pool_size: int = 8,
) -> Driver:
    """A driver for ``uri`` (default ``settings.uri``) with the configured credentials."""
    t = timeouts or StoreTimeouts()
    try:
        return GraphDatabase.driver(
            uri or settings.uri,
            auth=(settings.user, settings.password),
            connection_timeout=t.connect_s,
            connection_acquisition_timeout=t.acquire_s,
            max_transaction_retry_time=t.retry_s,
            max_connection_pool_size=pool_size,
            notifications_min_severity=NotificationMinimumSeverity.OFF,
        )
    except (ValueError, nx.ConfigurationError) as exc:
        raise InvalidInput(f"bad Neo4j URI {uri or settings.uri!r}: {exc}") from None


@contextlib.contextmanager
def translate_errors(what: str, where: str = "") -> Iterator[None]:
    """Turn driver and server failures inside the block into :class:`CibError`."""
    at = f" at {where}" if where else ""
    try:
        yield
    except CibError:
        raise
    except nx.AuthError as exc:
        raise FailedPrecondition(
            f"{what}: Neo4j{at} rejected the credentials ({exc.message}); "
            "set CIB_NEO4J__USER / CIB_NEO4J__PASSWORD"
        ) from None
    except (nx.ServiceUnavailable, nx.SessionExpired, OSError) as exc:
        raise Unavailable(f"{what}: Neo4j{at} is unavailable ({exc})") from None
    except nx.TransientError as exc:
        raise Unavailable(
            f"{what}: Neo4j{at} failed transiently ({exc.code}: {exc.message})"
        ) from None
    except nx.ClientError as exc:
        if exc.code and "TimedOut" in exc.code:
            raise DeadlineExceeded(
                f"{what}: the transaction exceeded its time limit{at} ({exc.message})"
            ) from None
        if exc.code and exc.code.startswith(_BAD_PARAMETER_CODES):
            raise InvalidInput(f"{what}: {exc.message}") from None
        raise CibError(
            f"{what}: Neo4j{at} refused the statement ({exc.code}: {exc.message})"
        ) from None
    except nx.Neo4jError as exc:
        raise CibError(f"{what}: Neo4j{at} failed ({exc.code}: {exc.message})") from None
    except nx.DriverError as exc:
        raise Unavailable(f"{what}: Neo4j driver error{at} ({exc})") from None


class GraphStore:
    """Reads and writes of one Neo4j database through an injected driver.

    The store never builds Cypher from values: callers pass a statement from
    :mod:`cib_detect.store.cypher` and a parameter mapping. ``owns_driver`` makes
    :meth:`close` close the driver too (as :meth:`open` does).
    """

    def __init__(
        self,
        driver: Driver,
        database: str,
        *,
        timeouts: StoreTimeouts | None = None,
        uri: str = "",
        owns_driver: bool = False,
    ) -> None:
        self.driver = driver
        self.database = database
        self.timeouts = timeouts or StoreTimeouts()
        self.uri = uri
        self._owns_driver = owns_driver

    @classmethod
    def open(
        cls,
        settings: Neo4jSettings,
        uri: str | None = None,
        *,
        timeouts: StoreTimeouts | None = None,
        verify: bool = True,
        pool_size: int = 8,
    ) -> GraphStore:
        """A store with its own driver for ``uri`` (default ``settings.uri``)."""
        t = timeouts or StoreTimeouts()
        target = uri or settings.uri
        driver = open_driver(settings, target, t, pool_size=pool_size)
        store = cls(driver, settings.database, timeouts=t, uri=target, owns_driver=True)
        if verify:
            try:
                store.ping()
            except BaseException:
                store.close()
                raise
        return store

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_driver:
            self.driver.close()

    def errors(self, what: str) -> contextlib.AbstractContextManager[None]:
        """:func:`translate_errors` naming this store's URI."""
        return translate_errors(what, self.uri)

    # ----------------------------------------------------------------- calls

    def ping(self) -> None:
        """Raise :class:`Unavailable` unless the database answers."""
        try:
            with self.errors("connect"), self.driver.session(database=self.database) as session:
                # auto-commit: fails at once when the server is down (no retry loop)
                session.run(cypher.PING).consume()
        except ValueError as exc:  # the driver's "Cannot resolve address"
            raise Unavailable(f"connect: Neo4j at {self.uri} is unavailable ({exc})") from None

    def _tx_timeout(self, timeout_s: float | None) -> float | None:
        t = self.timeouts.tx_s if timeout_s is None else timeout_s
        return t if t > 0 else None

    def read_tx(
        self, fn: Callable[[ManagedTransaction], T], *, timeout_s: float | None = None
    ) -> T:
        """Run ``fn`` in a read transaction (re-run by the driver on transient errors).

        Driver errors are *not* translated here, so callers can decide on retries; use
        :meth:`errors` around the call."""
        work = unit_of_work(timeout=self._tx_timeout(timeout_s))(fn)
        with self.driver.session(database=self.database) as session:
            return session.execute_read(work)

    def write_tx(
        self, fn: Callable[[ManagedTransaction], T], *, timeout_s: float | None = None
    ) -> T:
        """Run ``fn`` in a write transaction; see :meth:`read_tx`."""
        work = unit_of_work(timeout=self._tx_timeout(timeout_s))(fn)
        with self.driver.session(database=self.database) as session:
            return session.execute_write(work)

    def write_once(self, fn: Callable[[Tx], T], *, timeout_s: float | None = None) -> T:
        """One attempt of ``fn`` in an explicit write transaction, committed when ``fn``
        returns. Nothing is retried here: a deadlock, a lost connection or an ambiguous
        commit (``IncompleteCommit``) reaches the caller's own retry loop at once, which
        can then re-run an idempotent write with its own (short) backoff."""
        with self.driver.session(database=self.database) as session:
            tx = session.begin_transaction(timeout=self._tx_timeout(timeout_s))
            try:
                out = fn(tx)
                tx.commit()
                return out
            finally:
                if not tx.closed():
                    tx.close()  # rolls back

    def read(
        self, query: str, params: Params | None = None, *, timeout_s: float | None = None
    ) -> list[dict[str, Any]]:
        """All records of a read query as plain dicts."""

        def work(tx: ManagedTransaction) -> list[dict[str, Any]]:
            return [r.data() for r in tx.run(query, dict(params or {}))]

        with self.errors("read"):
            return self.read_tx(work, timeout_s=timeout_s)

    def keyset_pages(self, query: str, key: str, *, page_size: int) -> Iterator[dict[str, Any]]:
        """The one record of each page of a keyset-paged read, in key order.

        ``query`` takes ``$after`` (the last key of the page before, ``""`` first) and
        ``$limit``, and returns one record whose ``key`` field lists the page's keys."""
        after = ""
        while True:
            rows = self.read(query, {"after": after, "limit": page_size})
            page: list[str] = rows[0][key] if rows else []
            if not page:
                return
            yield rows[0]
            if len(page) < page_size:
                return
            after = page[-1]

    def quick_read(
        self, query: str, params: Params | None = None, *, timeout_s: float | None = None
    ) -> list[dict[str, Any]]:
        """A short read as one auto-commit statement: one round trip fewer than
        :meth:`read` and no driver retries (a failure reaches the caller at once, as
        :class:`Unavailable` and the like). For the service's point lookups."""
        q = Query(query, timeout=self._tx_timeout(timeout_s))
        with (
            self.errors("read"),
            self.driver.session(database=self.database, default_access_mode=READ_ACCESS) as session,
        ):
            return [r.data() for r in session.run(q, dict(params or {}))]

    def write(
        self, query: str, params: Params | None = None, *, timeout_s: float | None = None
    ) -> list[dict[str, Any]]:
        """All records of a write query (one transaction) as plain dicts."""

        def work(tx: ManagedTransaction) -> list[dict[str, Any]]:
            return [r.data() for r in tx.run(query, dict(params or {}))]

        with self.errors("write"):
            return self.write_tx(work, timeout_s=timeout_s)

    def autocommit(
        self, query: str, params: Params | None = None, *, timeout_s: float | None = None
    ) -> list[dict[str, Any]]:
        """An auto-commit statement: schema commands and ``CALL {…} IN TRANSACTIONS``."""
        q = Query(query, timeout=self._tx_timeout(timeout_s))
        with self.errors("run"), self.driver.session(database=self.database) as session:
            return [r.data() for r in session.run(q, dict(params or {}))]
