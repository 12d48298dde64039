"""Django's SQLite backend, keeping each database's write-ahead log open for the life of the process.

Under ASGI every request runs on a fresh thread with its own connection, closed when the request ends. When the
last connection to a WAL database closes, SQLite copies the log into the database and deletes it, with an fsync:
about 10 ms at the end of every request that wrote. One idle connection per database and process, opened with the
first real one and never closed, makes those closes free. The log is still folded into the database every 1000
pages by SQLite's autocheckpoint. The idle connection holds no lock and no transaction.
"""

import sqlite3
import threading

from django.db.backends.sqlite3 import base

_open_logs: dict[str, sqlite3.Connection] = {}
_lock = threading.Lock()


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        if not self.is_in_memory_db():
            _keep_log_open(str(conn_params["database"]))
        return connection


def _keep_log_open(path: str) -> None:
    if path in _open_logs:
        return
    with _lock:
        if path not in _open_logs:
            holder = sqlite3.connect(path, uri=True, check_same_thread=False)
            holder.execute("SELECT count(*) FROM sqlite_master").fetchall()  # opens the file and its log
            _open_logs[path] = holder
