"""Django's SQLite backend, with connections kept for reuse and each database's write-ahead log kept open.

Under ASGI every request runs on a fresh thread with its own connection, closed when the request ends. Opening one
costs ~1.5 ms (Django registers its SQL functions on each), so a closed connection goes back to a small idle pool
of its database and process, and the next request takes it. A connection is pooled only outside any transaction.

When the last connection to a WAL database closes, SQLite copies the log into the database and deletes it, with an
fsync: about 10 ms at the end of every request that wrote. One idle connection per database and process, opened
with the first real one and never closed, makes those closes free. The log is still folded into the database every
1000 pages by SQLite's autocheckpoint. The idle connection holds no lock and no transaction.

Threads of one process begin their write transactions one after another, through a gate held only while BEGIN
IMMEDIATE waits for SQLite's write lock. SQLite's own wait polls with sleeps of up to 100 ms, so a thread that
commits and begins again at once (an import writing batch after batch) took the lock back every time and a writer
waiting beside it timed out; at the gate it now waits behind that writer.
"""

import os
import sqlite3
import threading

from django.db.backends.sqlite3 import base

POOL_SIZE = 8  # idle connections kept per database and process

_open_logs: dict[str, sqlite3.Connection] = {}
_idle: dict[tuple[int, str], list[sqlite3.Connection]] = {}  # (pid, path) -> idle connections: never across a fork
_lock = threading.Lock()
_begin_gates: dict[tuple[int, str], threading.Lock] = {}


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        if self.is_in_memory_db():
            return super().get_new_connection(conn_params)
        path = str(conn_params["database"])
        with _lock:
            idle = _idle.get((os.getpid(), path))
            if idle:
                return idle.pop()
        connection = super().get_new_connection(conn_params)
        _keep_log_open(path)
        return connection

    def _start_transaction_under_autocommit(self):
        if self.is_in_memory_db():
            return super()._start_transaction_under_autocommit()
        gate = _begin_gate(str(self.settings_dict["NAME"]))
        if not gate.acquire(blocking=False):
            waited = self.connection.execute("PRAGMA busy_timeout").fetchone()[0] / 1000
            if not gate.acquire(timeout=waited):
                with self.wrap_database_errors:
                    raise self.Database.OperationalError("database is locked")
        try:
            return super()._start_transaction_under_autocommit()
        finally:
            gate.release()

    def _close(self):
        connection = self.connection
        if connection is None or self.is_in_memory_db() or connection.in_transaction:
            return super()._close()
        with _lock:
            idle = _idle.setdefault((os.getpid(), str(self.settings_dict["NAME"])), [])
            if len(idle) < POOL_SIZE:
                idle.append(connection)
                return None
        return super()._close()


def _keep_log_open(path: str) -> None:
    if path in _open_logs:
        return
    with _lock:
        if path not in _open_logs:
            holder = sqlite3.connect(path, uri=True, check_same_thread=False)
            holder.execute("SELECT count(*) FROM sqlite_master").fetchall()  # opens the file and its log
            _open_logs[path] = holder


def _begin_gate(path: str) -> threading.Lock:
    key = (os.getpid(), path)
    gate = _begin_gates.get(key)
    if gate is None:
        with _lock:
            gate = _begin_gates.setdefault(key, threading.Lock())
    return gate
