"""A bounded on-disk queue of reports the server has not acknowledged yet.

Each report is one gzip file written atomically (temp file, fsync, rename), named
so that lexical order is arrival order. When the spool is over its limits the
oldest reports are dropped first and the drop is logged: the newest report
describes the host best.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("cmdb.agent.spool")


class Spool:
    def __init__(self, directory: str | Path, max_files: int = 500, max_bytes: int = 200 << 20):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_files = max_files
        self.max_bytes = max_bytes
        self._seq = 0

    def _entries(self) -> list[Path]:
        return sorted(self.dir.glob("*.json.gz"))

    def put(self, report: dict[str, Any]) -> Path:
        self._seq += 1
        name = f"{time.time_ns():020d}-{os.getpid()}-{self._seq:06d}.json.gz"
        final = self.dir / name
        tmp = self.dir / f".{name}.tmp"
        data = gzip.compress(json.dumps(report, separators=(",", ":")).encode())
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        dir_fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._enforce_limits()
        return final

    def _enforce_limits(self) -> None:
        entries = self._entries()
        sizes = {p: p.stat().st_size for p in entries}
        total = sum(sizes.values())
        while entries and (len(entries) > self.max_files or total > self.max_bytes):
            oldest = entries.pop(0)
            total -= sizes[oldest]
            oldest.unlink(missing_ok=True)
            log.warning("spool full: dropped the oldest report %s", oldest.name)

    def pending(self) -> list[Path]:
        return self._entries()

    def load(self, path: Path) -> dict[str, Any] | None:
        try:
            return json.loads(gzip.decompress(path.read_bytes()))
        except (OSError, ValueError, EOFError) as exc:
            log.error("spooled report %s is unreadable (%s); moving it aside", path.name, exc)
            path.rename(path.with_suffix(".corrupt"))
            return None

    def remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def __len__(self) -> int:
        return len(self._entries())
