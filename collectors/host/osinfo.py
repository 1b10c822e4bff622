"""Operating system: /etc/os-release, kernel and architecture (uname), boot time."""

from __future__ import annotations

import os
import shlex

import psutil

from cmdb.collectors.host._common import SectionUnavailable, iso_utc
from cmdb.collectors.model import OSInfo

OS_RELEASE_PATHS = ("/etc/os-release", "/usr/lib/os-release")


def parse_os_release(text: str) -> dict[str, str]:
    """os-release(5) lines ``KEY=value`` with shell quoting; comments and junk ignored."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            parts = shlex.split(raw)
        except ValueError:
            parts = [raw.strip("\"'")]
        values[key.strip()] = " ".join(parts)
    return values


def read_os_release(paths: tuple[str, ...] = OS_RELEASE_PATHS) -> dict[str, str]:
    errors = []
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return parse_os_release(f.read())
        except OSError as exc:
            errors.append(f"{path}: {exc.strerror}")
    raise SectionUnavailable("no os-release file readable (" + "; ".join(errors) + ")")


def collect() -> OSInfo:
    release = read_os_release(OS_RELEASE_PATHS)
    uname = os.uname()
    try:
        boot_time = iso_utc(psutil.boot_time())
    except (OSError, RuntimeError):
        boot_time = None
    return OSInfo(
        name=release.get("NAME") or None,
        version=release.get("VERSION_ID") or release.get("VERSION") or None,
        id=release.get("ID") or None,
        kernel=uname.release or None,
        architecture=uname.machine or None,
        boot_time=boot_time,
    )
