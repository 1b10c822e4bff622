"""Memory: physical RAM and swap totals from /proc/meminfo."""

from __future__ import annotations

from cmdb.collectors.host._common import SectionUnavailable
from cmdb.collectors.model import MemoryInfo

MEMINFO_PATH = "/proc/meminfo"


def parse_meminfo(text: str) -> MemoryInfo:
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        parts = rest.split()
        if not sep or not parts or not parts[0].isdigit():
            continue
        scale = 1024 if len(parts) > 1 and parts[1].lower() == "kb" else 1
        values[key.strip()] = int(parts[0]) * scale
    return MemoryInfo(total_bytes=values.get("MemTotal"), swap_bytes=values.get("SwapTotal"))


def collect() -> MemoryInfo:
    try:
        with open(MEMINFO_PATH, encoding="ascii", errors="replace") as f:
            return parse_meminfo(f.read())
    except OSError as exc:
        raise SectionUnavailable(f"cannot read {MEMINFO_PATH}: {exc.strerror}") from exc
