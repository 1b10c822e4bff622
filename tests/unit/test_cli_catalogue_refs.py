"""Catalogue commands take CIs, services, changes and assets as people name them (name,
address, serial, change number, asset tag) against a real server; ``change show``
summarises the impact (all of it behind ``--json``); ``impact`` reads as a sentence."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import pytest

from cmdb.server.cli import main
from tests.unit.cli_server import start

WINDOW = ("--start", "2026-12-01T10:00:00Z", "--end", "2026-12-01T12:00:00Z")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    server, stop = start(tmp_path_factory.mktemp("cli-refs"))
    out = io.StringIO()
    with redirect_stdout(out):
        main(
            [
                "token",
                "create",
                "--role",
                "editor",
                "--name",
                "ed",
                "--data-dir",
                str(server.data_dir),
            ]
        )
    server.editor = out.getvalue().strip()
    yield server
    stop()


@pytest.fixture
def cli(live, monkeypatch, capsys):
    monkeypatch.setenv("CMDB_SERVER", live.url)
    monkeypatch.setenv("CMDB_TOKEN", live.editor)

    def run(*argv: str) -> tuple[int, str, str]:
        status = main(list(argv))
        out, err = capsys.readouterr()
        return status, out, err

    return run


def _json(cli, *argv: str) -> dict:
    status, out, err = cli(*argv, "--json")
    assert status == 0, err
    return json.loads(out)


def test_service_by_name_depending_on_cis_by_name_address_serial(cli, live):
    svc = _json(
        cli, "service", "create", "monitoring", "--owner", "ops",
        "--ci", "db1", "--ci", "10.0.0.2", "--ci", "SRV-0003",
    )  # fmt: skip
    assert {d["ci"] for d in svc["depends_on"]} == {
        live.hosts["db1"],
        live.hosts["db2"],
        live.hosts["app.eu"],
    }
    assert _json(cli, "service", "show", "monitoring")["id"] == svc["id"]
    assert _json(cli, "service", "show", "MONITORING")["id"] == svc["id"]
    shop = _json(cli, "service", "create", "shop", "--service", "monitoring")
    assert [d["service"] for d in shop["depends_on"]] == [svc["id"]]
    status, _, err = cli("service", "show", "no-such-service")
    assert status == 1 and "no Service matches 'no-such-service'" in err


def test_change_by_number_with_cis_by_name(cli, live):
    cli("service", "create", "billing", "--ci", "db2")
    change = _json(cli, "change", "create", "patch db2", "--ci", "db2.example.net", *WINDOW)
    assert [c["id"] for c in change["cis"]] == [live.hosts["db2"]]
    number = change["change_id"]
    assert number.startswith("CHG-")
    status, out, err = cli("change", "transition", number, "assessed")
    assert status == 0, err
    assert out.startswith(f"{number}: assessed")
    assert _json(cli, "change", "show", number)["id"] == change["id"]
    assert _json(cli, "change", "show", number.lower())["state"] == "assessed"
    status, _, err = cli("change", "verify", number)
    assert status == 0, err


def test_change_show_summarises_impact(cli):
    # its own service: the test must not lean on what another test created
    status, _, err = cli("service", "create", "nightly-reports", "--ci", "db1")
    assert status == 0, err
    change = _json(cli, "change", "create", "reboot db1", "--ci", "db1", *WINDOW)
    cli("change", "transition", change["change_id"], "assessed")
    full = _json(cli, "change", "show", change["change_id"])
    assert full["impact"]["services"] and full["impact"]["cis"]  # the whole answer
    status, out, _ = cli("change", "show", change["change_id"])
    assert status == 0
    assert "None" not in out and '{"' not in out  # no Python repr, no JSON line
    assert max(len(line) for line in out.splitlines()) < 200
    assert "impact:" in out and "nightly-reports: down" in out
    assert "--json" in out  # where the whole impact is


def test_asset_by_tag_for_a_ci_by_name(cli, live):
    asset = _json(cli, "asset", "create", "TAG-0042", "--ci", "app.us.example.net")
    assert asset["ci"]["id"] == live.hosts["app.us"]
    assert _json(cli, "asset", "show", "TAG-0042")["id"] == asset["id"]
    moved = _json(cli, "asset", "transition", "TAG-0042", "ordered")
    assert moved["state"] == "ordered"


def test_ci_diff_and_relationships_by_name(cli, live):
    status, out, err = cli(
        "ci-diff", "db1", "--from", "2026-01-01T00:00:00Z", "--to", "2026-12-31T00:00:00Z"
    )
    assert status == 0, err
    assert out.startswith(f"id: {live.hosts['db1']}\n")
    assert "None" not in out and "\nattributes:\n" in out
    status, out, err = cli(
        "rel", "add", "DEPENDS_ON", "--from", "app.eu.example.net", "--to", "db1"
    )
    assert status == 0, err
    assert "Host app DEPENDS_ON Host db1" in out
    data = _json(cli, "rel", "list", "db1")
    assert any(r["from"]["id"] == live.hosts["app.eu"] for r in data["items"])


def test_impact_reads_as_a_sentence(cli):
    status, out, _ = cli("impact", "db1")
    assert status == 0 and "\nIf db1 fails: " in out
    status, out, _ = cli("impact", "db1", "db2")
    assert status == 0 and "\nIf db1 and db2 fail: " in out


def test_service_delete_names_dependants_then_retires(cli):
    _json(cli, "service", "create", "backend", "--owner", "ops", "--ci", "db2")
    _json(cli, "service", "create", "frontend", "--service", "backend")
    status, _, err = cli("service", "delete", "backend")
    assert status == 1 and "409" in err and "frontend" in err
    assert _json(cli, "service", "delete", "frontend")["status"] == "retired"
    assert _json(cli, "service", "delete", "backend")["status"] == "retired"


def test_asset_update_by_tag(cli):
    _json(cli, "asset", "create", "TAG-0077", "--ci", "db2")
    updated = _json(cli, "asset", "update", "TAG-0077", "--location", "DC2 R4")
    assert updated["location"] == "DC2 R4"


def test_impact_lists_the_affected_cis_nearest_first_unless_services_only(cli):
    from cmdb.server.config import Settings

    whole = _json(cli, "impact", "db1")
    assert whole["depth"] == Settings().max_depth  # the server's default, as the API's
    affected = whole["cis"]
    assert len(affected) > 1 and affected[0]["name"] == "db1"
    status, out, _ = cli("impact", "db1", "--limit", "1")
    lines = out.splitlines()
    assert status == 0 and lines[0].split() == ["DEPTH", "STATE", "CLASS", "CI"]
    assert lines[1].split() == ["0", "down", "Host", "db1"]
    assert f"{len(affected)} affected CIs, {len(affected) - 1} more not shown" in out
    down = whole["counts"]["services"]["down"]
    assert f"\nIf db1 fails: {down} service{'' if down == 1 else 's'} down" in out
    assert f"; {len(affected)} CIs down" in out
    status, out, _ = cli("impact", "db1", "--limit", "0")
    lines = out.splitlines()
    assert status == 0 and lines[1 + len(affected)] == f"{len(affected)} affected CIs"
    status, out, _ = cli("impact", "db1", "--services-only")
    assert status == 0 and "affected CI" not in out and "\nIf db1 fails: " in out


def test_counts_read_in_the_singular_for_one():
    from cmdb.server.cli.output import counted

    assert (counted(1, "CI"), counted(0, "CI"), counted(2, "service")) == (
        "1 CI",
        "0 CIs",
        "2 services",
    )


def test_deps_says_how_each_ci_was_reached(cli):
    """The VIA column names a relationship to a CI one step nearer the start; the start
    itself has none."""
    data = _json(cli, "ci", "deps", "db1", "--direction", "up", "--depth", "2")
    at_depth = {n["depth"]: set() for n in data["nodes"]}
    for n in data["nodes"]:
        at_depth[n["depth"]].add(n["name"])
    status, out, _ = cli("ci", "deps", "db1", "--direction", "up", "--depth", "2")
    lines = out.splitlines()
    column = lines[0].index("VIA")
    rows = lines[1 : 1 + len(data["nodes"])]
    assert status == 0 and len(rows) > 1
    assert lines[1 + len(rows)].startswith(f"{len(rows)} CIs, ")
    for line in rows:
        depth, via = int(line.split()[0]), line[column:].strip()
        if depth == 0:
            assert via == "", line  # the start was not reached through anything
        else:
            rel_type, before = via.split(" ", 1)
            assert before in at_depth[depth - 1], line
