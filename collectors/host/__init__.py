"""The host collector: one module per fact, assembled into an agent Report.

Each section runs on its own. A section whose module raises is left out of
``sections`` and gets a Note instead, so the server closes nothing for it. A
section that is present is complete; a Note beside a present section only says
why some attributes in it are None (e.g. DMI absent in a container, a socket
whose owner lives in another pid namespace).
"""

from __future__ import annotations

import importlib
import time

from cmdb.collectors.host._common import SectionUnavailable, WithNotes, collection
from cmdb.collectors.model import HOST_SECTIONS, Note, Report

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

AGENT_NAME = "cmdb-agent"
AGENT_VERSION = "0.1.0"

# section name -> module under cmdb.collectors.host with a collect() function
SECTION_MODULES: dict[str, str] = {
    "system": "system",
    "os": "osinfo",
    "cpu": "cpu",
    "memory": "memory",
    "disks": "disks",
    "filesystems": "filesystems",
    "interfaces": "interfaces",
    "gateways": "gateways",
    "dns": "dns",
    "packages": "packages",
    "processes": "processes",
    "listening": "listening",
    "connections": "connections",
}
assert tuple(SECTION_MODULES) == HOST_SECTIONS, "SECTION_MODULES must follow HOST_SECTIONS"

__all__ = ["AGENT_NAME", "AGENT_VERSION", "SectionUnavailable", "collect_report", "collector_for"]


def collector_for(section: str) -> Callable[[], Any]:
    """The ``collect`` function of a section's module."""
    if section not in SECTION_MODULES:
        raise ValueError(f"unknown host section {section!r}; known: {', '.join(HOST_SECTIONS)}")
    module = importlib.import_module(f"cmdb.collectors.host.{SECTION_MODULES[section]}")
    return module.collect


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SectionUnavailable):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def collect_report(sections: Iterable[str] | None = None) -> Report:
    """Collect the given host sections (all by default) into a source="agent" Report."""
    names = list(HOST_SECTIONS if sections is None else sections)
    for name in names:
        if name not in SECTION_MODULES:
            raise ValueError(f"unknown host section {name!r}; known: {', '.join(HOST_SECTIONS)}")
    started = time.perf_counter()
    report = Report(source="agent")
    with collection():  # listening and connections share one read of the socket tables
        for name in names:
            try:
                value = collector_for(name)()
            except Exception as exc:  # one section's failure must not sink the report
                report.notes.append(Note(name, _describe(exc)))
                continue
            if isinstance(value, WithNotes):
                # remarks on a section read completely: they do not hold back its closing
                report.notes.extend(Note(name, message, partial=False) for message in value.notes)
                value = value.value
            report.sections[name] = value
    report.collector = {
        "name": AGENT_NAME,
        "version": AGENT_VERSION,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
    }
    return report
