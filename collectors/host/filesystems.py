"""Mounted filesystems on block devices (psutil.disk_partitions(all=False)) and usage."""

from __future__ import annotations

import os

import psutil

from cmdb.collectors.host._common import WithNotes
from cmdb.collectors.model import Filesystem

# psutil's all=False already drops nodev filesystems (proc, tmpfs, overlay, ...);
# squashfs remains: read-only snap and live images on loop devices
_PSEUDO = frozenset({"squashfs"})
# statvfs on these can hang on an unreachable server: report the mount, not usage
_NETWORK = frozenset({"nfs", "nfs4", "cifs", "smb3", "smbfs", "sshfs", "fuse.sshfs", "9p"})


def collect() -> WithNotes:
    notes = []
    seen: set[tuple[str, str]] = set()
    result = []
    for part in psutil.disk_partitions(all=False):
        fstype = part.fstype or None
        if fstype in _PSEUDO or (part.device, part.mountpoint) in seen:
            continue
        seen.add((part.device, part.mountpoint))
        size = used = None
        if fstype not in _NETWORK:
            try:
                st = os.statvfs(part.mountpoint)
                size = st.f_blocks * st.f_frsize
                used = (st.f_blocks - st.f_bfree) * st.f_frsize
            except OSError as exc:
                notes.append(f"usage of {part.mountpoint}: {exc.strerror}")
        result.append(
            Filesystem(
                device=part.device or "none",
                mountpoint=part.mountpoint,
                fstype=fstype,
                size_bytes=size,
                used_bytes=used,
            )
        )
    return WithNotes(result, tuple(notes))
