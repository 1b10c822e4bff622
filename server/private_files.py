"""The server's data directory is private: the directory 0700, its databases 0600.

``control.db`` holds token hashes and scan credentials, ``graph.db`` the whole
inventory: nobody but the server's own user has a reason to read them. SQLite creates
a database's ``-wal``, ``-shm`` and ``-journal`` files with the database file's mode,
so creating the database file 0600 before SQLite opens it keeps them private too;
files left by an older version are tightened here as well.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_dir(path: str | Path) -> Path:
    """Create ``path`` (and missing parents) and make it 0700."""
    path = Path(path)
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)
    return path


def private_sqlite(path: str | Path) -> Path:
    """Create the SQLite database file ``path`` empty and 0600 if it is missing (SQLite
    takes an empty file as an empty database), and make it and its companions 0600."""
    path = Path(path)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, FILE_MODE)
    os.close(fd)
    for candidate in (path, *(path.with_name(path.name + s) for s in SQLITE_COMPANIONS)):
        try:
            os.chmod(candidate, FILE_MODE)
        except FileNotFoundError:
            continue
    return path


def prepare_data_dir(data_dir: str | Path, databases: tuple[str, ...]) -> Path:
    """The data dir, 0700, with each named SQLite database in it 0600 (created if missing).

    ``databases``: file names inside ``data_dir`` (``control.db``, and ``graph.db`` when the
    graph store is SQLite)."""
    root = private_dir(data_dir)
    for name in databases:
        private_sqlite(root / name)
    return root


def server_databases(store: str) -> tuple[str, ...]:
    """The SQLite files a server with this graph store keeps in its data dir."""
    return ("control.db", "graph.db") if store == "sqlite" else ("control.db",)
