"""No secret given on a command line leaves the host in the processes section."""

from __future__ import annotations

import pytest

from cmdb.collectors.host.redact import REDACTED, is_secret_name, redact_argv, redact_cmdline

SECRET = "S3cr3t-Val_ue"

# (argv, a fragment that must survive: the option names and harmless arguments)
SHAPES = [
    (["cmdb", "agent", "run", "--token", SECRET, "--server", "http://s"], "--server http://s"),
    (["cmdb", "agent", "run", f"--token={SECRET}"], "--token="),
    (["app", "-token", SECRET], "-token"),
    (["app", "--password", SECRET], "--password"),
    (["app", f"--password={SECRET}"], "--password="),
    (["app", "--password", f"{SECRET} with spaces"], "--password"),
    (["app", "--secret", f"-{SECRET}"], "--secret"),
    (["app", f"--db-password={SECRET}"], "--db-password="),
    (["app", "--passwd", SECRET], "--passwd"),
    (["app", f"password={SECRET}"], "password="),
    (["app", f"passwd={SECRET}"], "passwd="),
    (["app", f"secret={SECRET}"], "secret="),
    (["app", f"key={SECRET}"], "key="),
    (["app", f"api_key={SECRET}"], "api_key="),
    (["app", "--api-key", SECRET], "--api-key"),
    (["app", "--apiKey", SECRET], "--apiKey"),
    (["app", f"--clientSecret={SECRET}"], "--clientSecret="),
    (["aws", "--aws-secret-access-key", SECRET], "aws"),
    (["env", f"PGPASSWORD={SECRET}", "psql", "-h", "db"], "psql -h db"),
    (["env", f"MYSQL_PWD={SECRET}", "mysql"], "mysql"),
    (["env", f"AWS_SECRET_ACCESS_KEY={SECRET}", "aws", "s3", "ls"], "aws s3 ls"),
    (["curl", "-H", f"Authorization: Bearer {SECRET}", "https://api"], "https://api"),
    (["curl", "-H", f"Authorization: Basic {SECRET}", "https://api"], "-H"),
    (["curl", "--header", f"X-Api-Key: {SECRET}", "https://api"], "X-Api-Key"),
    (["curl", "-H", f"X-Auth-Token:{SECRET}", "https://api"], "X-Auth-Token"),
    (["wget", f"https://user:{SECRET}@example.com/file"], "https://user:"),
    (["psql", f"postgresql://app:{SECRET}@db:5432/app"], "@db:5432/app"),
    (["git", "clone", f"https://oauth2:{SECRET}@git.example.com/x.git"], "git.example.com"),
    (["app", f"https://example.com/hook?token={SECRET}&page=2"], "&page=2"),
    (["mysql", "-uroot", f"-p{SECRET}", "shop"], "-uroot"),
    (["mysqldump", f"-p{SECRET}", "shop"], "shop"),
    (["sshpass", "-p", SECRET, "ssh", "host"], "ssh host"),
    (["sshpass", f"-p{SECRET}", "ssh", "host"], "ssh host"),
    (["redis-cli", "-a", SECRET, "ping"], "ping"),
    (["java", f"-Dspring.datasource.password={SECRET}", "-jar", "app.jar"], "-jar app.jar"),
    (["app", "--config", f'{{"password": "{SECRET}", "user": "bob"}}'], '"user": "bob"'),
    (["app", "--config", f"{{'token': '{SECRET}'}}"], "--config"),
    (["mount", "-o", f"user=bob,password={SECRET},uid=1000", "//srv/x", "/mnt"], "uid=1000"),
    (["app", f"Server=db;Database=shop;Password={SECRET};"], "Database=shop"),
    (["app", f"secret:{SECRET}"], "app"),
    (["app", "--passphrase", SECRET], "--passphrase"),
    (["app", "--auth-token", SECRET], "--auth-token"),
    (["app", "--access-token", SECRET], "--access-token"),
    (["app", f"--credentials={SECRET}"], "--credentials="),
    (["vault", "login", f"token={SECRET}"], "vault login"),
    # a process that rewrote its title into one string
    ([f"node server.js --token {SECRET} --port 80"], "--port 80"),
    ([f"worker: password={SECRET} queue=default"], "queue=default"),
    ([f"postgres: app Bearer {SECRET}"], "postgres: app"),
]


@pytest.mark.parametrize(("argv", "kept"), SHAPES, ids=[" ".join(a)[:40] for a, _ in SHAPES])
def test_every_shape_of_secret_is_redacted(argv, kept):
    line = redact_cmdline(argv)
    assert SECRET not in line
    assert "Val_ue" not in line and "S3cr3t" not in line
    assert REDACTED in line
    assert kept in line


@pytest.mark.parametrize(
    "argv",
    [
        ["/usr/sbin/sshd", "-D", "-p", "22"],
        ["nginx", "-g", "daemon off;"],
        ["python3", "-m", "http.server", "--bind", "127.0.0.1", "8000"],
        ["app", "--password-file", "/etc/app/pw", "--token-file", "/etc/cmdb/token"],
        ["docker", "login", "--password-stdin", "registry"],
        ["app", "--passive", "--bypass", "x", "--keyboard=us"],
        ["postgres", "-D", "/var/lib/postgresql/15/main", "-c", "config_file=/etc/pg.conf"],
        ["java", "-Xmx2g", "-Dfile.encoding=UTF-8", "-jar", "/opt/app.jar"],
        ["curl", "https://example.com:8443/x?page=2"],
    ],
)
def test_ordinary_command_lines_are_kept_whole(argv):
    assert redact_cmdline(argv) == " ".join(argv)


def test_secret_names_are_judged_by_their_words():
    assert is_secret_name("--token") and is_secret_name("PGPASSWORD")
    assert is_secret_name("api_key") and is_secret_name("--apiKey")
    assert is_secret_name("client.secret") and is_secret_name("X-Auth-Token")
    assert not is_secret_name("--token-file") and not is_secret_name("--password-stdin")
    assert not is_secret_name("--monkey") and not is_secret_name("--keyboard")
    assert not is_secret_name("--port")


def test_redaction_keeps_the_number_of_arguments():
    argv = ["app", "--token", "a b c", "--password=x y", "rest"]
    assert redact_argv(argv) == ["app", "--token", REDACTED, f"--password={REDACTED}", "rest"]


def test_the_process_collector_redacts_a_real_process():
    import subprocess
    import sys

    from cmdb.collectors.host import processes

    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "--token", SECRET, "--verbose"]
    )
    try:
        rows = {p.pid: p for p in processes.collect()}
    finally:
        child.kill()
        child.wait()
    line = rows[child.pid].cmdline
    assert line is not None and line.endswith(f"--token {REDACTED} --verbose")
    assert all(SECRET not in (p.cmdline or "") for p in rows.values())
