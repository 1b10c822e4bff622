"""The dependency rules: the one table that says which relationships make a CI depend on
another, and what a failure does along them.

Impact (``cmdb.server.catalogue.impact``), the dependencies API (``direction=up`` lists the
dependents, ``down`` the dependencies), the service diff (``cmdb.server.catalogue.status``) and
both stores' impact reads (their relationship types come from ``HOP_TYPES``) all read this
table; no other module lists dependency types.

Each rule names a relationship type, which end is the *dependent* (the end that needs the
other), the *effect* of the other end failing, and the *kind* of evidence:

* ``Y -RUNS_ON-> X``, ``Y -HOSTED_ON-> X`` (a VM on its hypervisor) and
  ``Service -DEPENDS_ON-> X``: **fails**, declared. Y fails when X fails. When X is only
  degraded (working, with less redundancy), a Service or RedundancyGroup depending on it is
  degraded; anything else still works.
* ``RedundancyGroup -DEPENDS_ON-> X`` and ``X -MEMBER_OF-> RedundancyGroup``: **degrades**,
  declared. The group needs ``min`` of its members working: below that it is down, else it
  is degraded as soon as one member is down or degraded. Retired CIs, and CIs whose asset is
  retired or disposed, are not working members.
* ``C -CONNECTS_TO-> Endpoint`` (an observed client connection from a host or endpoint):
  **degrades**, inferred. The endpoints C reaches that offer the same service (the same
  redundancy group in the catalogue, else the same protocol and port) are an implicit group
  that needs one: one failing degrades C, all failing take C down. A connection to C's own
  host (loopback, its own address), and one between members of one redundancy group
  (replication, cluster heartbeats), is no dependency. A declared dependency of C on the
  target, its host or its group replaces the inferred one.
* ``Host -LISTENS_ON-> Endpoint``, ``Device -HAS_INTERFACE-> Interface``: **contains**,
  discovered. The part fails with its container; the part failing does not fail the
  container (an endpoint failing leaves its host up).
* ``Interface -CONNECTED_TO- Interface`` (layer 2, either direction): **fails**, discovered. A
  port loses its link when the port at the other end fails.
* ``Device -HAS_INTERFACE-> Interface`` for the device's **uplink** ports only: **degrades**,
  discovered. A host or switch needs one of its uplinks: losing some degrades it, losing all
  takes it down. A host's links to switches are uplinks; between two switches, the link is an
  uplink of the one farther from the core. The core is where the topology says (declared
  ``tier``, routers, devices holding the hosts' default gateways; failing those, the
  switches farthest from the hosts), never how many links a switch has.

What is not here is no dependency: INSTALLED, HAS_IP, IN_NETWORK, REPRESENTS, AFFECTS,
OWNED_BY, SUPPLIED_BY. A dependency is not a sighting either: only discovered facts
(``SIGHTING_TYPES``) keep a CI seen for the staleness sweep.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum

from cmdb.graph.records import HopRow


class Effect(StrEnum):
    FAILS = "fails"
    DEGRADES = "degrades"
    CONTAINS = "contains"


class Kind(StrEnum):
    DECLARED = "declared"  # the catalogue or an engineer said so
    INFERRED = "inferred"  # deduced from observed connections
    DISCOVERED = "discovered"  # structure discovery reported (containment, layer-2 links)


@dataclass(frozen=True, slots=True)
class Rule:
    """``type``: relationship type; ``dependent``: the end that needs the other (``src``,
    ``dst``, or ``either`` for symmetric links); ``classes``: the dependent's classes the
    rule is limited to (empty: any); ``uplink_only``: only for the device's uplink ports."""

    type: str
    dependent: str
    effect: Effect
    kind: Kind
    classes: tuple[str, ...] = ()
    uplink_only: bool = False

    def applies(self, dependent_class: str) -> bool:
        return not self.classes or dependent_class in self.classes


GROUP = "RedundancyGroup"
DEVICES = ("Host", "NetworkDevice")

RULES: tuple[Rule, ...] = (
    Rule("RUNS_ON", "src", Effect.FAILS, Kind.DECLARED),
    Rule("HOSTED_ON", "src", Effect.FAILS, Kind.DECLARED),
    # a group's members are one-of-several; every other CI depending on X needs X
    Rule("DEPENDS_ON", "src", Effect.DEGRADES, Kind.DECLARED, (GROUP,)),
    Rule("DEPENDS_ON", "src", Effect.FAILS, Kind.DECLARED),
    Rule("MEMBER_OF", "dst", Effect.DEGRADES, Kind.DECLARED, (GROUP,)),
    Rule("CONNECTS_TO", "src", Effect.DEGRADES, Kind.INFERRED),
    Rule("LISTENS_ON", "dst", Effect.CONTAINS, Kind.DISCOVERED),
    Rule("HAS_INTERFACE", "dst", Effect.CONTAINS, Kind.DISCOVERED),
    Rule("HAS_INTERFACE", "src", Effect.DEGRADES, Kind.DISCOVERED, DEVICES, uplink_only=True),
    Rule("CONNECTED_TO", "either", Effect.FAILS, Kind.DISCOVERED, ("Interface",)),
)

# every relationship type a dependency walk reads (the stores' hop queries are built on it)
HOP_TYPES: tuple[str, ...] = tuple(dict.fromkeys(r.type for r in RULES))
DECLARED_TYPES: tuple[str, ...] = tuple(
    dict.fromkeys(r.type for r in RULES if r.kind is Kind.DECLARED)
)
INFERRED_TYPES: tuple[str, ...] = tuple(
    dict.fromkeys(r.type for r in RULES if r.kind is Kind.INFERRED)
)
# what a degraded CI (working, with less redundancy) can reach: services and groups that
# need it; containment, links, uplinks and observed connections only carry failures
DEGRADED_HOP_TYPES: tuple[str, ...] = tuple(
    dict.fromkeys(
        r.type
        for r in RULES
        if r.kind is Kind.DECLARED and (r.effect is Effect.FAILS or r.classes == (GROUP,))
    )
)
# relationships whose source reports the target exists: they keep the target seen
SIGHTING_TYPES: tuple[str, ...] = (
    "HAS_INTERFACE",
    "HAS_IP",
    "IN_NETWORK",
    "CONNECTED_TO",
    "INSTALLED",
    "LISTENS_ON",
)
# the layer-2 rules: a device's ports (the uplink rule) and the link between two ports
PORT_TYPE = next(r.type for r in RULES if r.uplink_only)
LINK_TYPE = next(r.type for r in RULES if r.dependent == "either")
# the relationship that ties an Asset (lifecycle state) to the CI it represents
LIFECYCLE_TYPE = "REPRESENTS"
RETIRED_ASSET_STATES = ("retired", "disposed")


@dataclass(frozen=True, slots=True)
class Edge:
    """One dependency read off a relationship: ``dependent`` needs ``dependency``."""

    dependent: str
    dependency: str
    rule: Rule
    row: HopRow


@functools.cache
def rule_for(rel_type: str, end: str, dependent_class: str) -> Rule | None:
    """The rule that makes the ``end`` (``src`` or ``dst``) of a ``rel_type`` relationship,
    of class ``dependent_class``, depend on the other end: the first in the table that
    applies (a rule limited to the dependent's class comes before a general one)."""
    for rule in RULES:
        if (
            rule.type == rel_type
            and rule.dependent in (end, "either")
            and rule.applies(dependent_class)
        ):
            return rule
    return None


def edges(row: HopRow) -> list[Edge]:
    """The dependencies a relationship row carries (at most one per end)."""
    out: list[Edge] = []
    rule = rule_for(row.type, "src", row.src_class)
    if rule is not None:
        out.append(Edge(row.src, row.dst, rule, row))
    rule = rule_for(row.type, "dst", row.dst_class)
    if rule is not None:
        out.append(Edge(row.dst, row.src, rule, row))
    return out


def dependents_of(row: HopRow, ci: str) -> list[Edge]:
    """Edges of ``row`` whose dependency is ``ci``: who needs ``ci`` through this row."""
    return [e for e in edges(row) if e.dependency == ci and e.dependent != ci]


def dependencies_of(row: HopRow, ci: str) -> list[Edge]:
    """Edges of ``row`` whose dependent is ``ci``: what ``ci`` needs through this row."""
    return [e for e in edges(row) if e.dependent == ci and e.dependency != ci]


def path_kind(kinds: list[Kind]) -> str:
    """A path is as strong as its weakest step: inferred if any step is inferred."""
    return Kind.INFERRED.value if Kind.INFERRED in kinds else Kind.DECLARED.value


def steps(direction: str, layer2: bool = True) -> dict[str, tuple[str, ...]]:
    """How a walk follows each relationship type from the CI it stands on: ``up`` towards
    what depends on it, ``down`` towards what it depends on. ``out`` goes src to dst,
    ``in`` dst to src (types in the table order). Without ``layer2``, the walk stops at
    devices (no uplink ports, no links): what a service depends on, not the network."""
    if direction not in ("up", "down"):
        raise ValueError(f"direction must be up or down, not {direction!r}")
    out: dict[str, set[str]] = {}
    for rule in RULES:
        if not layer2 and (rule.uplink_only or rule.type == LINK_TYPE):
            continue
        if rule.dependent == "either":
            ways = {"in", "out"}
        else:
            # up from the dependency: towards the dependent end
            towards_src = (rule.dependent == "src") == (direction == "up")
            ways = {"in" if towards_src else "out"}
        out.setdefault(rule.type, set()).update(ways)
    return {t: tuple(sorted(w)) for t, w in out.items()}


# A hop's type may carry the end the frontier CI stands on: ">T" reads T only from its src
# (out), "<T" only from its dst (in); a bare "T" reads either end. The impact walk reads
# only the ends the rules go up from, not every relationship from both ends.
OUT, IN = ">", "<"


def directed(direction: str, types: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """Hop types for a walk ``direction`` (``steps``), limited to ``types``: a bare type
    when the walk follows it both ways, else ``>T`` (from src) or ``<T`` (from dst)."""
    out = []
    for rel_type, ways in steps(direction).items():
        if types is not None and rel_type not in types:
            continue
        out.append(rel_type if len(ways) == 2 else (OUT if ways == ("out",) else IN) + rel_type)
    return tuple(out)


def split_directed(types: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """The types read from the frontier's src end and from its dst end (a bare type is in
    both lists): what the stores' hop queries are generated from."""
    from_src = [t.removeprefix(OUT) for t in types if not t.startswith(IN)]
    from_dst = [t.removeprefix(IN) for t in types if not t.startswith(OUT)]
    return from_src, from_dst
