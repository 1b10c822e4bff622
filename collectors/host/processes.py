"""Running processes: pid, name, executable, user, command line.

Attributes the agent may not read (another user's exe without root) are None. Command
lines are redacted (``cmdb.collectors.host.redact``) before they are cut to CMDLINE_MAX, so
no token or password given on a command line leaves the host, and a cut never leaves
half a secret behind.
"""

from __future__ import annotations

import pwd

import psutil

from cmdb.collectors.host.redact import redact_cmdline
from cmdb.collectors.model import Process

_ATTRS = ["pid", "name", "exe", "uids", "cmdline"]
CMDLINE_MAX = 4096


def _user(uid: int | None, cache: dict[int, str | None]) -> str | None:
    if uid is None:
        return None
    if uid not in cache:
        try:
            cache[uid] = pwd.getpwuid(uid).pw_name
        except KeyError:
            cache[uid] = str(uid)
    return cache[uid]


def collect() -> list[Process]:
    users: dict[int, str | None] = {}
    result = []
    for proc in psutil.process_iter(_ATTRS, ad_value=None):
        info = proc.info
        uids = info.get("uids")
        argv = info.get("cmdline") or ()
        cmdline = redact_cmdline(list(argv))[:CMDLINE_MAX] if argv else ""
        result.append(
            Process(
                pid=info["pid"],
                name=info.get("name") or None,
                exe=info.get("exe") or None,
                user=_user(uids.real if uids else None, users),
                cmdline=cmdline or None,
            )
        )
    return result
