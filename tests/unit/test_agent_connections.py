"""Connections grouped with a count: a busy host's 80,000 rows shrink to their groups and
the server draws the same dependencies from the groups as from the rows."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from cmdb.collectors.host.sockets import aggregate_connections
from cmdb.server.catalogue.connections import observations

CASES = Path(__file__).resolve().parents[3] / "shared" / "cases" / "host"


def conn(local_port, remote, remote_port, process="app", pid=1, protocol="tcp"):
    return {
        "protocol": protocol,
        "local_address": "10.0.0.5",
        "local_port": local_port,
        "remote_address": remote,
        "remote_port": remote_port,
        "pid": pid,
        "process": process,
        "status": "ESTABLISHED",
    }


LISTENING = [{"protocol": "tcp6", "address": "::", "port": 443, "pid": 2, "process": "haproxy"}]


def test_outbound_rows_group_by_remote_service_and_inbound_by_listening_port():
    rows = [
        conn(40001, "10.0.0.9", 5432),
        conn(40002, "10.0.0.9", 5432, pid=7),
        conn(40003, "10.0.0.9", 6379),
        conn(443, "203.0.113.7", 51000, process="haproxy", pid=2),
        conn(443, "203.0.113.7", 51001, process="haproxy", pid=2, protocol="tcp6"),
        conn(443, "203.0.113.7", 51002, process="haproxy", pid=2, protocol="tcp6"),
    ]
    groups = aggregate_connections(rows, LISTENING)
    by = {(g["protocol"], g["local_port"], g["remote_port"]): g for g in groups}
    assert len(groups) == 4
    assert by[("tcp", None, 5432)]["count"] == 2 and by[("tcp", None, 5432)]["pid"] is None
    assert by[("tcp", None, 6379)]["count"] == 1 and by[("tcp", None, 6379)]["pid"] == 1
    assert by[("tcp6", 443, None)]["count"] == 2 and by[("tcp6", 443, None)]["pid"] == 2
    assert by[("tcp", 443, None)]["count"] == 1
    assert aggregate_connections(groups, LISTENING) == groups  # counts add up, stable


def test_without_a_listening_section_only_equal_rows_merge():
    rows = [conn(40001, "10.0.0.9", 5432), conn(40001, "10.0.0.9", 5432), conn(443, "1.2.3.4", 9)]
    groups = aggregate_connections(rows, None)
    assert [(g["local_port"], g["remote_port"], g["count"]) for g in groups] == [
        (443, 9, 1),
        (40001, 5432, 2),
    ]


def test_the_huge_report_shrinks_and_means_the_same_to_the_server():
    raw = (CASES / "huge-report" / "r2-busy-edge-80k-connections.json.gz").read_bytes()
    sections = json.loads(gzip.decompress(raw))["sections"]
    rows, listening = sections["connections"], sections["listening"]
    groups = aggregate_connections(rows, listening)
    assert len(rows) == 80_000
    assert len(groups) < 1000
    assert sum(g["count"] for g in groups) == 80_000
    assert observations(groups, listening) == observations(rows, listening)
    assert len(json.dumps(groups)) < len(json.dumps(rows)) // 100


def test_dependencies_survive_grouping_on_a_mixed_host():
    rows = [conn(40000 + i, f"10.1.0.{i % 7}", 5432 + i % 3) for i in range(500)]
    rows += [conn(443, f"10.2.0.{i % 50}", 30000 + i, "haproxy") for i in range(500)]
    rows += [conn(41000 + i, "127.0.0.1", 8080) for i in range(20)]
    listening = LISTENING + [{"protocol": "tcp", "address": "127.0.0.1", "port": 8080}]
    groups = aggregate_connections(rows, listening)
    assert observations(groups, listening) == observations(rows, listening)
    assert sum(g["count"] for g in groups) == len(rows)
