"""What one report says should exist: CIs and relationships by local reference.

A transform (one per source kind) turns a report into a ``Desired``; the
engine compares it with the store and produces the change set. Transforms are
pure: they never touch a store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class DesiredCI:
    ref: str  # local reference inside the report, e.g. "host", "if:eth0"
    cls: str
    attributes: dict[str, Any]
    name: str | None
    section: str | None  # the report section that produced it (None: the root)
    scoped: bool = True  # managed by this source instance; shared CIs (Software) are not
    parent_ref: str | None = None  # fills the ``parent``/``host`` attribute with the parent's id
    parent_attr: str | None = None
    parent_format: str = "{id}"  # how the parent's id is written into ``parent_attr``


@dataclass(slots=True)
class DesiredRel:
    type: str
    src: str  # ref
    dst: str  # ref
    section: str
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Desired:
    source: str
    root: DesiredCI
    cis: list[DesiredCI] = field(default_factory=list)
    rels: list[DesiredRel] = field(default_factory=list)
    complete_sections: frozenset[str] = frozenset()
    # which section owns each relationship type and scoped CI class, for closing
    rel_sections: dict[str, str] = field(default_factory=dict)
    class_sections: dict[str, str] = field(default_factory=dict)
    # item count of each list section, and the sections a collector note names (read in
    # part): filled from the report for every source (cmdb.server.reconcile.completeness)
    section_sizes: dict[str, int] = field(default_factory=dict)
    noted_sections: dict[str, str] = field(default_factory=dict)
    # a digest of each section as sent: a report whose sections all match the last one
    # applied is the steady state and costs no comparison (cmdb.server.reconcile.engine)
    section_digests: dict[str, str] = field(default_factory=dict)
    # builds ``cis`` and ``rels`` from the report when they are first needed (None: built)
    expander: Callable[[Desired], None] | None = None

    def expand(self) -> Desired:
        """The report's CIs and relationships, built now if the transform deferred them."""
        if self.expander is not None:
            expander, self.expander = self.expander, None
            expander(self)
        return self
