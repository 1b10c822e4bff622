"""Installed packages: the dpkg database read directly, and rpm when present.

dpkg rule: a package is installed when the third word of its ``Status`` field
(the package state) is ``installed``, whatever the selection (``install``,
``hold``, ``deinstall``) and provided the error flag is ``ok``. This is the
count of ``dpkg-query -W -f='${db:Status-Status}\\n'`` lines equal to
``installed``; it equals ``grep -c 'install ok installed'`` of ``${Status}``
plus held packages (``hold ok installed``, which that grep misses; ``deinstall
ok installed`` it matches as a substring). Plain ``dpkg-query -W`` lists more:
it also shows packages left in ``config-files``, ``half-installed``,
``unpacked`` and ``half-configured`` states, which are not installed software.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from cmdb.collectors.host._common import SectionUnavailable, iso_utc
from cmdb.collectors.model import Package

DPKG_STATUS = "/var/lib/dpkg/status"
DPKG_INFO = "/var/lib/dpkg/info"
RPM_DB_DIRS = ("/var/lib/rpm", "/usr/lib/sysimage/rpm")
RPM_TIMEOUT_S = 60
_RPM_FORMAT = (
    "%{NAME}\\t%{EPOCHNUM}\\t%{VERSION}-%{RELEASE}\\t%{ARCH}\\t%{VENDOR}\\t%{INSTALLTIME}\\n"
)
_WANTED = ("Package", "Status", "Version", "Architecture", "Origin")


def parse_dpkg_status(text: str) -> list[dict[str, str]]:
    """Installed package stanzas of a dpkg status file, as {field: value} (fields we use)."""
    installed = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.split("\n"):
            if not line or line[0] in " \t":
                continue
            key, sep, value = line.partition(":")
            if sep and key in _WANTED:
                fields[key] = value.strip()
        status = fields.get("Status", "").split()
        is_installed = len(status) == 3 and status[1] == "ok" and status[2] == "installed"
        if is_installed and fields.get("Package") and fields.get("Version"):
            installed.append(fields)
    return installed


def dpkg_packages(status_path: str, info_dir: str) -> list[Package]:
    try:
        with open(status_path, encoding="utf-8", errors="replace") as f:
            stanzas = parse_dpkg_status(f.read())
    except OSError as exc:
        raise SectionUnavailable(f"cannot read {status_path}: {exc.strerror}") from exc
    try:
        lists = {n for n in os.listdir(info_dir) if n.endswith(".list")}
    except OSError:
        lists = set()
    result = []
    for fields in stanzas:
        name, arch = fields["Package"], fields.get("Architecture") or None
        install_date = None
        for candidate in (f"{name}:{arch}.list", f"{name}.list"):
            if candidate in lists:
                try:
                    install_date = iso_utc(os.stat(os.path.join(info_dir, candidate)).st_mtime)
                except OSError:
                    pass
                break
        result.append(
            Package(
                name=name,
                version=fields["Version"],
                architecture=arch,
                manager="dpkg",
                vendor=fields.get("Origin") or None,
                install_date=install_date,
            )
        )
    return result


def parse_rpm_output(text: str) -> list[Package]:
    """Lines of ``rpm -qa --queryformat _RPM_FORMAT``."""
    result = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 6 or not parts[0]:
            continue
        name, epoch, version, arch, vendor, installed = (
            None if p in ("(none)", "") else p for p in parts
        )
        if epoch and epoch != "0":
            version = f"{epoch}:{version}"
        result.append(
            Package(
                name=name,
                version=version or "unknown",
                architecture=arch,
                manager="rpm",
                vendor=vendor,
                install_date=iso_utc(int(installed)) if installed and installed.isdigit() else None,
            )
        )
    return result


def rpm_packages(rpm: str) -> list[Package]:
    try:
        out = subprocess.run(
            [rpm, "-qa", "--queryformat", _RPM_FORMAT],
            capture_output=True,
            text=True,
            timeout=RPM_TIMEOUT_S,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise SectionUnavailable(f"rpm -qa failed: {exc}") from exc
    return parse_rpm_output(out)


def collect() -> list[Package]:
    have_dpkg = os.path.exists(DPKG_STATUS)
    rpm = shutil.which("rpm")
    have_rpm = rpm is not None and any(os.path.isdir(d) for d in RPM_DB_DIRS)
    if not have_dpkg and not have_rpm:
        raise SectionUnavailable(f"no package database found ({DPKG_STATUS}, rpm)")
    result: list[Package] = []
    if have_dpkg:
        result.extend(dpkg_packages(DPKG_STATUS, DPKG_INFO))
    if have_rpm:
        result.extend(rpm_packages(rpm))
    return result
