"""System identity: hostname, FQDN, machine-id, DMI (SMBIOS) fields, virtualization.

The FQDN is derived without DNS (a slow or unreachable resolver must not stall
the agent): the hostname if it already has a dot, else the first dotted alias
of the hostname in /etc/hosts, else None.
"""

from __future__ import annotations

import os
import socket

from cmdb.collectors.host._common import WithNotes, read_text
from cmdb.collectors.model import SystemInfo

DMI_DIR = "/sys/class/dmi/id"
MACHINE_ID_PATHS = ("/etc/machine-id", "/var/lib/dbus/machine-id")
HOSTS_PATH = "/etc/hosts"
PROC_ROOT = "/proc"
ROOT = "/"

# DMI file -> SystemInfo field
_DMI_FIELDS = {
    "product_uuid": "system_uuid",
    "sys_vendor": "manufacturer",
    "product_name": "product",
    "product_serial": "serial",
    "chassis_type": "chassis_type",
    "bios_vendor": "bios_vendor",
    "bios_version": "bios_version",
    "bios_date": "bios_date",
}

# SMBIOS chassis type codes (DMTF DSP0134, table 17)
_CHASSIS = {
    "1": "Other",
    "2": "Unknown",
    "3": "Desktop",
    "4": "Low Profile Desktop",
    "5": "Pizza Box",
    "6": "Mini Tower",
    "7": "Tower",
    "8": "Portable",
    "9": "Laptop",
    "10": "Notebook",
    "11": "Hand Held",
    "12": "Docking Station",
    "13": "All in One",
    "14": "Sub Notebook",
    "15": "Space-saving",
    "16": "Lunch Box",
    "17": "Main Server Chassis",
    "18": "Expansion Chassis",
    "19": "SubChassis",
    "20": "Bus Expansion Chassis",
    "21": "Peripheral Chassis",
    "22": "RAID Chassis",
    "23": "Rack Mount Chassis",
    "24": "Sealed-case PC",
    "25": "Multi-system chassis",
    "26": "Compact PCI",
    "27": "Advanced TCA",
    "28": "Blade",
    "29": "Blade Enclosure",
    "30": "Tablet",
    "31": "Convertible",
    "32": "Detachable",
    "33": "IoT Gateway",
    "34": "Embedded PC",
    "35": "Mini PC",
    "36": "Stick PC",
}

# substrings of DMI vendor/product -> hypervisor name (systemd-detect-virt's vocabulary)
_DMI_HYPERVISORS = (
    ("KVM", "kvm"),
    ("QEMU", "qemu"),
    ("VMware", "vmware"),
    ("VirtualBox", "oracle"),
    ("innotek", "oracle"),
    ("Xen", "xen"),
    ("Bochs", "bochs"),
    ("Parallels", "parallels"),
    ("BHYVE", "bhyve"),
    ("Amazon EC2", "amazon"),
    ("Google Compute Engine", "google"),
    ("Firecracker", "firecracker"),
)

_CGROUP_CONTAINERS = (
    ("kubepods", "kubernetes"),
    ("docker", "docker"),
    ("libpod", "podman"),
    ("containerd", "containerd"),
    ("lxc", "lxc"),
)


def fqdn_from_hosts(hostname: str | None, hosts_text: str | None) -> str | None:
    """The host's FQDN from /etc/hosts text, without any DNS query.

    Like ``socket.getfqdn``: the first hosts line naming the host, and on it the
    first name with a dot. Unlike it, an unknown FQDN is None, not the short name.
    """
    if not hostname:
        return None
    if "." in hostname:
        return hostname
    wanted = hostname.lower()
    for line in (hosts_text or "").splitlines():
        names = line.split("#", 1)[0].split()[1:]
        if wanted in (n.lower() for n in names):
            return next((n for n in names if "." in n), None)
    return None


def chassis_name(code: str | None) -> str | None:
    if code is None:
        return None
    return _CHASSIS.get(code.strip(), code.strip())


def detect_virtualization(
    root: str = ROOT,
    proc: str = PROC_ROOT,
    dmi: dict[str, str | None] | None = None,
) -> str | None:
    """A container or hypervisor name, container first; None on bare metal or unknown."""
    if os.path.exists(os.path.join(root, ".dockerenv")):
        return "docker"
    if os.path.exists(os.path.join(root, "run/.containerenv")):
        return "podman"
    environ = read_text(os.path.join(proc, "1/environ"))  # root only
    if environ:
        for item in environ.split("\0"):
            if item.startswith("container="):
                return item.split("=", 1)[1] or None
    cgroup = read_text(os.path.join(proc, "1/cgroup")) or ""
    for needle, name in _CGROUP_CONTAINERS:
        if needle in cgroup:
            return name
    if os.path.exists(os.path.join(proc, "vz")) and not os.path.exists(os.path.join(proc, "bc")):
        return "openvz"
    osrelease = read_text(os.path.join(proc, "sys/kernel/osrelease")) or ""
    if "microsoft" in osrelease.lower():
        return "wsl"
    dmi = dmi or {}
    haystack = " ".join(v for v in (dmi.get("sys_vendor"), dmi.get("product_name")) if v)
    haystack += " " + (dmi.get("bios_vendor") or "")
    if "Microsoft Corporation" in haystack and "Virtual" in haystack:
        return "microsoft"
    for needle, name in _DMI_HYPERVISORS:
        if needle in haystack:
            return name
    hypervisor = read_text(os.path.join(root, "sys/hypervisor/type"))
    if hypervisor:
        return hypervisor
    cpuinfo = read_text(os.path.join(proc, "cpuinfo")) or ""
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return "vm" if " hypervisor" in line else None
    return None


def read_dmi(dmi_dir: str) -> tuple[dict[str, str | None], list[str]]:
    """DMI attribute values (None when unknown) and remarks about unreadable ones."""
    values: dict[str, str | None] = {}
    notes: list[str] = []
    if not os.path.isdir(dmi_dir):
        return dict.fromkeys(_DMI_FIELDS), [f"{dmi_dir} absent (container or no SMBIOS)"]
    for name in _DMI_FIELDS:
        path = os.path.join(dmi_dir, name)
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                values[name] = f.read().strip() or None
        except FileNotFoundError:
            values[name] = None
        except PermissionError:
            values[name] = None
            notes.append(f"{path} not readable (needs root)")
        except OSError as exc:
            values[name] = None
            notes.append(f"{path}: {exc.strerror}")
    return values, notes


def collect() -> WithNotes:
    hostname = socket.gethostname() or None
    dmi, notes = read_dmi(DMI_DIR)
    machine_id = None
    for path in MACHINE_ID_PATHS:
        value = read_text(path)
        if value and value != "uninitialized":
            machine_id = value
            break
    info = SystemInfo(
        hostname=hostname,
        fqdn=fqdn_from_hosts(hostname, read_text(HOSTS_PATH)),
        machine_id=machine_id,
        system_uuid=dmi["product_uuid"].lower() if dmi["product_uuid"] else None,
        manufacturer=dmi["sys_vendor"],
        product=dmi["product_name"],
        serial=dmi["product_serial"],
        chassis_type=chassis_name(dmi["chassis_type"]),
        bios_vendor=dmi["bios_vendor"],
        bios_version=dmi["bios_version"],
        bios_date=dmi["bios_date"],
        virtualization=detect_virtualization(dmi=dmi),
    )
    return WithNotes(info, tuple(notes))
