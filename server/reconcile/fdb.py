"""Layer-2 links from a switch's forwarding table (FDB): which host NIC is patched into
which switch port. Reads the store, writes nothing: it returns the links it wants and the
links of other switches it proves wrong; ``cmdb.server.reconcile.topology`` writes them.

Rules (a MAC is compared lower-case, colon-separated):

1. The switch's own MACs (its interfaces, its bridge base MAC) are ignored.
2. **Uplink**: a port that learned any known network device's MAC (an interface MAC,
   LLDP chassis ID or bridge base MAC of a NetworkDevice, placeholders included), or that
   has an LLDP/CDP neighbour, is an uplink and never gets a host link.
3. **Access port**: a port that is not an uplink and learned at most
   ``ACCESS_PORT_MAX_MACS`` MACs (more: an unmanaged switch or a hub hangs there).
4. **Host**: a MAC learned on an access port links to the one live Host one or more of
   whose interfaces hold it. Several interfaces of one host (bond and its slaves, a bridge
   and its port, a VLAN and its parent) resolve to that host; the link goes to its
   physical interface (the only ``ethernet`` one), else to the aggregate (the bond, whose
   slaves the switch cannot tell apart), else to the first by name. A MAC held by several
   live hosts (clones) links nothing.
5. **Edge only**: a host already linked by another switch S' stays at one of the two
   ports. If this switch learned a MAC of S' on the host's port, S' is nearer the host:
   no link here. If it learned S' on another port, the host is not behind S', so S'
   learned it on its uplink: the other link is closed (a phantom) and this one is made.
   When this switch never saw S', nothing tells them apart and both stay.

The FDB table is not kept: a host first reported after a switch's scan is linked at that
switch's next scan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cmdb.graph import lookup
from cmdb.graph.store import CI, Rel, Store
from cmdb.server.reconcile.neighbours import normalise_mac

ACCESS_PORT_MAX_MACS = 3
PHYSICAL_KINDS = frozenset({"ethernet", "wireless", "infiniband"})
PHYSICAL_IF_TYPES = frozenset({"ethernetCsmacd", "gigabitEthernet", "fastEther", "ieee80211"})
AGGREGATE_KINDS = frozenset({"bond", "team"})
AGGREGATE_IF_TYPES = frozenset({"ieee8023adLag"})


@dataclass
class FdbDecision:
    """What the FDB of one switch says: wanted links (switch port id, host interface id)
    and other switches' links it proves to be phantoms (rels to close)."""

    links: list[tuple[str, str]] = field(default_factory=list)
    phantoms: list[Rel] = field(default_factory=list)
    uplinks: set[int] = field(default_factory=set)


def learned_by_port(sections: dict[str, Any], own_macs: set[str]) -> dict[int, set[str]]:
    """ifIndex -> MACs learned there (status ``learned``; the switch's own MACs left out).
    A row without an ifIndex is mapped through the bridge section's dot1dBasePortIfIndex."""
    bridge = {
        p.get("port"): p.get("if_index") for p in (sections.get("bridge") or {}).get("ports") or []
    }
    per_port: dict[int, set[str]] = {}
    for entry in sections.get("fdb") or []:
        if entry.get("status") != "learned":
            continue
        index = entry.get("if_index") or bridge.get(entry.get("bridge_port"))
        mac = normalise_mac(entry.get("mac"))
        if index and mac and mac not in own_macs:
            per_port.setdefault(index, set()).add(mac)
    return per_port


def pick_interface(nics: list[CI]) -> CI:
    """The interface of one host a switch port is patched into, among those holding the
    learned MAC (rule 4 of the module docstring)."""

    def kind(nic: CI) -> tuple[bool, bool]:
        k, t = nic.attributes.get("kind"), nic.attributes.get("if_type")
        return (k in PHYSICAL_KINDS or t in PHYSICAL_IF_TYPES), (
            k in AGGREGATE_KINDS or t in AGGREGATE_IF_TYPES
        )

    ordered = sorted(nics, key=lambda n: (n.name or "", n.id))
    physical = [n for n in ordered if kind(n)[0]]
    if len(physical) == 1:
        return physical[0]
    aggregate = [n for n in ordered if kind(n)[1]]
    if len(aggregate) == 1:
        return aggregate[0]
    return (physical or ordered)[0]


async def _switch_macs(store: Store, root: CI, macs: list[str]) -> dict[str, str]:
    """MAC -> id of the (non-retired) NetworkDevice other than ``root`` it belongs to."""
    out: dict[str, str] = {}
    for rule in ("lldp_chassis_id", "base_mac"):
        for mac, cis in (await store.find_by_identity("NetworkDevice", rule, macs)).items():
            for ci in cis:
                if ci.status != "retired" and ci.id != root.id:
                    out[mac] = ci.id
    return out


async def fdb_links(
    store: Store,
    root: CI,
    mine: list[CI],
    sections: dict[str, Any],
    neighbour_ports: set[int],
    max_macs: int = ACCESS_PORT_MAX_MACS,
) -> FdbDecision:
    """Apply the module's rules to one switch's report. Reads: interfaces by MAC, their
    parents, NetworkDevices by chassis ID / base MAC, then the open links of the hosts'
    interfaces: a handful of batched reads whatever the table's size."""
    decision = FdbDecision(uplinks=set(neighbour_ports))
    own = {m for i in mine if (m := i.attributes.get("mac"))}
    if base := normalise_mac(root.attributes.get("base_mac")):
        own.add(base)
    per_port = learned_by_port(sections, own)
    macs = sorted({m for ms in per_port.values() for m in ms})
    if not macs:
        return decision
    found = await lookup.interfaces_by_mac(store, macs)
    parents = await store.get_cis(
        sorted({p for cis in found.values() for i in cis if (p := i.attributes.get("parent"))})
    )
    switch_of = await _switch_macs(store, root, macs)
    hosts_of: dict[str, dict[str, list[CI]]] = {}  # mac -> host id -> its interfaces
    for mac, nics in found.items():
        for nic in nics:
            parent = parents.get(nic.attributes.get("parent"))
            if nic.status == "retired" or parent is None or parent.status == "retired":
                continue
            if parent.cls == "NetworkDevice" and parent.id != root.id:
                switch_of.setdefault(mac, parent.id)
            elif parent.cls == "Host":
                hosts_of.setdefault(mac, {}).setdefault(parent.id, []).append(nic)
    # which of this switch's ports lead to each other switch
    toward: dict[str, set[int]] = {}
    for port, port_macs in per_port.items():
        for mac in port_macs:
            if mac in switch_of:
                toward.setdefault(switch_of[mac], set()).add(port)
                decision.uplinks.add(port)
    ports = {i.attributes.get("if_index"): i for i in mine if i.attributes.get("if_index")}
    candidates: list[tuple[int, CI]] = []
    for port_index, port_macs in sorted(per_port.items()):
        if port_index in decision.uplinks or len(port_macs) > max_macs or port_index not in ports:
            continue
        for mac in sorted(port_macs):
            hosts = hosts_of.get(mac, {})
            if len(hosts) == 1:  # two live hosts with one MAC (clones): say nothing
                candidates.append((port_index, pick_interface(next(iter(hosts.values())))))
    await _edge_only(store, decision, candidates, ports, toward)
    return decision


async def _edge_only(
    store: Store,
    decision: FdbDecision,
    candidates: list[tuple[int, CI]],
    ports: dict[int, CI],
    toward: dict[str, set[int]],
) -> None:
    """Rule 5: keep a host link at the edge port only."""
    nic_ids = sorted({nic.id for _, nic in candidates})
    others = await _fdb_links_of(store, nic_ids, {p.id for p in ports.values()})
    far_ports = await store.get_cis(sorted({port for _, port in others.values()}))
    by_nic: dict[str, list[tuple[Rel, str]]] = {}
    for rel, port_id in others.values():
        port = far_ports.get(port_id)
        switch = port.attributes.get("parent") if port is not None else None
        if switch:
            nic = rel.dst if rel.src == port_id else rel.src
            by_nic.setdefault(nic, []).append((rel, switch))
    for port_index, nic in candidates:
        here = True
        for rel, switch in by_nic.get(nic.id, []):
            seen_on = toward.get(switch, set())
            if port_index in seen_on:
                here = False  # the other switch is nearer the host
            elif seen_on:
                decision.phantoms.append(rel)  # the other switch learned it on its uplink
        if here:
            decision.links.append((ports[port_index].id, nic.id))


async def _fdb_links_of(
    store: Store, nic_ids: list[str], own_ports: set[str]
) -> dict[str, tuple[Rel, str]]:
    """Open ``via=fdb`` links of these host interfaces to other switches' ports:
    rel id -> (the Rel, the far port id)."""
    if not nic_ids:
        return {}
    rows = await store.impact_hop(nic_ids, ("CONNECTED_TO",))
    pairs = sorted({(src, dst) for _rid, _t, src, dst, *_ in rows})
    rels = await store.find_open_rels([("CONNECTED_TO", s, d) for s, d in pairs])
    wanted = set(nic_ids)
    out: dict[str, tuple[Rel, str]] = {}
    for rel in rels.values():
        if rel.attributes.get("via") != "fdb":
            continue
        far = rel.src if rel.dst in wanted else rel.dst
        if far not in own_ports and far not in wanted:
            out[rel.id] = (rel, far)
    return out
