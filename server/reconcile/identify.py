"""The identification service: which existing CI a set of facts describes, and why.

Identity keys come from ``cmdb.graph.identity`` (one schema-driven function). Rules are tried
strongest first (the order of ``cmdb.graph.schema``) and a candidate must survive the evidence
of every other key present on both sides:

* a key at least as strong as the one that found the candidate differs: rejected (two VM
  clones share /etc/machine-id but not their DMI system UUID);
* the candidate was found by a weak key (one the schema does not declare unique: machine-id,
  a serial cloud guests share, host name + MAC) and any other key present on both sides
  differs: rejected, a collision, not the same machine;
* a value the candidate held until a rename, within the grace period, still counts as its
  own (``CI.prior_identity``), so a lagging source joins the right CI.

A rejected candidate that holds a unique key the report also carries keeps it: the new CI
goes without that key, and the explanation says so (``Identification.withheld``).

Secondary sources have one more rule, network evidence: a host seen over SNMP joins the
live Host one of whose interfaces holds both the MAC and the address the scan saw,
whatever its sysName says (see ``join_by_network``).

The last and weakest rule is a name: a Host or NetworkDevice an engineer declared by hand
because discovery could not see it (``cmdb.server.catalogue.manual_cis``: sources exactly
``["manual"]``) is adopted by the first report that names it (host name or FQDN, sysName),
when it is the only such placeholder and none of its identity values contradicts the
report (see ``adopt_manual_placeholder``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cmdb.graph.identity import same_host_name, short_hostname
from cmdb.graph.lookup import cis_by_short_name
from cmdb.graph.schema import CLASSES, CIClass, IdentityRule
from cmdb.graph.store import CI, Store
from cmdb.server.catalogue.writes import is_manual_only
from cmdb.server.reconcile.addresses import not_unique_reason
from cmdb.server.reconcile.holders import address_holders, current_holders


@dataclass
class Identification:
    """The answer: the CI (None: a new one), the rule that found it, every decision in
    words, and the unique keys a new CI must go without (held by a rejected candidate)."""

    ci: CI | None
    rule: str | None
    explanation: list[str] = field(default_factory=list)
    withheld: set[str] = field(default_factory=set)


def holds(candidate: CI, rule: str, value: str) -> bool:
    """Whether the candidate holds ``value`` for ``rule``, now or within its grace period."""
    if candidate.identity.get(rule) == value:
        return True
    return value in candidate.prior_identity.get(rule, ())


def _conflict(cls: CIClass, candidate: CI, wanted: dict[str, str], by: int) -> str | None:
    """Why ``candidate`` (found by rule number ``by``) is not the CI ``wanted`` describes."""
    weak = not cls.identity[by].unique
    for index, rule in enumerate(cls.identity):
        if index == by or (index > by and not weak):
            continue
        mine, theirs = wanted.get(rule.name), candidate.identity.get(rule.name)
        if mine is None or theirs is None or holds(candidate, rule.name, mine):
            continue
        kind = "a stronger key" if index < by else "another key"
        return f"{kind} differs: {rule.name} is {theirs!r} there, {mine!r} here"
    return None


def _rules(cls: CIClass) -> dict[str, IdentityRule]:
    return {rule.name: rule for rule in cls.identity}


async def identify(store: Store, cls_name: str, wanted: dict[str, str]) -> Identification:
    """Find the CI these identity values describe (rule -> value), strongest rule first,
    with the reasons; one store read for every rule."""
    cls = CLASSES[cls_name]
    explanation: list[str] = []
    rules = _rules(cls)
    candidates = await store.find_by_identities(
        cls_name, {rule: value for rule, value in wanted.items() if rule in rules}
    )
    withheld: set[str] = set()
    for index, rule in enumerate(cls.identity):
        value = wanted.get(rule.name)
        if value is None:
            explanation.append(f"{rule.name}: not reported or placeholder")
            continue
        found = candidates.get(rule.name, [])
        if not found:
            explanation.append(f"{rule.name}={value!r}: no CI")
            continue
        accepted = []
        for candidate in found:
            conflict = _conflict(cls, candidate, wanted, index)
            if conflict:
                explanation.append(
                    f"{rule.name}={value!r}: {candidate.id} ({candidate.name}) rejected, "
                    f"a collision: {conflict}"
                )
                if rule.unique:
                    withheld.add(rule.name)
            else:
                accepted.append(candidate)
        if accepted:
            accepted.sort(key=lambda c: c.last_seen or "", reverse=True)
            chosen = accepted[0]
            how = (
                ""
                if chosen.identity.get(rule.name) == value
                else " (a value it held before a rename, or an alias: a stack member's serial)"
            )
            explanation.append(f"{rule.name}={value!r}: matched {chosen.id}{how}")
            return Identification(ci=chosen, rule=rule.name, explanation=explanation)
    for name in sorted(withheld):
        explanation.append(
            f"{name}={wanted[name]!r} is held by a CI that is not this one: "
            "the new CI goes without it"
        )
    explanation.append("no rule matched: new CI")
    return Identification(ci=None, rule=None, explanation=explanation, withheld=withheld)


async def join_by_network(store: Store, mac: str | None, address: str | None) -> CI | None:
    """Network evidence for a host a secondary source (SNMP) saw: the one live Host with an
    interface that holds both ``mac`` and ``address``; None when there is none or several.

    Reads: Interface by MAC and by address (open HAS_IP), then the interfaces' parents;
    three batched lookups whatever the network's size."""
    if not mac or not address or not_unique_reason(address) is not None:
        return None  # 127.0.0.1, 0.0.0.0 and the like say nothing about which host
    by_mac = {ci_id for _, ci_id in await store.attribute_pairs("Interface", "mac", [mac])}
    by_ip = {ci_id for _, ci_id in await store.interface_ip_pairs([address])}
    both = sorted(by_mac & by_ip)
    holders = (await address_holders(store, [address])).get(address, {})
    if not both or len(current_holders(holders)) > 1:
        return None  # nobody, or an address several live CIs hold (VRRP, docker0)
    interfaces = await store.get_cis(both)
    parents = sorted({i.attributes.get("parent") for i in interfaces.values()} - {None})
    hosts = [
        ci
        for ci in (await store.get_cis(parents)).values()
        if ci.cls == "Host" and ci.status != "retired"
    ]
    return hosts[0] if len(hosts) == 1 else None


# what a hand-declared CI's sources are until discovery reports it (cmdb.server.catalogue.writes)
PLACEHOLDER_CLASSES = ("Host", "NetworkDevice")
# the attributes that carry a report's names for its root CI, per class
_NAME_ATTRIBUTES = {"Host": ("hostname", "fqdn"), "NetworkDevice": ("sys_name",)}


def reported_names(cls_name: str, attributes: dict, name: str | None) -> list[str]:
    """The names a report gives its root CI (host name, FQDN, sysName, the CI name),
    lower-case, each also as its short name: what a placeholder may have been declared as."""
    names: set[str] = set()
    for raw in (name, *(attributes.get(a) for a in _NAME_ATTRIBUTES.get(cls_name, ()))):
        if isinstance(raw, str) and raw.strip():
            text = raw.strip().lower().rstrip(".")
            names.update((text, short_hostname(text)))
    return sorted(names)


def _contradiction(candidate: CI, wanted: dict[str, str]) -> str | None:
    for rule, theirs in sorted(candidate.identity.items()):
        mine = wanted.get(rule)
        if mine is not None and not holds(candidate, rule, mine):
            return f"{rule} is {theirs!r} there, {mine!r} here"
    return None


async def _declared_by_fqdn(store: Store, cls_name: str, shorts: list[str]) -> set[str]:
    """Ids of the manual-only, not retired ``cls_name`` CIs named by an FQDN whose short
    name is one of ``shorts`` (``cis_by_short_name``); only for a report that names a CI
    nothing else found (a new host)."""
    return {
        ci.id
        for short in shorts
        for ci in await cis_by_short_name(store, cls_name, short)
        if "." in (ci.name or "") and ci.status != "retired" and is_manual_only(ci)
    }


async def adopt_manual_placeholder(
    store: Store,
    found: Identification,
    cls_name: str,
    attributes: dict,
    name: str | None,
    wanted: dict[str, str],
) -> Identification:
    """The last rule, for a report whose root no other rule found (``found.ci`` None):
    the one Host or NetworkDevice declared by hand (sources exactly ``["manual"]``, not
    retired) whose name is a name the report gives (``reported_names``; short name against
    FQDN as ``cmdb.graph.identity.same_host_name`` says) and none of whose identity values
    differs from the report's. That CI becomes ``found.ci`` (rule ``manual_placeholder``);
    with none, or several (no guessing), ``found`` stays a new CI. Nor is anything adopted
    when a rejected candidate withheld a unique key (the CI would take a key another CI
    holds). Two batched reads (names, then the candidates). Returns ``found``, with the
    decision in its explanation."""
    if found.ci is not None or found.withheld or cls_name not in PLACEHOLDER_CLASSES:
        return found
    names = reported_names(cls_name, attributes, name)
    if not names:
        return found
    found_ids = {ci_id for _, ci_id in await store.name_pairs((cls_name,), names)}
    if all("." not in n for n in names):
        # a report with no FQDN (a short host name, a sysName) may name a placeholder that
        # was declared by its FQDN: those are read by the short name, page by page
        found_ids |= await _declared_by_fqdn(store, cls_name, names)
    ids = sorted(found_ids)
    if not ids:
        return found
    fits: list[CI] = []
    for ci in (await store.get_cis(ids)).values():
        if ci.cls != cls_name or ci.status == "retired" or not is_manual_only(ci):
            continue  # discovered CIs are found by their keys, not by a name
        if not any(same_host_name(ci.name or "", n) for n in names):
            continue
        why = _contradiction(ci, wanted)
        if why:
            found.explanation.append(
                f"manual placeholder {ci.id} ({ci.name}) rejected: its key differs: {why}"
            )
            continue
        fits.append(ci)
    if len(fits) > 1:
        listed = ", ".join(f"{c.id} ({c.name})" for c in sorted(fits, key=lambda c: c.id))
        found.explanation.append(
            f"{len(fits)} manual placeholders have this name ({listed}): none adopted, new CI"
        )
    elif fits:
        (ci,) = fits
        found.ci, found.rule = ci, "manual_placeholder"
        found.explanation.append(
            f"manual placeholder by name: {ci.id} ({ci.name}), declared by hand, adopted "
            "instead of a new CI"
        )
    return found
