"""Running processes: pid, name, executable, user, command line.

Attributes the agent may not read (another user's exe without root) are None. Command
lines are redacted (``cmdb.collectors.host.redact``) before they are cut to CMDLINE_MAX, so
no token or password given on a command line leaves the host, and a cut never leaves
half a secret behind.

Read from /proc directly, by psutil's rules for these four attributes (what
``psutil.process_iter(["pid", "name", "exe", "uids", "cmdline"], ad_value=None)`` gives,
in psutil 5.9 as in 7.x): the same values, without its per-process objects, caches and
exception wrappers, which were most of this section's cost.
"""

from __future__ import annotations

import os
import pwd
import re
import sys

from cmdb.collectors.host.redact import redact_cmdline
from cmdb.collectors.model import Process

PROC = "/proc"
CMDLINE_MAX = 4096
# what psutil decodes /proc text with: the file system encoding, undecodable bytes kept
_ENCODING = sys.getfilesystemencoding()
_ERRORS = sys.getfilesystemencodeerrors()
_UID = re.compile(rb"Uid:\t(\d+)\t(\d+)\t(\d+)")
_NAME_MAX = 15  # the kernel's comm is cut to 15 characters


class _Gone(Exception):
    """The process exited while it was read: psutil leaves it out of the list."""


def _user(uid: int | None, cache: dict[int, str | None]) -> str | None:
    if uid is None:
        return None
    if uid not in cache:
        try:
            cache[uid] = pwd.getpwuid(uid).pw_name
        except KeyError:
            cache[uid] = str(uid)
    return cache[uid]


def _missing(base: str) -> _Gone | None:
    """psutil's reading of ENOENT on a file of /proc/PID: the process is gone (a _Gone to
    raise) when /proc/PID is, else None (the file alone is missing)."""
    return None if os.path.exists(base) else _Gone()


def _read(base: str, name: str, binary: bool) -> bytes | str | None:
    """/proc/PID/NAME whole (bytes, or text in the file system encoding as psutil reads
    it); None when the file may not be read; ``_Gone`` when the process has ended."""
    try:
        if binary:
            with open(f"{base}/{name}", "rb") as f:
                return f.read()
        with open(f"{base}/{name}", encoding=_ENCODING, errors=_ERRORS) as f:
            return f.read()
    except PermissionError:
        return None
    except ProcessLookupError:
        raise _Gone() from None
    except FileNotFoundError:
        gone = _missing(base)
        if gone:
            raise gone from None
        raise


def _stat_name(base: str) -> str | None:
    """The name in /proc/PID/stat (between the first "(" and the last ")"); None when
    the file may not be read."""
    data = _read(base, "stat", binary=True)
    if data is None:
        return None
    return data[data.find(b"(") + 1 : data.rfind(b")")].decode(_ENCODING, _ERRORS)


def _cmdline(base: str) -> list[str] | None:
    """argv from /proc/PID/cmdline as psutil splits it (NUL-separated, or spaces for a
    process that rewrote its title); [] for kernel threads and zombies; None when the
    file may not be read."""
    # text mode and the file system encoding, as psutil reads it (newlines and all)
    data = _read(base, "cmdline", binary=False)
    if data is None:
        return None
    if not data:
        return []
    sep = "\x00" if data.endswith("\x00") else " "
    if data.endswith(sep):
        data = data[:-1]
    argv = data.split(sep)
    if sep == "\x00" and len(argv) == 1 and " " in data:
        argv = data.split(" ")
    return argv


def _real_uid(base: str) -> int | None:
    data = _read(base, "status", binary=True)
    if data is None:
        return None
    return int(_UID.findall(data)[0][0])


def _guess_exe(argv: list[str] | None) -> str | None:
    """psutil's fallback for an exe it cannot read: argv[0] when it is an absolute path
    to an executable file."""
    if argv:
        exe = argv[0]
        if os.path.isabs(exe) and os.path.isfile(exe) and os.access(exe, os.X_OK):
            return exe
    return None


def _exe(base: str, argv: list[str] | None) -> str | None:
    """The executable's path as psutil gives it; None when unknown."""
    try:
        path = os.readlink(f"{base}/exe").split("\x00")[0]
        if path.endswith(" (deleted)") and not _exists_strict(path):
            path = path[:-10]
    except PermissionError:
        return _guess_exe(argv)  # another user's process, without root
    except (FileNotFoundError, ProcessLookupError):
        if not os.path.lexists(base):
            raise _Gone() from None
        return _guess_exe(argv)  # kernel threads and zombies have none
    return path or _guess_exe(argv)


def _exists_strict(path: str) -> bool:
    """Whether ``path`` exists; PermissionError when that may not be known."""
    try:
        os.stat(path)
    except PermissionError:
        raise
    except OSError:
        return False
    return True


def read_process(
    pid: int, proc: str = PROC
) -> tuple[str | None, str | None, int | None, list[str] | None] | None:
    """(name, exe, real uid, argv) of one process, each None when it may not be read;
    None for a process that exited while it was read (psutil leaves those out too)."""
    base = f"{proc}/{pid}"
    try:
        name = _stat_name(base)
        argv = _cmdline(base)
        if name is not None and len(name) >= _NAME_MAX and argv:
            # the kernel cuts names to 15 characters: argv[0]'s file name when it goes on
            extended = os.path.basename(argv[0])
            if extended.startswith(name):
                name = extended
        return name, _exe(base, argv), _real_uid(base), argv
    except _Gone:
        return None


def collect(proc: str = PROC) -> list[Process]:
    users: dict[int, str | None] = {}
    result = []
    for pid in sorted(int(n) for n in os.listdir(proc) if n.isdigit()):
        info = read_process(pid, proc)
        if info is None:
            continue
        name, exe, uid, argv = info
        cmdline = redact_cmdline(argv)[:CMDLINE_MAX] if argv else ""
        result.append(
            Process(
                pid=pid,
                name=name or None,
                exe=exe or None,
                user=_user(uid, users),
                cmdline=cmdline or None,
            )
        )
    return result
