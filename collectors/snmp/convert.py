"""Small pure converters from raw SNMP values to record fields.

Every converter takes what ``SnmpSession`` returns (bytes for OCTET STRING,
int for numbers, dotted str for OIDs and IpAddress, None for "no such") and
returns a plain value, or ``None`` when the value is unknown or a placeholder:
never ``""`` or ``0`` standing for "unknown".
"""

from __future__ import annotations

import codecs
import ipaddress
import string
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from cmdb.collectors.snmp.session import Oid, Value, parse_oid

_PRINTABLE = set(string.printable.encode()) - set(b"\x0b\x0c")

# Octets that are not UTF-8 come from devices configured in a legacy 8-bit
# charset (Windows-1252 in western Europe and the Americas, where most such
# gear is). latin-1 maps every octet, so decoding never fails and never needs
# U+FFFD; cp1252 is tried first because it is what those devices mean by
# 0x80-0x9F (€, ’, “ ...), where latin-1 has invisible control codes.
DEFAULT_LEGACY_CHARSET = "cp1252"
_LEGACY: ContextVar[str] = ContextVar("snmp_legacy_charset", default=DEFAULT_LEGACY_CHARSET)
_REPLACEMENT = "\ufffd"


def check_charset(name: str) -> str:
    """The codec's canonical name; ``LookupError`` for an unknown charset."""
    return codecs.lookup(name).name


@contextmanager
def legacy_charset(name: str | None) -> Iterator[str]:
    """Decode non-UTF-8 strings with ``name`` (default cp1252) in this context."""
    token = _LEGACY.set(check_charset(name or DEFAULT_LEGACY_CHARSET))
    try:
        yield _LEGACY.get()
    finally:
        _LEGACY.reset(token)


def decode(octets: bytes, charset: str | None = None) -> str:
    """Octets as the device meant them: UTF-8 when they are valid UTF-8, else the legacy
    charset (``charset``, or the context's; cp1252 by default), else latin-1.

    Never returns U+FFFD: one the device sent inside valid UTF-8 is dropped too.
    """
    try:
        s = octets.decode("utf-8")
    except UnicodeDecodeError:
        try:
            s = octets.decode(charset or _LEGACY.get())
        except UnicodeDecodeError:  # cp1252 leaves 0x81 0x8D 0x8F 0x90 0x9D undefined
            s = octets.decode("latin-1")
    return s.replace(_REPLACEMENT, "")


def raw(v: Value) -> Value:
    return v


def text(v: Value) -> str | None:
    """DisplayString -> str (``decode``); trailing NULs and whitespace trimmed; empty is None."""
    if v is None:
        return None
    if isinstance(v, bytes):
        v = decode(v.rstrip(b"\x00"))
    s = str(v).strip()
    return s or None


def integer(v: Value) -> int | None:
    if isinstance(v, int):
        return v
    if isinstance(v, bytes | str):
        try:
            return int(v)
        except ValueError:
            return None
    return None


def positive(v: Value) -> int | None:
    """An integer where 0 means "unknown" (speeds, sizes, MTU)."""
    n = integer(v)
    return n if n else None


def oid_text(v: Value) -> str | None:
    """An OBJECT IDENTIFIER value as dotted text; the null OID ``0.0`` is None."""
    if v is None:
        return None
    s = v.decode() if isinstance(v, bytes) else str(v)
    return None if s in ("", "0.0", "0") else s


def mac(v: Value) -> str | None:
    """6 raw octets (or a textual MAC) -> ``aa:bb:cc:dd:ee:ff``; all-zero is None."""
    if v is None:
        return None
    if isinstance(v, str):
        digits = "".join(c for c in v if c in string.hexdigits)
        if len(digits) != 12:
            return None
        b = bytes.fromhex(digits)
    else:
        b = bytes(v)
        if len(b) != 6:
            # some agents send the MAC as text: "00:1a:2b:..." or "001a.2b3c.4d5e"
            if 12 <= len(b) <= 17 and all(c in _PRINTABLE for c in b):
                return mac(b.decode("ascii", errors="replace"))
            return None
    if b == b"\x00" * 6:
        return None
    return ":".join(f"{x:02x}" for x in b)


def mac_from_index(index: Sequence[int]) -> str | None:
    """The last 6 sub-identifiers of a table index as a MAC (FDB tables)."""
    if len(index) < 6 or any(not 0 <= x <= 255 for x in index[-6:]):
        return None
    return mac(bytes(index[-6:]))


def hex_or_text(v: Value) -> str | None:
    """Octets that are printable text stay text; binary becomes ``aa:bb:...`` hex.

    Text is ASCII or valid UTF-8 with no control characters; legacy 8-bit
    octets are not guessed at here (an ID that is not UTF-8 is binary).
    """
    if v is None:
        return None
    if isinstance(v, bytes):
        stripped = v.rstrip(b"\x00")
        if stripped and all(c in _PRINTABLE for c in stripped):
            return text(stripped)
        if stripped and max(stripped) >= 0x80:
            try:
                s = stripped.decode("utf-8")
            except UnicodeDecodeError:
                s = ""
            if s and s.isprintable() and _REPLACEMENT not in s:
                return s.strip() or None
        return ":".join(f"{x:02x}" for x in v) or None
    return text(v)


def ip_from_octets(v: Value) -> str | None:
    """4 or 16 raw octets (InetAddress) or a dotted string -> canonical IP text."""
    if v is None:
        return None
    if isinstance(v, str):
        try:
            return str(ipaddress.ip_address(v))
        except ValueError:
            return None
    b = bytes(v)
    if len(b) in (4, 16):
        return str(ipaddress.ip_address(b))
    if len(b) in (8, 20):  # ipv4z / ipv6z: address + 4-octet zone index
        return str(ipaddress.ip_address(b[:-4]))
    if 7 <= len(b) <= 39 and all(c in _PRINTABLE for c in b):
        return ip_from_octets(b.decode("ascii"))
    return None


def inet_address_from_index(index: Sequence[int]) -> tuple[str | None, tuple[int, ...]]:
    """Parse ``InetAddressType, InetAddress`` from the front of an index.

    The address is length-prefixed (as in ipAddressTable, ipNetToPhysicalTable,
    lldpRemManAddrTable). Returns (address text or None, the rest of the index).
    """
    if len(index) < 2:
        return None, ()
    addr_type, length = index[0], index[1]
    octets = index[2 : 2 + length]
    rest = tuple(index[2 + length :])
    if len(octets) != length or any(not 0 <= x <= 255 for x in octets):
        return None, rest
    if addr_type in (1, 2, 3, 4):  # ipv4, ipv6, ipv4z, ipv6z
        return ip_from_octets(bytes(octets)), rest
    return None, rest


def ipv4_from_index(index: Sequence[int]) -> str | None:
    if len(index) != 4 or any(not 0 <= x <= 255 for x in index):
        return None
    return ".".join(str(x) for x in index)


def prefixlen_from_mask(mask: Value) -> int | None:
    m = ip_from_octets(mask) if mask is not None else None
    if m is None:
        return None
    try:
        return ipaddress.IPv4Network(f"0.0.0.0/{m}").prefixlen
    except ValueError:
        return None


def prefixlen_from_pointer(v: Value) -> int | None:
    """ipAddressPrefix is a RowPointer whose last sub-identifier is the length."""
    s = oid_text(v)
    if s is None:
        return None
    try:
        last = parse_oid(s)[-1]
    except ValueError:
        return None
    return last if 0 <= last <= 128 else None


def enum(mapping: dict[int, str]) -> Callable[[Value], str | None]:
    """An INTEGER enumeration -> its label; unknown numbers become ``"other(N)"``."""

    def convert(v: Value) -> str | None:
        n = integer(v)
        if n is None:
            return None
        return mapping.get(n, f"other({n})")

    return convert


def date_and_time(v: Value) -> str | None:
    """SNMPv2-TC DateAndTime (8 or 11 octets) -> ISO 8601; placeholders are None."""
    if not isinstance(v, bytes) or len(v) not in (8, 11):
        return None
    year = int.from_bytes(v[0:2], "big")
    month, day, hour, minute, second, deci = v[2:8]
    if year == 0 or not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    if hour > 23 or minute > 59 or second > 60 or deci > 9:
        return None
    s = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
    if len(v) == 11:
        sign = chr(v[8]) if v[8] in b"+-" else "+"
        s += f"{sign}{v[9]:02d}:{v[10]:02d}"
    return s


def enterprise_number(sys_object_id: str | Oid | None) -> int | None:
    """The IANA private enterprise number in ``1.3.6.1.4.1.N...``."""
    if sys_object_id is None:
        return None
    try:
        oid = parse_oid(sys_object_id)
    except ValueError:
        return None
    if len(oid) > 6 and oid[:6] == (1, 3, 6, 1, 4, 1):
        return oid[6]
    return None


def first(*values: Any) -> Any:
    """The first value that is not None."""
    for v in values:
        if v is not None:
            return v
    return None
