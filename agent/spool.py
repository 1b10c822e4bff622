"""A bounded on-disk queue of reports the server has not acknowledged yet.

Each report is one gzip file, mode 0600 in a 0700 directory, written atomically (temp
file, fsync, rename) and named so that lexical order is arrival order. When the spool is
over its limits the oldest reports are dropped first and the drop is logged: the newest
report describes the host best.

No file can stop the queue: one that cannot be loaded for any reason (bad gzip or
deflate stream, JSON that is not a report object, nesting deep enough to raise
RecursionError, a decompression bomb) is moved to ``corrupt/``, and a report the server
refused for good to ``rejected/``, each with a ``.reason`` file beside it. When even
that move fails (a read-only file system) the file is skipped for the life of the
process.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import time
import zlib
from pathlib import Path
from typing import Any

from cmdb.agent.files import FILE_MODE, disk_problem, private_dir, write_private

log = logging.getLogger("cmdb.agent.spool")

SUFFIX = ".json.gz"
# a spooled report larger than this once decompressed is not one this agent wrote
MAX_DECOMPRESSED = 512 << 20
ASIDE_KEEP = 100  # files kept in each of corrupt/ and rejected/; the oldest go first
STALE_TMP_SECONDS = 3600


class SpoolCorrupt(Exception):
    """A spool file that does not hold a report this agent can send."""


class SpoolUnavailable(OSError):
    """The spool cannot take a new report (disk full, quota, read-only, permission)."""


def decode_report(data: bytes) -> dict[str, Any]:
    """A spool file's bytes -> its report; raises SpoolCorrupt naming what is wrong.

    Any exception is caught here on purpose (zlib.error, EOFError, UnicodeDecodeError,
    RecursionError, MemoryError, ...): the caller must be able to move the file aside
    whatever its bytes are.
    """
    try:
        raw = _gunzip(data)
        report = json.loads(raw)
    except SpoolCorrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - see the docstring
        raise SpoolCorrupt(f"cannot decode: {type(exc).__name__}: {exc}"[:500]) from None
    if not isinstance(report, dict):
        raise SpoolCorrupt(f"holds a JSON {type(report).__name__}, not a report object")
    problems = []
    if not isinstance(report.get("report_id"), str) or not report["report_id"]:
        problems.append("report_id is not a non-empty string")
    if not isinstance(report.get("sections"), dict):
        problems.append("sections is not an object")
    if not isinstance(report.get("notes", []), list):
        problems.append("notes is not a list")
    if not isinstance(report.get("source", "agent"), str):
        problems.append("source is not a string")
    sequence = report.get("sequence")
    if sequence is not None and (type(sequence) is not int or sequence < 0):
        problems.append("sequence is not a non-negative integer")
    if problems:
        raise SpoolCorrupt("not a report: " + "; ".join(problems))
    return report


def _gunzip(data: bytes) -> bytes:
    # incremental so that a bomb is refused after MAX_DECOMPRESSED bytes, not after OOM
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = decompressor.decompress(data, MAX_DECOMPRESSED + 1)
    if len(out) > MAX_DECOMPRESSED or decompressor.unconsumed_tail:
        raise SpoolCorrupt(f"decompresses to more than {MAX_DECOMPRESSED} bytes")
    if not decompressor.eof:
        raise SpoolCorrupt("the gzip stream is truncated")
    if decompressor.unused_data.strip(b"\0"):
        # gzip.compress never writes a second member: trailing bytes are damage
        raise SpoolCorrupt("trailing bytes after the gzip stream")
    return out


class Spool:
    def __init__(self, directory: str | Path, max_files: int = 500, max_bytes: int = 200 << 20):
        self.dir = private_dir(directory)
        self.max_files = max_files
        self.max_bytes = max_bytes
        self._seq = 0
        self._skip: set[str] = set()  # files that could not be moved aside (read-only fs)
        for sub in ("corrupt", "rejected"):
            if (self.dir / sub).exists():
                private_dir(self.dir / sub)
        self._reap_stale_tmp()

    def _entries(self) -> list[Path]:
        return sorted(p for p in self.dir.glob(f"*{SUFFIX}") if p.name not in self._skip)

    def put(self, report: dict[str, Any]) -> Path:
        """Write ``report`` durably; raises SpoolUnavailable when the disk will not take it
        (the caller then sends it without spooling)."""
        self._seq += 1
        name = f"{time.time_ns():020d}-{os.getpid()}-{self._seq:06d}{SUFFIX}"
        final = self.dir / name
        try:
            data = gzip.compress(json.dumps(report, separators=(",", ":")).encode())
            write_private(final, data)
        except OSError as exc:
            raise SpoolUnavailable(
                exc.errno, f"cannot spool the report in {self.dir}: {disk_problem(exc)}"
            ) from exc
        self._enforce_limits()
        return final

    def _enforce_limits(self) -> None:
        entries = self._entries()
        sizes = {}
        for p in entries:
            try:
                sizes[p] = p.stat().st_size
            except OSError:
                sizes[p] = 0
        total = sum(sizes.values())
        while entries and (len(entries) > self.max_files or total > self.max_bytes):
            oldest = entries.pop(0)
            total -= sizes[oldest]
            oldest.unlink(missing_ok=True)
            log.warning("spool full: dropped the oldest report %s", oldest.name)

    def pending(self) -> list[Path]:
        return self._entries()

    def load(self, path: Path) -> dict[str, Any]:
        """The report in ``path``. Raises SpoolCorrupt for a file that cannot be a report
        and FileNotFoundError when another agent process already took it."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise SpoolCorrupt(f"cannot read: {exc}") from None
        return decode_report(data)

    def remove(self, path: Path) -> None:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            log.error("cannot remove the sent report %s (%s); skipping it", path.name, exc)
            self._skip.add(path.name)

    def move_aside(self, path: Path, folder: str, reason: str) -> Path | None:
        """Move ``path`` to ``folder/`` (``corrupt`` or ``rejected``) with a ``.reason``
        file. Never raises: if the move fails the file is skipped from now on."""
        target_dir = self.dir / folder
        try:
            private_dir(target_dir)
            target = target_dir / path.name
            os.replace(path, target)
        except OSError as exc:
            if isinstance(exc, FileNotFoundError) and not path.exists():
                return None  # another agent process took it
            log.error(
                "cannot move %s to %s/ (%s); it is skipped until the agent restarts",
                path.name,
                folder,
                disk_problem(exc),
            )
            self._skip.add(path.name)
            return None
        try:
            write_private(
                target_dir / (path.name.removesuffix(SUFFIX) + ".reason"),
                (reason.rstrip() + "\n").encode(),
                fsync=False,
            )
        except OSError as exc:
            log.warning("cannot write the reason for %s: %s", path.name, disk_problem(exc))
        self._bound(target_dir)
        return target

    def _bound(self, directory: Path) -> None:
        try:
            kept = sorted(directory.glob(f"*{SUFFIX}"))
            for old in kept[: max(0, len(kept) - ASIDE_KEEP)]:
                old.unlink(missing_ok=True)
                (directory / (old.name.removesuffix(SUFFIX) + ".reason")).unlink(missing_ok=True)
        except OSError:
            pass

    def _reap_stale_tmp(self) -> None:
        # a temp file from a crash mid-write; a young one may be another process's write
        now = time.time()
        for tmp in self.dir.glob(".*.tmp"):
            try:
                if now - tmp.stat().st_mtime > STALE_TMP_SECONDS:
                    tmp.unlink()
            except OSError:
                continue

    def __len__(self) -> int:
        return len(self._entries())


__all__ = ["FILE_MODE", "Spool", "SpoolCorrupt", "SpoolUnavailable", "decode_report"]
