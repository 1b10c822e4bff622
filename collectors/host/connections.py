"""Established TCP connections with their owning process."""

from __future__ import annotations

from cmdb.collectors.host import sockets
from cmdb.collectors.host._common import SectionUnavailable
from cmdb.collectors.model import Connection


def collect() -> list[Connection]:
    try:
        table, owners = sockets.shared_view(("tcp", "tcp6"), sockets.PROC)
    except OSError as exc:
        raise SectionUnavailable(f"cannot read TCP socket tables: {exc}") from exc
    raw = [s for s in table if s.state == "ESTABLISHED"]
    result = []
    for s in raw:
        owner = owners.get(s.inode)
        result.append(
            Connection(
                protocol=s.protocol,
                local_address=s.local_address,
                local_port=s.local_port,
                remote_address=s.remote_address,
                remote_port=s.remote_port,
                pid=owner.pid if owner else None,
                process=owner.name if owner else None,
                status=s.state,
            )
        )
    return result
