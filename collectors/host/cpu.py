"""CPU: model, sockets (distinct physical ids), cores, threads, from /proc/cpuinfo."""

from __future__ import annotations

import os

from cmdb.collectors.host._common import SectionUnavailable
from cmdb.collectors.model import CPUInfo

CPUINFO_PATH = "/proc/cpuinfo"
SYS_CPU_DIR = "/sys/devices/system/cpu"

_MODEL_KEYS = ("model name", "cpu model", "Processor", "cpu", "uarch")


def parse_cpuinfo(text: str) -> CPUInfo:
    """One CPUInfo from /proc/cpuinfo text (x86 and the common non-x86 layouts)."""
    blocks = [b for b in text.split("\n\n") if b.strip()]
    model = None
    mhz = None
    threads = 0
    packages: set[str] = set()
    cores: set[tuple[str, str]] = set()
    cores_per_package: dict[str, int] = {}
    for block in blocks:
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields.setdefault(key.strip(), value.strip())
        if "processor" in fields and fields["processor"].isdigit():
            threads += 1
        if model is None:
            model = next((fields[k] for k in _MODEL_KEYS if fields.get(k)), None)
        if mhz is None and fields.get("cpu MHz"):
            try:
                mhz = float(fields["cpu MHz"])
            except ValueError:
                pass
        if "physical id" in fields:
            pkg = fields["physical id"]
            packages.add(pkg)
            if "core id" in fields:
                cores.add((pkg, fields["core id"]))
            if fields.get("cpu cores", "").isdigit():
                cores_per_package[pkg] = int(fields["cpu cores"])
    sockets = len(packages) or None
    if cores:
        n_cores: int | None = len(cores)
    elif cores_per_package:
        n_cores = sum(cores_per_package.values())
    else:
        n_cores = None
    return CPUInfo(model=model, sockets=sockets, cores=n_cores, threads=threads or None, mhz=mhz)


def _sysfs_topology(sys_cpu_dir: str) -> tuple[int | None, int | None]:
    """(sockets, cores) from sysfs topology, for platforms whose cpuinfo lacks ids."""
    packages: set[str] = set()
    cores: set[tuple[str, str]] = set()
    try:
        names = [n for n in os.listdir(sys_cpu_dir) if n.startswith("cpu") and n[3:].isdigit()]
    except OSError:
        return None, None
    for name in names:
        topo = os.path.join(sys_cpu_dir, name, "topology")
        try:
            with open(os.path.join(topo, "physical_package_id")) as f:
                pkg = f.read().strip()
            with open(os.path.join(topo, "core_id")) as f:
                core = f.read().strip()
        except OSError:
            continue
        packages.add(pkg)
        cores.add((pkg, core))
    return len(packages) or None, len(cores) or None


def collect() -> CPUInfo:
    try:
        with open(CPUINFO_PATH, encoding="utf-8", errors="replace") as f:
            info = parse_cpuinfo(f.read())
    except OSError as exc:
        raise SectionUnavailable(f"cannot read {CPUINFO_PATH}: {exc.strerror}") from exc
    if info.sockets is None or info.cores is None:
        sockets, cores = _sysfs_topology(SYS_CPU_DIR)
        info = CPUInfo(
            model=info.model,
            sockets=info.sockets or sockets,
            cores=info.cores or cores,
            threads=info.threads or os.cpu_count(),
            mhz=info.mhz,
        )
    return info
