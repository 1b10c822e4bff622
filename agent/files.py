"""Private files for the agent: directories 0700, files 0600, and what a full disk means.

Reports hold a host's whole inventory and the state files name what the server holds;
neither may be readable by other users of the host. Modes are set explicitly (not left
to the umask) and corrected on start, because a spool made by an older agent was 0644.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("cmdb.agent.files")

DIR_MODE = 0o700
FILE_MODE = 0o600

# the disk (or quota, or a read-only remount) will not take a write: not the report's fault
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})


def disk_problem(exc: OSError) -> str:
    """A short sentence naming why a write failed, for the log."""
    reasons = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is exhausted",
        errno.EROFS: "the file system is read-only",
        errno.EFBIG: "the file size limit was reached",
        errno.EACCES: "permission denied",
    }
    return reasons.get(exc.errno or 0, exc.strerror or str(exc))


def private_dir(path: str | Path) -> Path:
    """Create ``path`` (0700) if needed and correct the mode of an existing one and of
    the files directly in it (0600). Failing to create or correct is logged, not raised:
    an agent on a read-only disk still sends what it collects."""
    directory = Path(path)
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    except OSError as exc:
        # a read-only or full disk: the writes that follow fail and say so where it matters
        log.warning("cannot create %s: %s", directory, disk_problem(exc))
        return directory
    _tighten(directory, DIR_MODE)
    try:
        entries = list(os.scandir(directory))
    except OSError as exc:
        log.warning("cannot list %s to correct its modes: %s", directory, exc)
        return directory
    for entry in entries:
        try:
            if entry.is_file(follow_symlinks=False):
                _tighten(Path(entry.path), FILE_MODE)
        except OSError:
            continue
    return directory


def _tighten(path: Path, mode: int) -> None:
    try:
        current = stat.S_IMODE(path.stat().st_mode)
        if current & ~mode:
            os.chmod(path, mode)
            log.warning("corrected the mode of %s from %o to %o", path, current, mode)
    except OSError as exc:
        log.warning("cannot correct the mode of %s: %s", path, exc)


def write_private(path: Path, data: bytes, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename), mode 0600.

    Raises OSError (the temp file is removed) when the disk does not take it.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)  # O_CREAT's mode does not apply to an existing file
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise
    if fsync:
        sync_dir(path.parent)


def sync_dir(directory: Path) -> None:
    """fsync a directory so that a rename in it survives a power cut (best effort)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
