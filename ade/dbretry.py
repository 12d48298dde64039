"""Riding out a database restart. A turn runs for seconds to minutes on one connection; when PostgreSQL restarts
meanwhile, that connection is dead (the pool checks connections only when it hands them out). `retrying(fn)` runs a
write or read again on a fresh connection until the database is back, so a turn whose reply is ready is not
failed by a restart; `readable(exc)` is what a client may see of a lost connection (never the driver's text)."""

import logging
import time

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

log = logging.getLogger(__name__)
DATABASE_LOST = "The database connection was lost (the database restarted or is unavailable); retry shortly."


def is_disconnect(exc: BaseException) -> bool:
    """A lost PostgreSQL connection: no connection at all, or a server shutting down or starting (not a refused
    statement: a lock timeout, a cancelled query or a locked SQLite file are raised as they are)."""
    if not isinstance(exc, (OperationalError, InterfaceError)):
        return False
    try:
        import psycopg
    except ImportError:
        return False
    cause = exc.__cause__
    if not isinstance(cause, (psycopg.OperationalError, psycopg.InterfaceError)):
        return False
    state = getattr(cause, "sqlstate", None)
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")


def readable(exc: BaseException) -> str:
    return DATABASE_LOST if is_disconnect(exc) else f"{type(exc).__name__}: {exc}"


def retrying(fn, *, what: str, seconds: float | None = None):
    """`fn()`, again on a new connection while the connection is lost, for up to DB_RETRY_SECONDS. Only outside a
    transaction, and `fn` must be one whole transaction or a read: a failed transaction wrote nothing, so running
    it again cannot write twice."""
    deadline = time.monotonic() + (settings.DB_RETRY_SECONDS if seconds is None else seconds)
    warned = False
    while True:
        try:
            return fn()
        except (OperationalError, InterfaceError) as exc:
            if connection.in_atomic_block or time.monotonic() > deadline or not is_disconnect(exc):
                raise
            if not warned:
                log.warning("%s: the database connection was lost (%s); retrying on a new one", what, exc)
                warned = True
            _drop_connection()
            time.sleep(0.5)


def _drop_connection() -> None:
    try:
        connection.close()  # a pooled connection goes back and the pool discards it (its state is bad)
    except Exception:  # noqa: S110 - it is dead either way; the next query opens a new one
        pass
