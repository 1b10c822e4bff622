"""Scan targets: addresses, ranges and CIDR blocks, validated with errors that name the bad part."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator


class TargetError(ValueError):
    """A target specification that cannot be parsed (HTTP 400)."""


class TargetsTooLarge(ValueError):
    """More addresses than the server's configured maximum (HTTP 422)."""


def _parse_range(part: str) -> tuple[ipaddress._BaseAddress, ipaddress._BaseAddress]:
    first_text, last_text = (p.strip() for p in part.split("-", 1))
    try:
        first = ipaddress.ip_address(first_text)
    except ValueError as exc:
        raise TargetError(f"{part!r}: {first_text!r} is not an IP address") from exc
    if last_text.isdigit() and first.version == 4:
        # short form 10.0.0.5-20: the last octet
        octets = str(first).split(".")
        last_text = ".".join([*octets[:3], last_text])
    try:
        last = ipaddress.ip_address(last_text)
    except ValueError as exc:
        raise TargetError(f"{part!r}: {last_text!r} is not an IP address") from exc
    if first.version != last.version:
        raise TargetError(f"{part!r}: both ends of a range must be the same IP version")
    if int(last) < int(first):
        raise TargetError(f"{part!r}: the range ends before it starts")
    return first, last


def _size(part: str) -> int:
    if "/" in part:
        try:
            network = ipaddress.ip_network(part, strict=False)
        except ValueError as exc:
            raise TargetError(f"{part!r} is not a valid CIDR block: {exc}") from exc
        return network.num_addresses
    if "-" in part:
        first, last = _parse_range(part)
        return int(last) - int(first) + 1
    try:
        ipaddress.ip_address(part)
    except ValueError as exc:
        raise TargetError(f"{part!r} is not an IP address, range or CIDR block") from exc
    return 1


def _expand(part: str) -> Iterator[str]:
    if "/" in part:
        network = ipaddress.ip_network(part, strict=False)
        if network.num_addresses <= 2:
            yield from (str(a) for a in network)
        else:
            yield from (str(a) for a in network.hosts())
    elif "-" in part:
        first, last = _parse_range(part)
        for value in range(int(first), int(last) + 1):
            yield str(ipaddress.ip_address(value))
    else:
        yield str(ipaddress.ip_address(part))


def split_targets(spec: str | list[str]) -> list[str]:
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    cleaned = [p.strip() for p in parts if isinstance(p, str) and p.strip()]
    if not cleaned:
        raise TargetError("no targets given")
    return cleaned


def expand_targets(spec: str | list[str], max_addresses: int) -> list[str]:
    """Every address the spec names, once, in order; sizes are checked before expanding."""
    parts = split_targets(spec)
    total = sum(_size(p) for p in parts)
    if total > max_addresses:
        raise TargetsTooLarge(
            f"the targets name {total} addresses; this server scans at most {max_addresses} "
            "at once (setting scan_max_addresses)"
        )
    seen: dict[str, None] = {}
    for part in parts:
        for address in _expand(part):
            seen.setdefault(address, None)
    return list(seen)
