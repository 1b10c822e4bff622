"""Listening sockets: TCP in LISTEN and bound, unconnected UDP, with owning process."""

from __future__ import annotations

from cmdb.collectors.host import sockets
from cmdb.collectors.host._common import SectionUnavailable, WithNotes
from cmdb.collectors.model import ListeningSocket


def select_listening(raw: list[sockets.RawSocket]) -> list[sockets.RawSocket]:
    """TCP sockets in LISTEN and bound, unconnected UDP sockets, in table order."""
    return [s for s in raw if sockets.is_listening(s)]


def collect() -> WithNotes:
    try:
        table, owners = sockets.shared_view(sockets.PROTOCOLS, sockets.PROC)
    except OSError as exc:
        raise SectionUnavailable(f"cannot read socket tables: {exc}") from exc
    raw = select_listening(table)
    result = []
    seen = set()
    for s in raw:
        owner = owners.get(s.inode)
        record = ListeningSocket(
            protocol=s.protocol,
            address=s.local_address,
            port=s.local_port,
            pid=owner.pid if owner else None,
            process=owner.name if owner else None,
            exe=owner.exe if owner else None,
        )
        if record not in seen:  # SO_REUSEPORT groups: one record per endpoint and owner
            seen.add(record)
            result.append(record)
    unowned = sum(1 for r in result if r.pid is None)
    notes = (
        (f"{unowned} listening socket(s) with no visible owner (other pid namespace)",)
        if unowned
        else ()
    )
    return WithNotes(sorted(result, key=_key), notes)


def _key(s: ListeningSocket) -> tuple:
    return (s.protocol, s.port, s.address)
