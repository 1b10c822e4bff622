"""DNS resolver configuration from /etc/resolv.conf."""

from __future__ import annotations

from cmdb.collectors.host._common import SectionUnavailable
from cmdb.collectors.model import DNSConfig

RESOLV_CONF = "/etc/resolv.conf"


def parse_resolv_conf(text: str) -> DNSConfig:
    """Nameservers in order; search domains from the last ``search``/``domain`` line."""
    nameservers: list[str] = []
    search: list[str] = []
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0].startswith(("#", ";")):
            continue
        # resolv.conf(5): comments start a line; trailing ones are common in the wild too
        for i, word in enumerate(fields):
            if word.startswith(("#", ";")):
                fields = fields[:i]
                break
        keyword, args = fields[0], fields[1:]
        if keyword == "nameserver" and args and args[0] not in nameservers:
            nameservers.append(args[0])
        elif keyword in ("search", "domain") and args:
            search = args  # the last instance wins
    return DNSConfig(nameservers=tuple(nameservers), search=tuple(search))


def collect() -> DNSConfig:
    try:
        with open(RESOLV_CONF, encoding="utf-8", errors="replace") as f:
            return parse_resolv_conf(f.read())
    except OSError as exc:
        raise SectionUnavailable(f"cannot read {RESOLV_CONF}: {exc.strerror}") from exc
