"""Typed rows of the store's batched impact reads (``Store.impact_hop``, ``Store.uplinks``).

Named tuples, so a caller reads ``row.src_class`` instead of ``row[4]``; they still unpack
like the tuples they replaced (``rid, rel_type, src, dst, *_ = row``).
"""

from __future__ import annotations

from typing import NamedTuple


class HopRow(NamedTuple):
    """One open relationship touching a frontier CI, with both ends' class, name and CI
    status (``live``, ``stale``, ``retired``, ``planned``)."""

    id: str
    type: str
    src: str
    dst: str
    src_class: str
    dst_class: str
    src_name: str | None
    dst_name: str | None
    src_status: str | None
    dst_status: str | None


class Uplink(NamedTuple):
    """An open layer-2 link of ``device`` to a network device: the device's own port, the
    port at the other end, that port's device and its class."""

    device: str
    port: str
    peer_port: str
    peer_device: str
    peer_class: str
