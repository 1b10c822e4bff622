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
import re
import shutil
import subprocess

from cmdb.collectors.host._common import SectionUnavailable, iso_utc
from cmdb.collectors.model import Package

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Any

DPKG_STATUS = "/var/lib/dpkg/status"
DPKG_INFO = "/var/lib/dpkg/info"
RPM_DB_DIRS = ("/var/lib/rpm", "/usr/lib/sysimage/rpm")
RPM_TIMEOUT_S = 60
_RPM_FORMAT = (
    "%{NAME}\\t%{EPOCHNUM}\\t%{VERSION}-%{RELEASE}\\t%{ARCH}\\t%{VENDOR}\\t%{INSTALLTIME}\\n"
)
_WANTED = ("Package", "Status", "Version", "Architecture", "Origin")
# At a newline: a stanza break (the next line is blank), or a field line we use. Per line
# this picks out what ``line.partition(":")`` with the key in _WANTED would; matching it
# in C from newline to newline, and looking at nothing else, is what makes the status
# file (often 1-3 MB, mostly descriptions) cheap to read.
_BREAK_OR_FIELD = re.compile(r"\n(?:(?=\n)|(Package|Status|Version|Architecture|Origin):([^\n]*))")
_CHUNK_CHARS = 1 << 16


def _installed(fields: dict[str, str]) -> bool:
    status = fields.get("Status", "").split()
    is_installed = len(status) == 3 and status[1] == "ok" and status[2] == "installed"
    return is_installed and bool(fields.get("Package")) and bool(fields.get("Version"))


def _stanzas(chunks: Iterable[str]) -> Iterator[dict[str, str]]:
    """Installed package stanzas from the status file's text given in pieces of any size.

    Stanzas are separated by blank lines; within one, a line that starts with a space or
    tab continues a field. Of each stanza only the fields we use are kept, the last of a
    repeated one winning. Only the unfinished line at the end of a piece is carried over,
    so the file is never held whole (wide characters in a description make a Python
    string of it up to 4 bytes a character)."""
    fields: dict[str, str] = {}
    rest = "\n"  # every line is matched from the newline before it: give the first one
    for chunk in chunks:
        text = rest + chunk
        # up to the last newline, lines are whole; that newline starts the next piece
        cut = text.rfind("\n")
        for m in _BREAK_OR_FIELD.finditer(text, 0, cut + 1):
            key = m.group(1)
            if key is None:
                if _installed(fields):
                    yield fields
                fields = {}
            else:
                fields[key] = m.group(2).strip()
        rest = text[cut:]
    for m in _BREAK_OR_FIELD.finditer(rest):
        key = m.group(1)
        if key is None:
            if _installed(fields):
                yield fields
            fields = {}
        else:
            fields[key] = m.group(2).strip()
    if _installed(fields):
        yield fields


def parse_dpkg_status(text: str) -> list[dict[str, str]]:
    """Installed package stanzas of a dpkg status file, as {field: value} (fields we use)."""
    return list(_stanzas((text,)))


def _read_chunks(f: Any) -> Iterator[str]:
    while chunk := f.read(_CHUNK_CHARS):
        yield chunk


def dpkg_packages(status_path: str, info_dir: str) -> list[Package]:
    try:
        f = open(status_path, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise SectionUnavailable(f"cannot read {status_path}: {exc.strerror}") from exc
    try:
        lists = {n for n in os.listdir(info_dir) if n.endswith(".list")}
    except OSError:
        lists = set()
    result = []
    dates: dict[int, str] = {}  # an install writes many packages within the same second
    with f:
        try:
            for fields in _stanzas(_read_chunks(f)):
                name, arch = fields["Package"], fields.get("Architecture") or None
                install_date = None
                for candidate in (f"{name}:{arch}.list", f"{name}.list"):
                    if candidate in lists:
                        try:
                            mtime = int(os.stat(os.path.join(info_dir, candidate)).st_mtime)
                        except OSError:
                            pass
                        else:
                            install_date = dates.get(mtime)
                            if install_date is None:
                                install_date = dates[mtime] = iso_utc(mtime)
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
        except OSError as exc:
            raise SectionUnavailable(f"cannot read {status_path}: {exc.strerror}") from exc
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
