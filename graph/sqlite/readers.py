"""Read-only connections of a SQLite store, for reads that may run side by side.

SQLite in WAL mode lets readers on their own connections run while another connection
writes, and ``sqlite3`` releases the GIL while a statement steps: two connections on two
threads read on two cores. The store's own connection has one thread (it holds every
write transaction); the impact walk's batched reads (``cmdb.graph.sqlite.impact``) run here
instead, so a large walk's next reads proceed while the previous ones are decided, and a
reader sees only committed data.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
READERS = 2  # threads, each with its own connection: this is what a 2-core host can use


class ReadPool:
    """``READERS`` threads, each with a read-only connection to ``path`` opened on first
    use (``PRAGMA query_only``). ``call(fn, *args)`` is the thunk to submit to ``executor``:
    it calls ``fn(connection, *args)`` on the thread's connection. ``close()`` closes them.
    Errors are ``sqlite3`` errors, as on the store's own connection."""

    def __init__(self, path: Path, readers: int = READERS) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="sqlite-read")
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._guard = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA query_only=ON")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("PRAGMA cache_size=-65536")
            self._local.conn = conn
            with self._guard:
                self._conns.append(conn)
        return conn

    def call(self, fn: Callable[..., T], *args: Any) -> Callable[[], T]:
        """``fn(connection, *args)`` to run on a reader thread (``executor``)."""
        return lambda: fn(self._conn(), *args)

    @property
    def executor(self) -> ThreadPoolExecutor:
        return self._executor

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        with self._guard:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
