"""The address rules that need no store: which addresses can never identify or link
anything (``not_unique_reason``), how they are scoped as CIs, how observed connections are
classified by remote address, and which holders of an address count."""

from __future__ import annotations

import ipaddress

import pytest

from cmdb.server.catalogue.connections import observations
from cmdb.server.reconcile.addresses import add_address, net_scope, not_unique_reason
from cmdb.server.reconcile.desired import Desired, DesiredCI
from cmdb.server.reconcile.holders import current_holders


@pytest.mark.parametrize(
    ("address", "prefixlen", "reason"),
    [
        ("0.0.0.0", None, "unspecified"),
        ("0.1.2.3", None, "unspecified"),  # RFC 1122 "this network": a source, never a holder
        ("::", None, "unspecified"),
        ("::ffff:0.0.0.0", None, "unspecified"),
        ("127.0.0.1", None, "loopback"),
        ("127.8.9.10", None, "loopback"),
        ("::1", None, "loopback"),
        ("::ffff:127.0.0.1", None, "loopback"),  # IPv4-mapped: judged as the IPv4 address
        ("169.254.10.20", None, "link-local"),
        ("fe80::5054:ff:fe12:3456", None, "link-local"),
        ("fe80::1%eth0", None, "link-local"),  # with a zone, as `ss` prints it
        ("::ffff:169.254.1.1", None, "link-local"),
        ("224.0.0.18", None, "multicast"),  # VRRP advertisements
        ("239.255.255.250", None, "multicast"),
        ("ff02::1", None, "multicast"),
        ("::ffff:224.0.0.251", None, "multicast"),
        ("255.255.255.255", None, "broadcast"),
        ("10.20.0.255", 24, "broadcast"),  # the subnet's directed broadcast
        ("10.20.1.255", 23, "broadcast"),
        ("not an address", None, "invalid"),
        ("", None, "invalid"),
    ],
)
def test_addresses_that_never_identify(address, prefixlen, reason):
    assert not_unique_reason(address, prefixlen) == reason


@pytest.mark.parametrize(
    ("address", "prefixlen"),
    [
        ("10.20.0.5", 24),
        ("10.20.0.255", 23),  # a host address in a /23
        ("10.20.0.255", None),  # without a prefix a .255 is not known to be a broadcast
        ("192.0.2.1", 31),  # /31 point-to-point links have no broadcast (RFC 3021)
        ("192.0.2.255", 32),
        ("172.17.0.1", 16),  # docker0: unique by kind; only the store knows it is shared
        ("2001:db8::10", 64),
        ("::ffff:10.1.2.3", None),
        ("100.64.0.1", 10),
    ],
)
def test_ordinary_addresses_can_identify(address, prefixlen):
    assert not_unique_reason(address, prefixlen) is None


def test_the_predicate_takes_parsed_addresses_too():
    assert not_unique_reason(ipaddress.ip_address("::ffff:127.0.0.1")) == "loopback"
    assert not_unique_reason(ipaddress.ip_address("10.0.0.1")) is None


def test_only_identifying_addresses_are_global():
    assert net_scope(ipaddress.ip_address("10.0.0.1"), "host") == "global"
    for text in ("127.0.0.1", "fe80::1", "224.0.0.18", "255.255.255.255"):
        assert net_scope(ipaddress.ip_address(text), "host") == "host:host", text
    assert net_scope(ipaddress.ip_address("10.0.0.255"), "host", 24) == "host:host"


def _added(text: str, prefixlen: int | None) -> Desired:
    root = DesiredCI(ref="host", cls="Host", attributes={}, name="h", section=None)
    desired = Desired(source="agent", root=root)
    iface = ipaddress.ip_interface(f"{text}/{prefixlen}" if prefixlen is not None else text)
    add_address(desired, "if:eth0", iface, prefixlen, "host", "interfaces", set())
    return desired


def test_unspecified_address_on_an_interface_is_not_a_ci():
    desired = _added("0.0.0.0", 8)
    assert desired.cis == [] and desired.rels == []


@pytest.mark.parametrize(("text", "prefixlen"), [("224.0.0.18", None), ("10.0.0.255", 24)])
def test_multicast_and_broadcast_on_an_interface_stay_on_their_host(text, prefixlen):
    desired = _added(text, prefixlen)
    ips = [ci for ci in desired.cis if ci.cls == "IPAddress"]
    assert [ci.attributes["net_scope"] for ci in ips] == ["host:host"]
    assert all(ci.scoped and ci.parent_ref == "host" for ci in desired.cis)


def test_ordinary_address_on_an_interface_is_global():
    desired = _added("10.0.0.7", 24)
    (ip,) = [ci for ci in desired.cis if ci.cls == "IPAddress"]
    assert ip.attributes["net_scope"] == "global" and not ip.scoped


def _conn(remote: str, port: int, local_port: int = 40000) -> dict:
    return {
        "protocol": "tcp",
        "local_address": "10.0.0.7",
        "local_port": local_port,
        "remote_address": remote,
        "remote_port": port,
        "process": "client",
        "status": "ESTABLISHED",
    }


def test_connections_are_classified_by_remote_address_kind():
    observed = observations(
        [
            _conn("127.0.0.1", 6379),
            _conn("::ffff:127.0.0.1", 6380, 40001),
            _conn("0.0.0.0", 8080, 40002),  # connect() to 0.0.0.0 reaches this host
            _conn("fe80::1%eth0", 22, 40003),
            _conn("224.0.0.18", 112, 40004),
            _conn("255.255.255.255", 9, 40005),
            _conn("::ffff:10.0.0.9", 5432, 40006),
            _conn("10.0.0.9", 5432, 40007),  # the same endpoint twice: one observation
            _conn("10.0.0.9", 8443, 8443),  # the server half of an inbound connection
        ],
        [{"protocol": "tcp", "port": 8443}],
    )
    assert observed.local == {6379: "client", 6380: "client", 8080: "client"}
    assert observed.remote == {("10.0.0.9", 5432): "client"}
    assert observed.not_unique == 3


def test_live_holders_count_and_stale_ones_only_without_them():
    assert current_holders({"a": "live", "b": "stale"}) == {"a"}
    assert current_holders({"a": "live", "b": "live"}) == {"a", "b"}
    assert current_holders({"a": "stale"}) == {"a"}
    assert current_holders({}) == set()
