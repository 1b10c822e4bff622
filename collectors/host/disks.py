"""Block disks from /sys/block: size, model, serial, rotational.

Virtual block devices (loop, ram, zram, device-mapper, md: everything under
/sys/devices/virtual/block) are not disks and are skipped.
"""

from __future__ import annotations

import os

from cmdb.collectors.host._common import SectionUnavailable, read_int, read_text
from cmdb.collectors.model import Disk

SYS_BLOCK = "/sys/block"
_SKIP_PREFIXES = ("loop", "ram", "zram", "fd")


def is_physical(name: str, target: str) -> bool:
    """Whether /sys/block/<name> (resolved to ``target``) is a real disk."""
    return not name.startswith(_SKIP_PREFIXES) and "/devices/virtual/" not in target


def read_disk(block_dir: str, name: str) -> Disk:
    base = os.path.join(block_dir, name)
    sectors = read_int(os.path.join(base, "size"))  # always 512-byte units
    rotational = read_int(os.path.join(base, "queue/rotational"))
    serial = (
        read_text(os.path.join(base, "device/serial"))
        or read_text(os.path.join(base, "serial"))  # virtio
        or read_text(os.path.join(base, "device/wwid"))
    )
    return Disk(
        name=name,
        size_bytes=sectors * 512 if sectors is not None else None,
        model=read_text(os.path.join(base, "device/model")),
        serial=serial,
        rotational=None if rotational is None else rotational == 1,
    )


def collect(block_dir: str | None = None) -> list[Disk]:
    block_dir = block_dir or SYS_BLOCK
    try:
        names = sorted(os.listdir(block_dir))
    except OSError as exc:
        raise SectionUnavailable(f"cannot list {block_dir}: {exc.strerror}") from exc
    disks = []
    for name in names:
        target = os.path.realpath(os.path.join(block_dir, name))
        if is_physical(name, target):
            disks.append(read_disk(block_dir, name))
    return disks
