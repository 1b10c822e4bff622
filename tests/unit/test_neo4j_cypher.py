"""Golden tests for the Cypher the Neo4j backend generates from cmdb.graph.schema.

When the schema changes on purpose, regenerate GOLDEN_DDL (print
``cmdb.graph.neo4j.cypher.ddl_statements()``) and review the diff.
"""

# ruff: noqa: E501
from __future__ import annotations

import json

import pytest

from cmdb.graph.neo4j import cypher

GOLDEN_DDL = [
    "CREATE CONSTRAINT ci_id IF NOT EXISTS FOR (n:CI) REQUIRE n.id IS UNIQUE",
    "CREATE INDEX ci_scope IF NOT EXISTS FOR (n:CI) ON (n.scope)",
    "CREATE INDEX ci_class_name IF NOT EXISTS FOR (n:CI) ON (n.class, n.name)",
    "CREATE INDEX ci_status IF NOT EXISTS FOR (n:CI) ON (n.status)",
    "CREATE CONSTRAINT host_key_system_uuid IF NOT EXISTS FOR (n:`Host`) REQUIRE n.`key_system_uuid` IS UNIQUE",
    "CREATE INDEX host_key_serial_key IF NOT EXISTS FOR (n:`Host`) ON (n.`key_serial_key`)",
    "CREATE INDEX host_key_machine_id IF NOT EXISTS FOR (n:`Host`) ON (n.`key_machine_id`)",
    "CREATE INDEX host_key_fqdn_mac IF NOT EXISTS FOR (n:`Host`) ON (n.`key_fqdn_mac`)",
    "CREATE INDEX host_key_hostname_mac IF NOT EXISTS FOR (n:`Host`) ON (n.`key_hostname_mac`)",
    "CREATE CONSTRAINT network_device_key_chassis_serial IF NOT EXISTS FOR (n:`NetworkDevice`) REQUIRE n.`key_chassis_serial` IS UNIQUE",
    "CREATE CONSTRAINT network_device_key_lldp_chassis_id IF NOT EXISTS FOR (n:`NetworkDevice`) REQUIRE n.`key_lldp_chassis_id` IS UNIQUE",
    "CREATE CONSTRAINT network_device_key_base_mac IF NOT EXISTS "
    "FOR (n:`NetworkDevice`) REQUIRE n.`key_base_mac` IS UNIQUE",
    "CREATE CONSTRAINT network_device_key_cdp_device_id IF NOT EXISTS "
    "FOR (n:`NetworkDevice`) REQUIRE n.`key_cdp_device_id` IS UNIQUE",
    "CREATE INDEX network_device_key_identity_address IF NOT EXISTS "
    "FOR (n:`NetworkDevice`) ON (n.`key_identity_address`)",
    "CREATE CONSTRAINT interface_key_parent_name IF NOT EXISTS FOR (n:`Interface`) REQUIRE n.`key_parent_name` IS UNIQUE",
    "CREATE CONSTRAINT ip_address_key_address_scope IF NOT EXISTS FOR (n:`IPAddress`) REQUIRE n.`key_address_scope` IS UNIQUE",
    "CREATE CONSTRAINT network_key_cidr_scope IF NOT EXISTS FOR (n:`Network`) REQUIRE n.`key_cidr_scope` IS UNIQUE",
    "CREATE CONSTRAINT software_key_software_key IF NOT EXISTS FOR (n:`Software`) REQUIRE n.`key_software_key` IS UNIQUE",
    "CREATE CONSTRAINT endpoint_key_host_port IF NOT EXISTS FOR (n:`Endpoint`) REQUIRE n.`key_host_port` IS UNIQUE",
    "CREATE CONSTRAINT service_key_name IF NOT EXISTS FOR (n:`Service`) REQUIRE n.`key_name` IS UNIQUE",
    "CREATE CONSTRAINT redundancy_group_key_group_key IF NOT EXISTS FOR (n:`RedundancyGroup`) REQUIRE n.`key_group_key` IS UNIQUE",
    "CREATE CONSTRAINT asset_key_asset_tag IF NOT EXISTS FOR (n:`Asset`) REQUIRE n.`key_asset_tag` IS UNIQUE",
    "CREATE CONSTRAINT supplier_key_name IF NOT EXISTS FOR (n:`Supplier`) REQUIRE n.`key_name` IS UNIQUE",
    "CREATE CONSTRAINT change_key_change_id IF NOT EXISTS FOR (n:`Change`) REQUIRE n.`key_change_id` IS UNIQUE",
    "CREATE CONSTRAINT rel_has_interface_id IF NOT EXISTS FOR ()-[r:`HAS_INTERFACE`]-() REQUIRE r.id IS UNIQUE",
    "CREATE INDEX rel_has_interface_scope IF NOT EXISTS FOR ()-[r:`HAS_INTERFACE`]-() ON (r.scope)",
    "CREATE INDEX rel_has_interface_first_seen IF NOT EXISTS FOR ()-[r:`HAS_INTERFACE`]-() ON (r.first_seen)",
    "CREATE INDEX rel_has_interface_ended_at IF NOT EXISTS FOR ()-[r:`HAS_INTERFACE`]-() ON (r.ended_at)",
    "CREATE CONSTRAINT rel_has_ip_id IF NOT EXISTS FOR ()-[r:`HAS_IP`]-() REQUIRE r.id IS UNIQUE",
    "CREATE INDEX rel_has_ip_scope IF NOT EXISTS FOR ()-[r:`HAS_IP`]-() ON (r.scope)",
    "CREATE INDEX rel_has_ip_first_seen IF NOT EXISTS FOR ()-[r:`HAS_IP`]-() ON (r.first_seen)",
    "CREATE INDEX rel_has_ip_ended_at IF NOT EXISTS FOR ()-[r:`HAS_IP`]-() ON (r.ended_at)",
    "CREATE CONSTRAINT rel_in_network_id IF NOT EXISTS FOR ()-[r:`IN_NETWORK`]-() REQUIRE r.id IS UNIQUE",
    "CREATE INDEX rel_in_network_scope IF NOT EXISTS FOR ()-[r:`IN_NETWORK`]-() ON (r.scope)",
    "CREATE INDEX rel_in_network_first_seen IF NOT EXISTS FOR ()-[r:`IN_NETWORK`]-() ON (r.first_seen)",
    "CREATE INDEX rel_in_network_ended_at IF NOT EXISTS FOR ()-[r:`IN_NETWORK`]-() ON (r.ended_at)",
    "CREATE CONSTRAINT rel_connected_to_id IF NOT EXISTS FOR ()-[r:`CONNECTED_TO`]-() REQUIRE r.id IS UNIQUE",
    "CREATE INDEX rel_connected_to_scope IF NOT EXISTS FOR ()-[r:`CONNECTED_TO`]-() ON (r.scope)",
    "CREATE INDEX rel_connected_to_first_seen IF NOT EXISTS FOR ()-[r:`CONNECTED_TO`]-() ON (r.first_seen)",
    "CREATE INDEX rel_connected_to_ended_at IF NOT EXISTS FOR ()-[r:`CONNECTED_TO`]-() ON (r.ended_at)",
    "CREATE CONSTRAINT rel_installed_id IF NOT EXISTS FOR ()-[r:`INSTALLED`]-() REQUIRE r.id IS UNIQUE",
    "CREATE INDEX rel_installed_scope IF NOT EXISTS FOR ()-[r:`INSTALLED`]-() ON (r.scope)",
    "CREATE INDEX rel_installed_first_seen IF NOT EXISTS FOR ()-[r:`INSTALLED`]-() ON (r.first_seen)",
    "CREATE INDEX rel_installed_ended_at IF NOT EXISTS FOR ()-[r:`INSTALLED`]-() ON (r.ended_at)",
    "CREATE CONSTRAINT rel_listens_on_id IF NOT EXISTS FOR ()-[r:`LISTENS_ON`]-() REQUIRE r.id IS UNIQUE",
    "CREATE INDEX rel_listens_on_scope IF NOT EXISTS FOR ()-[r:`LISTENS_ON`]-() ON (r.scope)",
    "CREATE INDEX rel_listens_on_first_seen IF NOT EXISTS FOR ()-[r:`LISTENS_ON`]-() ON (r.first_seen)",
    "CREATE INDEX rel_listens_on_ended_at IF NOT EXISTS FOR ()-[r:`LISTENS_ON`]-() ON (r.ended_at)",
    "CREATE CONSTRAINT rel_connects_to_id IF NOT EXISTS FOR ()-[r:`CONNECTS_TO`]-() REQUIRE r.id IS UNIQUE",
    "CREATE INDEX rel_connects_to_scope IF NOT EXISTS FOR ()-[r:`CONNECTS_TO`]-() ON (r.scope)",
    "CREATE INDEX rel_connects_to_first_seen IF NOT EXISTS FOR ()-[r:`CONNECTS_TO`]-() ON (r.first_seen)",
    "CREATE INDEX rel_connects_to_ended_at IF NOT EXISTS FOR ()-[r:`CONNECTS_TO`]-() ON (r.ended_at)",
    "CREATE CONSTRAINT rel_runs_on_id IF NOT EXISTS FOR ()-[r:`RUNS_ON`]-() REQUIRE r.id IS UNIQUE",
    "CREATE INDEX rel_runs_on_scope IF NOT EXISTS FOR ()-[r:`RUNS_ON`]-() ON (r.scope)",
    "CREATE INDEX rel_runs_on_first_seen IF NOT EXISTS FOR ()-[r:`RUNS_ON`]-() ON (r.first_seen)",
    "CREATE INDEX rel_runs_on_ended_at IF NOT EXISTS FOR ()-[r:`RUNS_ON`]-() ON (r.ended_at)",
    "CREATE CONSTRAINT rel_hosted_on_id IF NOT EXISTS FOR ()-[r:`HOSTED_ON`]-() REQUIRE r.id IS UNIQUE",
    "CREATE INDEX rel_hosted_on_scope IF NOT EXISTS FOR ()-[r:`HOSTED_ON`]-() ON (r.scope)",
    "CREATE INDEX rel_hosted_on_first_seen IF NOT EXISTS FOR ()-[r:`HOSTED_ON`]-() ON (r.first_seen)",
    "CREATE INDEX rel_hosted_on_ended_at IF NOT EXISTS FOR ()-[r:`HOSTED_ON`]-() ON (r.ended_at)",
    "CREATE CONSTRAINT rel_member_of_id IF NOT EXISTS FOR ()-[r:`MEMBER_OF`]-() REQUIRE r.id IS UNIQUE",
    "CREATE INDEX rel_member_of_scope IF NOT EXISTS FOR ()-[r:`MEMBER_OF`]-() ON (r.scope)",
    "CREATE INDEX rel_member_of_first_seen IF NOT EXISTS FOR ()-[r:`MEMBER_OF`]-() ON (r.first_seen)",
    "CREATE INDEX rel_member_of_ended_at IF NOT EXISTS FOR ()-[r:`MEMBER_OF`]-() ON (r.ended_at)",
    "CREATE CONSTRAINT rel_depends_on_id IF NOT EXISTS FOR ()-[r:`DEPENDS_ON`]-() REQUIRE r.id IS UNIQUE",
    "CREATE INDEX rel_depends_on_scope IF NOT EXISTS FOR ()-[r:`DEPENDS_ON`]-() ON (r.scope)",
    "CREATE INDEX rel_depends_on_first_seen IF NOT EXISTS FOR ()-[r:`DEPENDS_ON`]-() ON (r.first_seen)",
    "CREATE INDEX rel_depends_on_ended_at IF NOT EXISTS FOR ()-[r:`DEPENDS_ON`]-() ON (r.ended_at)",
    "CREATE CONSTRAINT rel_represents_id IF NOT EXISTS FOR ()-[r:`REPRESENTS`]-() REQUIRE r.id IS UNIQUE",
    "CREATE INDEX rel_represents_scope IF NOT EXISTS FOR ()-[r:`REPRESENTS`]-() ON (r.scope)",
    "CREATE INDEX rel_represents_first_seen IF NOT EXISTS FOR ()-[r:`REPRESENTS`]-() ON (r.first_seen)",
    "CREATE INDEX rel_represents_ended_at IF NOT EXISTS FOR ()-[r:`REPRESENTS`]-() ON (r.ended_at)",
    "CREATE CONSTRAINT rel_supplied_by_id IF NOT EXISTS FOR ()-[r:`SUPPLIED_BY`]-() REQUIRE r.id IS UNIQUE",
    "CREATE INDEX rel_supplied_by_scope IF NOT EXISTS FOR ()-[r:`SUPPLIED_BY`]-() ON (r.scope)",
    "CREATE INDEX rel_supplied_by_first_seen IF NOT EXISTS FOR ()-[r:`SUPPLIED_BY`]-() ON (r.first_seen)",
    "CREATE INDEX rel_supplied_by_ended_at IF NOT EXISTS FOR ()-[r:`SUPPLIED_BY`]-() ON (r.ended_at)",
    "CREATE CONSTRAINT rel_affects_id IF NOT EXISTS FOR ()-[r:`AFFECTS`]-() REQUIRE r.id IS UNIQUE",
    "CREATE INDEX rel_affects_scope IF NOT EXISTS FOR ()-[r:`AFFECTS`]-() ON (r.scope)",
    "CREATE INDEX rel_affects_first_seen IF NOT EXISTS FOR ()-[r:`AFFECTS`]-() ON (r.first_seen)",
    "CREATE INDEX rel_affects_ended_at IF NOT EXISTS FOR ()-[r:`AFFECTS`]-() ON (r.ended_at)",
    "CREATE CONSTRAINT rel_owned_by_id IF NOT EXISTS FOR ()-[r:`OWNED_BY`]-() REQUIRE r.id IS UNIQUE",
    "CREATE INDEX rel_owned_by_scope IF NOT EXISTS FOR ()-[r:`OWNED_BY`]-() ON (r.scope)",
    "CREATE INDEX rel_owned_by_first_seen IF NOT EXISTS FOR ()-[r:`OWNED_BY`]-() ON (r.first_seen)",
    "CREATE INDEX rel_owned_by_ended_at IF NOT EXISTS FOR ()-[r:`OWNED_BY`]-() ON (r.ended_at)",
    "CREATE INDEX interface_mac IF NOT EXISTS FOR (n:`Interface`) ON (n.`mac`)",
    "CREATE INDEX interface_parent IF NOT EXISTS FOR (n:`Interface`) ON (n.`parent`)",
    "CREATE INDEX networkdevice_management_ip IF NOT EXISTS FOR (n:`NetworkDevice`) ON (n.`management_ip`)",
    "CREATE INDEX host_management_ip IF NOT EXISTS FOR (n:`Host`) ON (n.`management_ip`)",
    "CREATE INDEX ipaddress_address IF NOT EXISTS FOR (n:`IPAddress`) ON (n.`address`)",
    "CREATE INDEX history_ci IF NOT EXISTS FOR (h:HistoryEntry) ON (h.ci_id)",
    "CREATE INDEX history_other IF NOT EXISTS FOR (h:HistoryEntry) ON (h.other_id)",
    "CREATE INDEX history_at IF NOT EXISTS FOR (h:HistoryEntry) ON (h.at)",
    "CREATE INDEX history_request IF NOT EXISTS FOR (h:HistoryEntry) ON (h.request_id)",
    "CREATE CONSTRAINT source_state_scope IF NOT EXISTS FOR (s:SourceState) REQUIRE s.scope IS UNIQUE",
    "CREATE CONSTRAINT report_id IF NOT EXISTS FOR (r:Report) REQUIRE r.report_id IS UNIQUE",
    "CREATE CONSTRAINT agent_binding_key IF NOT EXISTS "
    "FOR (b:AgentBinding) REQUIRE b.agent_key IS UNIQUE",
    "CREATE CONSTRAINT identity_lock_key IF NOT EXISTS "
    "FOR (l:IdentityLock) REQUIRE l.key IS UNIQUE",
    "CREATE INDEX prior_identity_value IF NOT EXISTS "
    "FOR (p:PriorIdentity) ON (p.class, p.rule, p.value)",
    "CREATE INDEX prior_identity_ci IF NOT EXISTS FOR (p:PriorIdentity) ON (p.ci_id)",
    "CREATE CONSTRAINT pending_connection_key IF NOT EXISTS FOR (p:PendingConnection) "
    "REQUIRE p.key IS UNIQUE",
    "CREATE INDEX pending_connection_client IF NOT EXISTS FOR (p:PendingConnection) ON (p.client)",
    "CREATE INDEX pending_connection_address IF NOT EXISTS FOR (p:PendingConnection) "
    "ON (p.address)",
    "CREATE INDEX pending_connection_seen IF NOT EXISTS FOR (p:PendingConnection) ON (p.seen_at)",
]


def test_ddl_is_pinned() -> None:
    assert cypher.ddl_statements() == GOLDEN_DDL


def test_ddl_names_are_unique_and_idempotent() -> None:
    names = [cypher.ddl_name(s) for s in GOLDEN_DDL]
    assert len(names) == len(set(names))
    assert all(" IF NOT EXISTS " in s for s in GOLDEN_DDL)


def test_create_relationships_is_grouped_by_type_and_matches_by_ci_id() -> None:
    assert cypher.create_rels("INSTALLED") == (
        "UNWIND $rows AS row "
        "MATCH (a:`CI` {id: row.src}) MATCH (b:`CI` {id: row.dst}) "
        "WHERE NOT EXISTS { MATCH (a)-[x:`INSTALLED`]->(b) WHERE x.ended_at IS NULL } "
        "CREATE (a)-[r:`INSTALLED`]->(b) SET r = row.props"
    )


def test_unique_identity_key_is_set_plainly_so_the_constraint_can_refuse_it() -> None:
    assert cypher.set_unique_key("Host", "system_uuid") == (
        "UNWIND $rows AS row MATCH (n:`CI` {id: row.id}) SET n.`key_system_uuid` = row.value"
    )


def test_traversal_level_is_one_indexed_query_returning_one_record() -> None:
    query = cypher.traverse_next("up", ("RUNS_ON", "DEPENDS_ON"))
    assert query == (
        "UNWIND $frontier AS fid MATCH (a:`CI` {id: fid})<-[r:`RUNS_ON`|`DEPENDS_ON`]-(b) "
        "WHERE r.ended_at IS NULL "
        "RETURN collect([r.id, type(r), b.id, fid, "
        "b.class, b.name, b.status, b.first_seen, b.last_seen, b.scope]) AS steps"
    )
    assert "-[r]-(b)" in cypher.traverse_next("both", None)
    assert "startNode(r).id, endNode(r).id" in cypher.traverse_next("both", None)
    assert "-[r]->(b) WHERE r.ended_at IS NULL RETURN collect([r.id, type(r), fid, b.id, " in (
        cypher.traverse_next("down", None)
    )


def test_close_relationships_seeks_every_type_by_id() -> None:
    for rel_type in cypher.REL_TYPE_NAMES:
        assert f"MATCH ()-[r:`{rel_type}` {{id: rid}}]->()" in cypher.CLOSE_RELS_BODY


def test_batch_runs_parts_in_order_with_their_own_parameters() -> None:
    batch = cypher.Batch()
    assert not batch
    batch.add("UNWIND $rows AS row CREATE (n:X) SET n = row", rows=[{"a": 1}])
    counter = batch.add_counted(
        "UNWIND $rows AS row MATCH (n:X {a: row}) SET n.b = $at", "n", rows=[1], at="t"
    )
    assert counter == "c0"
    assert batch.query() == (
        "CALL () { UNWIND $p0 AS row CREATE (n:X) SET n = row } "
        "CALL () { UNWIND $p1 AS row MATCH (n:X {a: row}) SET n.b = $p2 RETURN count(n) AS c0 } "
        "RETURN c0"
    )
    assert batch.params == {"p0": [{"a": 1}], "p1": [1], "p2": "t"}
    with pytest.raises(KeyError):
        batch.add("SET n.x = $missing")


@pytest.mark.parametrize("bad", ["Host`) DETACH DELETE (n", "1abc", "", "a-b"])
def test_names_reaching_query_text_are_checked(bad: str) -> None:
    with pytest.raises(cypher.CypherNameError):
        cypher.create_cis(bad)


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("x", "x"),
        (3, 3),
        (2.5, 2.5),
        (True, True),
        (["a", "b"], ["a", "b"]),
        ([], []),
        ([1, "a"], 'json:[1,"a"]'),
        ({"b": 1, "a": [1]}, 'json:{"a":[1],"b":1}'),
        ([{"name": "sda"}], 'json:[{"name":"sda"}]'),
        (2**70, "json:" + str(2**70)),
        (None, None),
    ],
)
def test_attribute_values_become_storable_properties(value: object, stored: object) -> None:
    assert cypher.property_value(value) == stored
    if value is not None:
        assert cypher.decode_property(stored) == json.loads(json.dumps(value))


def test_projection_never_overwrites_store_properties() -> None:
    props = cypher.projected(
        {"name": "x", "hostname": "h", "key_system_uuid": "u", "attributes_json": "{}"},
        cypher.NODE_INTERNAL,
    )
    assert props == {"hostname": "h"}
