"""Software identity: one Software CI per real package build, whoever reports it (pure).

A Software CI is named by (ecosystem, name, version, arch); the vendor is an attribute.
The agent reads the package database (``collectors/host/packages.py``: ``manager`` is
``dpkg`` or ``rpm``, ``version`` as the database writes it, rpm's non-zero epoch prefixed
as ``E:``) and SNMP reads HOST-RESOURCES-MIB ``hrSWInstalledName``, a single string. Both
are turned into the same attributes here, so the two views of one package are one CI.

Ecosystem
    The package-url (purl) type of the package's format: ``deb``, ``rpm``, ``apk``,
    ``alpm`` (pacman), else ``generic``. From the agent's ``manager`` field
    (``MANAGER_ECOSYSTEMS``). From SNMP, from the string's shape (net-snmp's sources:
    ``swinst_apt.c`` writes ``${Package}_${Version}_${Architecture}``, ``swinst_rpm.c``
    writes ``NAME-VERSION-RELEASE``):

    1. exactly three ``_``-separated fields that are a valid Debian package name, version
       and architecture: ``deb``. Debian policy forbids ``_`` in all three, so the split is
       unambiguous. Seen on this project's Debian 12 machine: snmpd's 776 entries equal
       ``dpkg-query -W -f='${Package}_${Version}_${Architecture}'`` line for line, epochs
       included (``bsdutils_1:2.38.1-5+deb12u3_amd64``).
    2. on a Linux host (sysDescr starts with ``Linux``, or unknown), ``N-V-R`` or
       ``N-V-R.ARCH`` (ARCH one of rpm's architectures): ``rpm``. Version and release
       never hold ``-``; the name may (``perl-Pod-Escapes``) and may hold ``_``.
    3. anything else (Windows' uninstall list, appliances): ``generic`` with a trailing
       version (``Mozilla Firefox 118.0.1``); without a version there is no CI.

Version
    As the ecosystem itself writes a package's version, release included
    (``1:9.2p1-2+deb12u3``, ``5.1.8-9.el9``), so that two readers of one database agree:

    * a zero epoch is no epoch (``0:1.2-3`` is ``1.2-3``): dpkg and rpm both treat it so;
    * deb (and alpm) keep a non-zero epoch in the version: dpkg-query and snmpd print it;
    * rpm's version is ``VERSION-RELEASE`` and a non-zero epoch goes to the ``epoch``
      attribute: rpm names a build N-V-R.A (``rpm -q``, file names, net-snmp's
      hrSWInstalledName, which never shows the epoch), and Fedora/RHEL's build system
      (Koji) refuses two builds with one N-V-R, so the epoch adds nothing to identity
      while keeping it there would split every epoch-carrying package (openssl, perl,
      NetworkManager) between the agent's and SNMP's view.

Architecture
    As the ecosystem writes it (deb ``amd64``/``all``, rpm ``x86_64``/``noarch``): amd64 and
    x86_64 are one machine architecture but two package formats, already told apart by the
    ecosystem. Only rpm's ``(none)`` (gpg-pubkey) and empty values mean "no architecture".
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from cmdb.server.reconcile.desired import Desired, DesiredCI, DesiredRel

# the agent's ``manager`` (and common tool names) -> purl type of the package format
MANAGER_ECOSYSTEMS = {
    "dpkg": "deb",
    "apt": "deb",
    "deb": "deb",
    "rpm": "rpm",
    "yum": "rpm",
    "dnf": "rpm",
    "zypper": "rpm",
    "apk": "apk",
    "pacman": "alpm",
    "alpm": "alpm",
}
GENERIC = "generic"

# rpm's architectures (rpmrc arch_canon plus the pseudo-arches), for telling a trailing
# ``.x86_64`` from the last part of a release such as ``9.el9``
RPM_ARCHES = frozenset(
    {
        "noarch",
        "x86_64",
        "x86_64_v2",
        "x86_64_v3",
        "x86_64_v4",
        "amd64",
        "ia32e",
        "i386",
        "i486",
        "i586",
        "i686",
        "athlon",
        "geode",
        "pentium3",
        "pentium4",
        "ia64",
        "aarch64",
        "armv5tel",
        "armv6hl",
        "armv6l",
        "armv7hl",
        "armv7hnl",
        "armv7l",
        "armhfp",
        "ppc",
        "ppc64",
        "ppc64le",
        "ppc64p7",
        "s390",
        "s390x",
        "riscv64",
        "loongarch64",
        "mips",
        "mipsel",
        "mips64",
        "mips64el",
        "sparc",
        "sparcv9",
        "sparc64",
        "alpha",
        "src",
        "nosrc",
    }
)
_NO_ARCH = frozenset({"", "(none)", "none"})

# Debian policy 5.6.1, 5.6.12 and dpkg-architecture: the three fields of ``N_V_A``
_DEB_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
_DEB_VERSION = re.compile(r"^(?:\d+:)?\d[A-Za-z0-9.+~:-]*$")
_DEB_ARCH = re.compile(r"^[a-z0-9][a-z0-9-]*$")
# rpm: version and release hold no ``-``; the name is everything before them
_RPM_NVR = re.compile(r"^(?P<name>\S.*?)-(?P<version>[^-\s]+)-(?P<release>[^-\s]+)$")
_TRAILING_VERSION = re.compile(r"^(?P<name>.+?)[\s_-]+v?(?P<version>\d[\w.+~:-]*)$")
_EPOCH = re.compile(r"^(?P<epoch>\d+):(?P<rest>.+)$")


@dataclass(frozen=True, slots=True)
class PackageView:
    """One package as a source names it, before normalisation."""

    ecosystem: str
    name: str
    version: str | None
    arch: str | None


def ecosystem_of(manager: str | None) -> str:
    """The ecosystem (purl type) of a package manager name; unknown managers keep their
    own lower-cased name, no manager at all is ``generic``."""
    key = (manager or "").strip().lower()
    if not key:
        return GENERIC
    return MANAGER_ECOSYSTEMS.get(key, key)


def split_epoch(version: str) -> tuple[str | None, str]:
    """``"1:2.3-4"`` -> ``("1", "2.3-4")``; no or a zero epoch -> ``(None, version)``."""
    m = _EPOCH.match(version)
    if m is None:
        return None, version
    epoch = str(int(m["epoch"]))  # "01" and "1" are one epoch
    return (None if epoch == "0" else epoch), m["rest"]


def normalise_version(ecosystem: str, version: str) -> tuple[str, str | None]:
    """(version as identity compares it, non-zero epoch or None); see the module doc."""
    text = version.strip()
    if ecosystem == GENERIC:
        return text, None
    epoch, rest = split_epoch(text)
    if ecosystem == "rpm" or epoch is None:
        return rest, epoch
    return f"{epoch}:{rest}", epoch


def normalise_arch(arch: str | None) -> str | None:
    """The architecture as its ecosystem writes it; ``(none)`` and blanks are None."""
    text = (arch or "").strip()
    return None if text.lower() in _NO_ARCH else text


def software_attributes(
    ecosystem_hint: str | None,
    name: str | None,
    version: str | None,
    arch: str | None,
    vendor: str | None = None,
) -> dict[str, Any] | None:
    """See ``_software_attributes``; a fresh dict each call (the computation is cached)."""
    attrs = _software_attributes(ecosystem_hint, name, version, arch, vendor)
    return dict(attrs) if attrs is not None else None


@functools.lru_cache(maxsize=65536)  # a fleet reports the same packages on every host
def _software_attributes(
    ecosystem_hint: str | None,
    name: str | None,
    version: str | None,
    arch: str | None,
    vendor: str | None = None,
) -> dict[str, Any] | None:
    """The attributes of the Software CI of one package, or None when it has no name or
    version (nothing tells such an entry apart). ``ecosystem_hint`` is the agent's
    ``manager`` or an ecosystem already known (``PackageView.ecosystem``).

    Returns ``{"ecosystem", "name", "version", "arch", "epoch", "vendor"}``; ``epoch`` and
    ``vendor`` are None when unknown, which the reconciler leaves unwritten, so a source
    that does not know them (SNMP) does not erase what the agent said.
    """
    clean_name = (name or "").strip()
    clean_version = (version or "").strip()
    if not clean_name or not clean_version:
        return None
    ecosystem = ecosystem_of(ecosystem_hint)
    normal, epoch = normalise_version(ecosystem, clean_version)
    return {
        "ecosystem": ecosystem,
        "name": clean_name,
        "version": normal,
        "arch": normalise_arch(arch),
        "epoch": epoch,
        "vendor": (vendor or "").strip() or None,
    }


def local_ref(attrs: dict[str, Any]) -> str:
    """A report-local reference unique per identity (two rows naming one package share it)."""
    return f"sw:{attrs['ecosystem']}|{attrs['name']}|{attrs['version']}|{attrs['arch'] or ''}"


def add_installed(
    desired: Desired,
    seen: set[str],
    attrs: dict[str, Any],
    owner: str,
    section: str,
    install_date: str | None,
    extra: dict[str, Any] | None = None,
) -> None:
    """The Software CI of ``attrs`` (``software_attributes``; once per report: ``seen``
    holds the refs already added) and ``owner``'s INSTALLED relationship to it, with the
    install date when known. Agent packages and SNMP hrSWInstalledTable rows both come
    here, so one package gets one CI whichever view reported it."""
    ref = local_ref(attrs)
    if ref in seen:
        return
    seen.add(ref)
    desired.cis.append(
        DesiredCI(
            ref=ref,
            cls="Software",
            attributes={**attrs, **extra} if extra else attrs,
            name=attrs["name"],
            section=section,
            scoped=False,
        )
    )
    rel_attrs = {"install_date": install_date} if install_date else {}
    desired.rels.append(DesiredRel("INSTALLED", owner, ref, section, rel_attrs))


def _is_linux(sys_descr: str | None) -> bool:
    return sys_descr is None or sys_descr.lstrip().lower().startswith("linux")


def parse_installed_name(text: str, sys_descr: str | None = None) -> PackageView:
    """An ``hrSWInstalledName`` value -> the package it names (rules in the module doc).
    ``sys_descr`` is the host's sysDescr: rpm's N-V-R shape only counts on Linux."""
    value = text.strip()
    deb = value.split("_")
    if (
        len(deb) == 3
        and _DEB_NAME.match(deb[0])
        and _DEB_VERSION.match(deb[1])
        and _DEB_ARCH.match(deb[2])
    ):
        return PackageView("deb", deb[0], deb[1], deb[2])
    if _is_linux(sys_descr):
        m = _RPM_NVR.match(value)
        if m is not None and m["version"][0].isalnum():
            release, arch = m["release"], None
            head, dot, tail = release.rpartition(".")
            if dot and head and tail in RPM_ARCHES:
                release, arch = head, tail
            return PackageView("rpm", m["name"], f"{m['version']}-{release}", arch)
    m = _TRAILING_VERSION.match(value)
    if m is not None:
        return PackageView(GENERIC, m["name"], m["version"], None)
    return PackageView(GENERIC, value, None, None)
