"""Typed rows of the store's batched impact reads (``Store.impact_hop``, ``Store.uplinks``).

Named tuples, so a caller reads ``row.src_class`` instead of ``row[4]``; they still unpack
like the tuples they replaced (``rid, rel_type, src, dst, *_ = row``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

NO_BACK = ("", "")  # a frontier CI with nothing to skip (both stores compare, none is NULL)


def frontier_rows(ids: list[str], back: Mapping[str, tuple[str, str]] | None) -> list[list[str]]:
    """A walk step's frontier as both stores' queries take it (``Store.impact_steps``): [CI
    id, the CI its state came from, the relationship type it came through] per id, the
    last two "" where ``back`` has nothing for it."""
    back = back or {}
    return [[i, *back.get(i, NO_BACK)] for i in ids]


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
