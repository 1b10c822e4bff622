"""Running processes: pid, name, executable, user, command line.

Attributes the agent may not read (another user's exe without root) are None.
"""

from __future__ import annotations

import pwd

import psutil

from collectors.model import Process

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
        cmdline = " ".join(info.get("cmdline") or ())[:CMDLINE_MAX]
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
