"""The CLI against a real server: CIs named by name, FQDN, address or serial; ambiguity
named; readable nested output; ``--json``; relationship filters; token revoke; bad URLs;
a closed pipe; ``--help`` and the README agree on defaults."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from cmdb.server.cli import main, output
from cmdb.server.cli.output import to_text
from tests.unit.cli_server import start

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    server, stop = start(tmp_path_factory.mktemp("cli"))
    yield server
    stop()


@pytest.fixture
def cli(live, monkeypatch, capsys):
    monkeypatch.setenv("CMDB_SERVER", live.url)
    monkeypatch.setenv("CMDB_TOKEN", live.reader)

    def run(*argv: str) -> tuple[int, str, str]:
        status = main(list(argv))
        out, err = capsys.readouterr()
        return status, out, err

    return run


@pytest.mark.parametrize(
    "ref, host",
    [
        ("db1", "db1"),
        ("DB1", "db1"),
        ("db1.example.net", "db1"),
        ("app.eu.example.net", "app.eu"),
        ("10.0.0.2", "db2"),
        ("SRV-0004", "app.us"),
    ],
)
def test_ci_show_takes_names_addresses_serials(cli, live, ref, host):
    status, out, _ = cli("ci", "show", ref, "--json")
    assert status == 0
    assert json.loads(out)["id"] == live.hosts[host]


@pytest.mark.parametrize("ref", ["db1:22", "db1:tcp/22", "10.0.0.1:22", "DB1.example.net:22"])
def test_an_endpoint_is_its_host_and_port(cli, live, ref):
    status, out, err = cli("ci", "show", ref, "--json")
    assert status == 0, err
    endpoint = json.loads(out)
    assert endpoint["class"] == "Endpoint"
    assert (endpoint["attributes"]["host"], endpoint["attributes"]["port"]) == (
        live.hosts["db1"],
        22,
    )


def test_an_endpoint_not_listening_says_so(cli):
    status, _, err = cli("ci", "show", "db1:5432")
    assert status == 1 and "Host db1 has no listening endpoint on port 5432" in err
    status, _, err = cli("ci", "show", "db1:udp/22")
    assert status == 1 and "no listening endpoint on udp/22" in err


@pytest.mark.parametrize("ref", ["127.0.0.1", "::1", "fe80::5054:ff:fe12:3456"])
def test_an_address_every_host_has_names_no_host(cli, ref):
    status, _, err = cli("impact", ref)
    assert status == 1 and "which every host has: it names no one host" in err


def test_an_endpoint_by_its_name_without_the_process(cli, live):
    """ "tcp/22" names the endpoints called "tcp/22 (sshd)": one on each host here, so the
    answer lists them and says how to name one."""
    status, _, err = cli("ci", "show", "tcp/22")
    assert status == 1 and "'tcp/22' is ambiguous: 4 CIs" in err and "HOST:PORT" in err
    listed = [line.split() for line in err.splitlines() if line.strip().startswith("Endpoint")]
    assert sorted(row[3] for row in listed) == ["app", "app", "db1", "db2"]  # the ON column
    status, _, err = cli("ci", "show", "0.0.0.0")
    assert status == 1 and "is an unspecified address" in err


@pytest.mark.parametrize(
    "args",
    [
        ("impact", "db1", "--depth", "0"),
        ("ci", "deps", "db1", "--depth", "0"),
        ("ci", "deps", "db1", "--depth", "-2"),
        ("ci", "deps", "db1", "--limit", "0"),
    ],
)
def test_depths_and_limits_must_be_positive(cli, args):
    """Checked before asking the server: argparse's usage error (exit 2)."""
    with pytest.raises(SystemExit) as exit_:
        cli(*args)
    assert exit_.value.code == 2


def test_ci_show_by_id_and_class_mismatch(cli, live):
    assert json.loads(cli("ci", "show", live.hosts["db1"], "--json")[1])["name"] == "db1"
    status, _, err = cli("ci", "show", live.hosts["db1"], "--class", "Software")
    assert status == 1 and "is a Host, not a Software" in err


def test_ambiguous_name_lists_candidates(cli, live):
    status, out, err = cli("ci", "show", "app")
    assert status == 1 and out == ""
    assert "'app' is ambiguous: 2 CIs" in err
    assert live.hosts["app.eu"] in err and live.hosts["app.us"] in err
    assert "give the id" in err


def test_unknown_name_says_what_was_searched(cli):
    status, _, err = cli("ci", "history", "no-such-host")
    assert status == 1 and "no CI matches 'no-such-host'" in err


def test_ci_show_filters_relationships(cli):
    status, out, _ = cli("ci", "show", "db1")
    assert status == 0
    assert "32 relationships: HAS_INTERFACE -> 1, INSTALLED -> 30, LISTENS_ON -> 1" in out
    assert "showing 20 of 32" in out
    assert "None" not in out and "False" not in out  # no Python reprs
    status, out, _ = cli("ci", "show", "db1", "--rel", "has_interface,LISTENS_ON")
    rows = [line for line in out.splitlines() if line.startswith(("HAS_INTERFACE", "LISTENS_ON"))]
    assert len(rows) == 2 and "showing" not in out
    doc = json.loads(cli("ci", "show", "db1", "--rel", "INSTALLED", "--limit", "5", "--json")[1])
    assert len(doc["relationships"]) == 5 and doc["relationships_total"] == 30
    assert {r["type"] for r in doc["relationships"]} == {"INSTALLED"}
    status, _, err = cli("ci", "show", "db1", "--rel", "INSTALLS")
    assert status == 2 and "unknown relationship type INSTALLS" in err


def test_history_and_deps_by_name(cli):
    status, out, _ = cli("ci", "history", "db2", "--limit", "3")
    assert status == 0 and "3 of " in out and "None" not in out
    status, out, _ = cli("ci", "deps", "10.0.0.1", "--depth", "1", "--json")
    assert status == 0 and json.loads(out)["depth"] == 1


def test_nested_values_as_indented_text():
    text = to_text({"a": None, "b": False, "sla": {"availability": 99.9}, "l": [{"k": "v"}, "x"]})
    assert text.splitlines() == [
        "a: null",
        "b: false",
        "sla:",
        "  availability: 99.9",
        "l:",
        "  - k: v",
        "  - x",
    ]
    assert to_text({"v": "12", "w": "", "x": "a: b"}) == 'v: "12"\nw: ""\nx: "a: b"'


@pytest.mark.parametrize(
    "url, hint",
    [
        ("127.0.0.1:8080", "use http://127.0.0.1:8080"),
        ("ftp://h:1", "must be http:// or https://"),
        ("http://h:port", "port is not a number"),
    ],
)
def test_url_without_scheme_is_explained(monkeypatch, capsys, url, hint):
    monkeypatch.setenv("CMDB_SERVER", url)
    monkeypatch.setenv("CMDB_TOKEN", "x")
    assert main(["ci", "list"]) == 2
    err = capsys.readouterr().err
    assert hint in err and "unknown url type" not in err
    assert ("CMDB_SERVER" in err) and "Traceback" not in err


def test_agent_url_without_scheme_is_explained(capsys, tmp_path):
    status = main(
        ["agent", "run", "--once", "--server", "10.0.0.1:8080", "--token", "t"]
        + ["--spool-dir", str(tmp_path)]
    )
    assert status == 2 and "use http://10.0.0.1:8080" in capsys.readouterr().err


def test_token_revoke_by_name_and_id(live, capsys):
    data = ["--data-dir", str(live.data_dir)]
    assert main(["token", "create", "--role", "reader", "--name", "temp", *data]) == 0
    secret = capsys.readouterr().out.strip()
    assert main(["token", "revoke", "temp", *data]) == 0
    assert "revoked" in capsys.readouterr().out
    tokens = {t["name"]: t for t in _tokens(live, capsys)}
    assert tokens["temp"]["revoked_at"]
    # the server refuses it from now on
    assert main(["ci", "list", "--server", live.url, "--token", secret]) == 1
    assert "401" in capsys.readouterr().err
    assert main(["token", "revoke", str(tokens["temp"]["id"]), *data]) == 0
    assert "already revoked" in capsys.readouterr().out
    assert main(["token", "revoke", "nobody", *data]) == 1


def _tokens(live, capsys):
    main(["token", "list", "--json", "--data-dir", str(live.data_dir)])
    return json.loads(capsys.readouterr().out)["items"]


def test_closed_pipe_is_quiet(live, tmp_path):
    env = {"CMDB_SERVER": live.url, "CMDB_TOKEN": live.reader, "PATH": "/usr/bin:/bin"}
    script = f"{sys.executable} -m cmdb.server.cli ci list --limit 1000 | head -1"
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60
    )
    assert done.stdout.startswith("ID")
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def _help(*argv: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cmdb.server.cli", *argv, "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    return done.stdout


def test_help_states_the_servers_limits():
    from cmdb.server.api.cis import DEPENDENCY_LIMIT, MAX_DEPENDENCY_LIMIT
    from cmdb.server.config import Settings

    deps = _help("ci", "deps")
    assert f"at most max_depth: {Settings().max_depth}" in deps
    assert f"default {DEPENDENCY_LIMIT}, at most {MAX_DEPENDENCY_LIMIT}" in deps
    listing = _help("ci", "list")
    assert f"at most {Settings().max_page_size}" in listing
    assert "default 20; 0 for all" in _help("ci", "show")


def test_readme_impact_depth_matches_the_server():
    """The README must not promise another impact depth than the server applies."""
    from cmdb.server.config import Settings

    readme = (ROOT / "README.md").read_text()
    for match in re.finditer(r"impact [^\n]*--depth (\d+)", readme):
        assert int(match.group(1)) <= Settings().max_depth
    assert "--depth 16" not in readme, "README still says impact --depth 16"


def test_schedule_show_prints_one_schedule_without_secrets(live, capsys):
    """``cmdb schedule show NAME`` against a real server: no SNMP secret in the output."""
    data = ["--data-dir", str(live.data_dir)]
    assert main(["token", "create", "--role", "editor", "--name", "sched-editor", *data]) == 0
    editor = capsys.readouterr().out.strip()
    body = {
        "name": "core",
        "cron": "0 */4 * * *",
        "targets": "127.0.0.1",
        "credentials": [{"version": "2c", "community": "s3cret-community"}],
    }
    _post(live.url, editor, body, "/api/v1/schedules")
    api = ["--server", live.url, "--token", editor]
    assert main(["schedule", "show", "core", *api]) == 0
    out = capsys.readouterr().out
    assert "core" in out and "0 */4 * * *" in out and "s3cret-community" not in out


def _post(url: str, token: str, body: dict, path: str) -> None:
    request = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30):
        pass


def test_impact_without_services_prints_no_empty_table(cli):
    status, out, _ = cli("impact", "app.us.example.net", "--services-only")
    assert status == 0 and out.startswith("If app fails: 0 services down, 0 degraded; ")
    assert "STATE" not in out


def test_control_characters_in_names_are_shown_not_obeyed(capsys):
    """A name holding ESC sequences or a bidirectional override (a device's sysName, a
    declaration) prints escaped, in text and in JSON (where the escape means the same
    character), while the command runs; newlines and tabs stay."""
    evil = "evil\x1b[2J\x1b[31mred\u202ex\x9b"
    with output.terminal_safe():
        print(f"Host {evil}\tlive")
        output.emit_json({"name": evil})
        print(evil, file=sys.stderr)
    out, err = capsys.readouterr()
    assert "\x1b" not in out + err and "\u202e" not in out + err and "\x9b" not in out + err
    assert out.splitlines()[0] == "Host evil\\u001b[2J\\u001b[31mred\\u202ex\\u009b\tlive"
    assert json.loads(out.split("\n", 1)[1]) == {"name": evil}
    assert err == "evil\\u001b[2J\\u001b[31mred\\u202ex\\u009b\n"
    print("\x1b")  # after the block: the streams are the test's own again
    assert capsys.readouterr().out == "\x1b\n"


def test_a_class_prefix_narrows_and_a_live_ci_beats_retired_namesakes(cli, live, monkeypatch):
    """``Host:db1`` as relationship references write it; a name a retired CI shared with a
    live one names the live one, as the API's references choose."""
    status, out, err = cli("ci", "show", "Host:db1", "--json")
    assert status == 0 and json.loads(out)["id"] == live.hosts["db1"], err
    status, _, err = cli("ci", "show", "Software:db1")
    assert status == 1 and "no Software matches 'db1'" in err
    monkeypatch.setenv("CMDB_TOKEN", live.editor)
    status, out, err = cli("ci", "add", "Host", "dup9", "--json")
    first = json.loads(out)["id"]
    assert status == 0 and cli("ci", "retire", first)[0] == 0, err
    status, out, _ = cli("ci", "retire", first)
    assert status == 0 and "(already: nothing changed)" in out
    status, out, err = cli("ci", "add", "Host", "dup9", "--json")
    second = json.loads(out)["id"]
    assert status == 0 and second != first, err
    status, out, err = cli("ci", "show", "dup9", "--json")
    assert status == 0 and json.loads(out)["id"] == second, err
    # the history says who: the token of each manual change
    status, out, _ = cli("ci", "history", first)
    lines = out.splitlines()
    assert status == 0 and lines[0].split()[:4] == ["AT", "SOURCE", "BY", "KIND"]
    assert sum("manual  cli-editor" in line for line in lines) >= 2, out
