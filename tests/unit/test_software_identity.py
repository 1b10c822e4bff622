"""Software identity rules (cmdb.server.reconcile.software): one CI per package build, whether
the agent read the package database or SNMP read hrSWInstalledName."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from cmdb.collectors.host.packages import DPKG_INFO, DPKG_STATUS, dpkg_packages, parse_rpm_output
from cmdb.graph.identity import identity_values
from cmdb.graph.schema import CLASSES
from cmdb.server.reconcile import host, snmp
from cmdb.server.reconcile.software import (
    PackageView,
    ecosystem_of,
    local_ref,
    normalise_version,
    parse_installed_name,
    software_attributes,
)
from tests.reports import agent_report

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "snmp"
DEBIAN_DESCR = "Linux vm 6.18.44-fc-v657 #1 SMP PREEMPT_DYNAMIC @0 x86_64"  # this machine's
RHEL_DESCR = "Linux db7 5.14.0-427.13.1.el9_4.x86_64 #1 SMP PREEMPT_DYNAMIC x86_64"
WINDOWS_DESCR = "Hardware: Intel64 Family 6 - Software: Windows Version 6.3 (Build 17763)"


def key(attrs: dict) -> str:
    return identity_values(CLASSES["Software"], attrs)["software_key"]


def agent_key(manager: str, name: str, version: str, arch: str | None, vendor=None) -> str:
    attrs = software_attributes(manager, name, version, arch, vendor)
    assert attrs is not None
    return key(attrs)


def snmp_key(text: str, descr: str | None = DEBIAN_DESCR) -> str:
    view = parse_installed_name(text, descr)
    attrs = software_attributes(view.ecosystem, view.name, view.version, view.arch)
    assert attrs is not None
    return key(attrs)


# --- ecosystems -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("manager", "ecosystem"),
    [("dpkg", "deb"), ("rpm", "rpm"), ("apk", "apk"), ("pacman", "alpm"), ("DPKG", "deb")],
)
def test_manager_names_the_ecosystem(manager, ecosystem):
    assert ecosystem_of(manager) == ecosystem


def test_unknown_manager_keeps_its_name_and_none_is_generic():
    assert ecosystem_of("nix") == "nix"
    assert ecosystem_of(None) == "generic"


def test_vendor_is_an_attribute_not_identity():
    with_origin = agent_key("dpkg", "openssl", "3.0.15-1~deb12u1", "amd64", vendor="Debian")
    without = agent_key("dpkg", "openssl", "3.0.15-1~deb12u1", "amd64")
    assert with_origin == without == "deb|openssl|3.0.15-1~deb12u1|amd64"
    assert software_attributes("dpkg", "openssl", "3", "amd64", "Debian")["vendor"] == "Debian"


def test_same_name_and_version_in_two_ecosystems_are_two_cis():
    # amd64 and x86_64 are one machine architecture, but a .deb and an .rpm are two builds
    deb = agent_key("dpkg", "zlib", "1.2.13-1", "amd64")
    rpm = agent_key("rpm", "zlib", "1.2.13-1", "x86_64")
    assert deb != rpm
    assert deb.startswith("deb|") and rpm.startswith("rpm|")


# --- versions: epochs and releases ------------------------------------------------------


@pytest.mark.parametrize(
    ("ecosystem", "version", "expected"),
    [
        ("deb", "0:1.2-3", ("1.2-3", None)),  # a zero epoch is no epoch
        ("deb", "1.2-3", ("1.2-3", None)),
        ("deb", "1:2.38.1-5+deb12u3", ("1:2.38.1-5+deb12u3", "1")),  # dpkg prints it
        ("deb", "01:2.38.1-5", ("1:2.38.1-5", "1")),
        ("deb", "2.35-0ubuntu3.1", ("2.35-0ubuntu3.1", None)),  # the release stays
        ("deb", "1.2-1ubuntu2", ("1.2-1ubuntu2", None)),
        ("rpm", "0:3.0.7-27.el9", ("3.0.7-27.el9", None)),
        ("rpm", "1:3.0.7-27.el9", ("3.0.7-27.el9", "1")),  # rpm names a build N-V-R.A
        ("rpm", "5.1.8-9.el9", ("5.1.8-9.el9", None)),
        ("alpm", "1:1.2-1", ("1:1.2-1", "1")),
        ("generic", "0:weird", ("0:weird", None)),  # no epoch rules where none are known
    ],
)
def test_version_normalisation(ecosystem, version, expected):
    assert normalise_version(ecosystem, version) == expected


def test_different_releases_are_different_cis():
    assert agent_key("dpkg", "libc6", "2.36-9+deb12u13", "amd64") != agent_key(
        "dpkg", "libc6", "2.36-9+deb12u14", "amd64"
    )


def test_zero_epoch_and_no_epoch_are_one_ci():
    assert agent_key("dpkg", "tar", "0:1.34-1", "amd64") == agent_key(
        "dpkg", "tar", "1.34-1", "amd64"
    )


def test_a_package_without_name_or_version_is_no_ci():
    assert software_attributes("dpkg", "bash", None, "amd64") is None
    assert software_attributes("dpkg", "bash", "  ", "amd64") is None
    assert software_attributes("dpkg", "", "1.0", "amd64") is None


def test_arch_is_kept_as_the_ecosystem_writes_it():
    assert software_attributes("dpkg", "tzdata", "2024a-0+deb12u1", "all")["arch"] == "all"
    assert software_attributes("rpm", "tzdata", "2024a-1.el9", "noarch")["arch"] == "noarch"
    assert software_attributes("rpm", "gpg-pubkey", "fd431d51-4ae0493b", "(none)")["arch"] is None


# --- hrSWInstalledName ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "descr", "expected"),
    [
        # seen from Debian 12's snmpd on this project's machine (net-snmp swinst_apt)
        ("adduser_3.134_all", DEBIAN_DESCR, PackageView("deb", "adduser", "3.134", "all")),
        (
            "bsdutils_1:2.38.1-5+deb12u3_amd64",
            DEBIAN_DESCR,
            PackageView("deb", "bsdutils", "1:2.38.1-5+deb12u3", "amd64"),
        ),
        ("g++_4:12.2.0-3_amd64", DEBIAN_DESCR, PackageView("deb", "g++", "4:12.2.0-3", "amd64")),
        (
            "binutils-x86-64-linux-gnu_2.40-2_amd64",
            DEBIAN_DESCR,
            PackageView("deb", "binutils-x86-64-linux-gnu", "2.40-2", "amd64"),
        ),
        (
            "ca-certificates-java_20230710~deb12u1_all",
            DEBIAN_DESCR,
            PackageView("deb", "ca-certificates-java", "20230710~deb12u1", "all"),
        ),
        (
            "python3.11_3.11.2-6+deb12u6_amd64",
            DEBIAN_DESCR,
            PackageView("deb", "python3.11", "3.11.2-6+deb12u6", "amd64"),
        ),
        # rpm N-V-R.A (and net-snmp swinst_rpm's plain N-V-R, which has no arch)
        (
            "bash-5.1.8-9.el9.x86_64",
            RHEL_DESCR,
            PackageView("rpm", "bash", "5.1.8-9.el9", "x86_64"),
        ),
        ("bash-5.1.8-9.el9", RHEL_DESCR, PackageView("rpm", "bash", "5.1.8-9.el9", None)),
        (
            "perl-Pod-Escapes-1.04-141.el6_7.1.noarch",  # '-' in the name, '_' in the release
            RHEL_DESCR,
            PackageView("rpm", "perl-Pod-Escapes", "1.04-141.el6_7.1", "noarch"),
        ),
        (
            "python3-setuptools_scm-6.4.2-5.el9.noarch",  # '_' in the name
            RHEL_DESCR,
            PackageView("rpm", "python3-setuptools_scm", "6.4.2-5.el9", "noarch"),
        ),
        (
            "python-setuptools_scm-1.15.0-5.el7_6.noarch",  # two '_': still not a deb
            RHEL_DESCR,
            PackageView("rpm", "python-setuptools_scm", "1.15.0-5.el7_6", "noarch"),
        ),
        (
            "gpg-pubkey-fd431d51-4ae0493b",
            RHEL_DESCR,
            PackageView("rpm", "gpg-pubkey", "fd431d51-4ae0493b", None),
        ),
        # neither: the OS's own list, with a trailing version or none
        (
            "Mozilla Firefox 118.0.1",
            WINDOWS_DESCR,
            PackageView("generic", "Mozilla Firefox", "118.0.1", None),
        ),
        (
            "Microsoft-Edge-Update-1.3-195",
            WINDOWS_DESCR,  # the N-V-R shape only counts on Linux
            PackageView("generic", "Microsoft-Edge-Update", "1.3-195", None),
        ),
        ("Some Tool", WINDOWS_DESCR, PackageView("generic", "Some Tool", None, None)),
    ],
)
def test_installed_name_forms(text, descr, expected):
    assert parse_installed_name(text, descr) == expected


def test_every_entry_of_the_recorded_snmpd_is_a_deb():
    report = json.loads((FIXTURES / "netsnmp-linux.json").read_text())
    descr = report["sections"]["system"]["descr"]
    views = [parse_installed_name(row["name"], descr) for row in report["sections"]["software"]]
    assert views and all(v.ecosystem == "deb" and v.version and v.arch for v in views)


# --- the two views of one package agree -------------------------------------------------


@pytest.mark.parametrize(
    ("package", "installed_name"),
    [
        # dpkg status fields (as collectors/host/packages.py emits them) and snmpd's string,
        # both read from this project's Debian 12 machine
        (
            ("bsdutils", "1:2.38.1-5+deb12u3", "amd64", "Debian"),
            "bsdutils_1:2.38.1-5+deb12u3_amd64",
        ),
        (("adduser", "3.134", "all", None), "adduser_3.134_all"),
        (("libc6", "2.36-9+deb12u14", "amd64", None), "libc6_2.36-9+deb12u14_amd64"),
    ],
)
def test_dpkg_and_snmpd_views_have_one_identity(package, installed_name):
    name, version, arch, vendor = package
    assert agent_key("dpkg", name, version, arch, vendor) == snmp_key(installed_name)


@pytest.mark.parametrize(
    ("rpm_line", "installed_name"),
    [
        # the agent's ``rpm -qa --queryformat`` line (tab separated) and hrSWInstalledName
        ("bash\t(none)\t5.1.8-9.el9\tx86_64\tRed Hat, Inc.\t1700000000", "bash-5.1.8-9.el9.x86_64"),
        (
            "openssl\t1\t3.0.7-27.el9\tx86_64\tRed Hat, Inc.\t1700000000",
            "openssl-3.0.7-27.el9.x86_64",  # rpm N-V-R.A never shows the epoch
        ),
        ("tzdata\t0\t2024a-1.el9\tnoarch\tRed Hat, Inc.\t1700000000", "tzdata-2024a-1.el9.noarch"),
        (
            "gpg-pubkey\t(none)\tfd431d51-4ae0493b\t(none)\t\t1700000000",
            "gpg-pubkey-fd431d51-4ae0493b",
        ),
    ],
)
def test_rpm_and_snmp_views_have_one_identity(rpm_line, installed_name):
    (pkg,) = parse_rpm_output(rpm_line)
    agent = agent_key(pkg.manager, pkg.name, pkg.version, pkg.architecture, pkg.vendor)
    assert agent == snmp_key(installed_name, RHEL_DESCR)


def test_rpm_epoch_is_kept_as_an_attribute():
    (pkg,) = parse_rpm_output("openssl\t1\t3.0.7-27.el9\tx86_64\tRed Hat, Inc.\t1700000000")
    attrs = software_attributes(pkg.manager, pkg.name, pkg.version, pkg.architecture)
    assert (attrs["version"], attrs["epoch"]) == ("3.0.7-27.el9", "1")


@pytest.mark.skipif(
    shutil.which("dpkg-query") is None or not Path(DPKG_STATUS).exists(), reason="no dpkg here"
)
def test_this_machines_dpkg_database_and_snmpd_format_agree():
    """Every installed package of this machine, as the agent's collector reads it, has the
    identity of the string net-snmp's swinst_apt builds from ``dpkg-query``."""
    shown = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package}_${Version}_${Architecture}\\n"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    snmp_keys = {snmp_key(line) for line in shown}
    agent_keys = {
        agent_key(p.manager, p.name, p.version, p.architecture, p.vendor)
        for p in dpkg_packages(DPKG_STATUS, DPKG_INFO)
    }
    assert agent_keys and agent_keys <= snmp_keys


# --- the transforms ---------------------------------------------------------------------


def software_of(desired) -> dict[str, dict]:
    return {c.ref: c.attributes for c in desired.cis if c.cls == "Software"}


def test_agent_and_snmp_transforms_give_one_identity_and_unique_refs():
    packages = [
        {"name": "bsdutils", "version": "1:2.38.1-5+deb12u3", "architecture": "amd64",
         "manager": "dpkg", "vendor": "Debian"},
        {"name": "libc6", "version": "2.36-9+deb12u14", "architecture": "amd64",
         "manager": "dpkg"},
        {"name": "libc6", "version": "2.36-9+deb12u14", "architecture": "i386",
         "manager": "dpkg"},  # multiarch: a second build, a second CI
        {"name": "tar", "version": "0:1.34-1", "architecture": "amd64", "manager": "dpkg"},
        {"name": "tar", "version": "1.34-1", "architecture": "amd64", "manager": "dpkg"},
    ]  # fmt: skip
    agent = software_of(host.transform(agent_report(packages=packages)).expand())
    assert len(agent) == 4  # the two spellings of tar's version are one package

    report = json.loads((FIXTURES / "netsnmp-linux.json").read_text())
    report["sections"]["software"] = [
        {"index": i, "name": text, "type": "application", "installed": None}
        for i, text in enumerate(
            [
                "bsdutils_1:2.38.1-5+deb12u3_amd64",
                "libc6_2.36-9+deb12u14_amd64",
                "libc6_2.36-9+deb12u14_i386",
                "tar_1.34-1_amd64",
                "tar_1.34-1_amd64",
            ],
            start=1,
        )
    ]
    scanned = software_of(snmp.transform(report))
    assert len(scanned) == 4
    assert {key(a) for a in agent.values()} == {key(a) for a in scanned.values()}
    assert set(agent) == set(scanned) == {local_ref(a) for a in agent.values()}
    bsdutils = agent[
        local_ref(software_attributes("dpkg", "bsdutils", "1:2.38.1-5+deb12u3", "amd64"))
    ]
    assert (bsdutils["ecosystem"], bsdutils["vendor"], bsdutils["manager"]) == (
        "deb",
        "Debian",
        "dpkg",
    )
