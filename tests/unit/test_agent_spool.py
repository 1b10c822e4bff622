"""The spool: private modes, any broken file moved aside with its reason, and a full or
read-only disk that does not stop the agent."""

from __future__ import annotations

import gzip
import json
import os
import stat
import subprocess
import zlib
from contextlib import contextmanager

import pytest

from cmdb.agent.delta import DeltaState
from cmdb.agent.files import private_dir
from cmdb.agent.spool import Spool, SpoolCorrupt, SpoolUnavailable, decode_report
from cmdb.agent.token import TokenError, read_token_file, token_source
from tests.reports import agent_report


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_spool_and_state_files_are_private_even_with_an_open_umask(tmp_path):
    old = os.umask(0o000)
    try:
        spool = Spool(tmp_path / "spool")
        path = spool.put(agent_report())
        state = DeltaState.for_server(tmp_path / "spool" / "state", "http://s")
        report = agent_report()
        state.acknowledged(report, {**report, "mode": "full"})
    finally:
        os.umask(old)
    assert mode(tmp_path / "spool") == 0o700 and mode(path) == 0o600
    assert mode(tmp_path / "spool" / "state") == 0o700 and mode(state.path) == 0o600


def test_an_old_world_readable_spool_is_corrected_on_start(tmp_path, caplog):
    directory = tmp_path / "spool"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    old = directory / "00000000000000000001-1-000001.json.gz"
    old.write_bytes(gzip.compress(json.dumps(agent_report()).encode()))
    old.chmod(0o644)
    Spool(directory)
    assert mode(directory) == 0o700 and mode(old) == 0o600
    assert "corrected the mode" in caplog.text


def gz(value) -> bytes:
    return gzip.compress(json.dumps(value).encode())


BROKEN = {
    "bad deflate stream": gz(agent_report())[:20] + b"\xff" * 40 + gz(agent_report())[60:],
    "truncated gzip": gz(agent_report())[:-30],
    "not gzip at all": b'{"report_id": "x"}',
    "empty file": b"",
    "a JSON list": gz([agent_report()]),
    "a JSON string": gz("report"),
    "deep nesting": gzip.compress(b"[" * 100_000 + b"]" * 100_000),
    "deep nesting in an object": gzip.compress(
        b'{"report_id":"abcdefgh","sections":' + b'{"a":' * 50_000 + b"1" + b"}" * 50_001
    ),
    "sections is a list": gz({**agent_report(), "sections": []}),
    "report_id is a number": gz({**agent_report(), "report_id": 12345678}),
    "notes is a string": gz({**agent_report(), "notes": "x"}),
    "sequence is negative": gz({**agent_report(), "sequence": -1}),
    "not UTF-8": gzip.compress(b'{"report_id": "\xff\xfe"}'),
    "trailing garbage": gz(agent_report()) + b"garbage",
}


@pytest.mark.parametrize("data", BROKEN.values(), ids=BROKEN.keys())
def test_every_kind_of_broken_file_is_refused_with_a_reason(data):
    with pytest.raises(SpoolCorrupt) as info:
        decode_report(data)
    assert str(info.value)


def test_a_decompression_bomb_is_refused_without_inflating_it(monkeypatch):
    import cmdb.agent.spool

    monkeypatch.setattr(cmdb.agent.spool, "MAX_DECOMPRESSED", 1 << 20)
    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
    data = bomb.compress(b"{" + b" " * (8 << 20)) + bomb.flush()
    with pytest.raises(SpoolCorrupt, match="more than"):
        decode_report(data)


def test_move_aside_keeps_the_file_and_its_reason(tmp_path):
    spool = Spool(tmp_path)
    path = spool.put(agent_report())
    target = spool.move_aside(path, "corrupt", "a JSON list")
    assert target is not None and target.exists() and not path.exists()
    reason = target.with_name(target.name.removesuffix(".json.gz") + ".reason")
    assert reason.read_text() == "a JSON list\n"
    assert mode(tmp_path / "corrupt") == 0o700 and mode(reason) == 0o600
    assert spool.pending() == []


# ---------------------------------------------------------------- full and read-only disks
@contextmanager
def small_filesystem(path, size="64k"):
    """A real tmpfs of ``size`` at ``path`` (needs root, as CI and this machine have)."""
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory) -> None:
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)


def test_a_full_disk_raises_spool_unavailable_and_leaves_no_temp_file(tmp_path):
    with small_filesystem(tmp_path / "fs") as fs:
        spool = Spool(fs / "spool")
        fill(fs)
        with pytest.raises(SpoolUnavailable, match="disk is full"):
            spool.put(agent_report(packages=2000))
        assert [p.name for p in (fs / "spool").iterdir()] == []


def test_a_read_only_disk_is_named_as_such(tmp_path):
    with small_filesystem(tmp_path / "fs", "1m") as fs:
        spool = Spool(fs / "spool")
        kept = spool.put(agent_report())
        subprocess.run(["mount", "-o", "remount,ro", str(fs)], check=True)
        with pytest.raises(SpoolUnavailable, match="read-only"):
            spool.put(agent_report())
        # moving aside fails too: the file is skipped, the queue is not blocked
        assert spool.move_aside(kept, "corrupt", "test") is None
        assert spool.pending() == []


# ---------------------------------------------------------------- token
def test_token_sources_in_order_and_the_file_is_checked(tmp_path, caplog):
    token_file = tmp_path / "token"
    token_file.write_text("  abc  \n")
    token_file.chmod(0o644)
    assert token_source(str(token_file), "flag", env={"CMDB_TOKEN": "env"})() == "abc"
    assert "readable by other users" in caplog.text
    assert token_source(None, "flag", env={"CMDB_TOKEN": "env"})() == "flag"
    assert "visible to every user" in caplog.text
    assert token_source(None, None, env={"CMDB_TOKEN_FILE": str(token_file)})() == "abc"
    assert token_source(None, None, env={"CMDB_TOKEN": "env"})() == "env"
    with pytest.raises(TokenError, match="no token"):
        token_source(None, None, env={})
    with pytest.raises(TokenError, match="cannot read"):
        token_source(str(tmp_path / "missing"), None, env={})
    token_file.write_text("\n")
    with pytest.raises(TokenError, match="empty"):
        read_token_file(token_file)


def test_private_dir_does_not_raise_on_a_path_it_cannot_create(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert private_dir(blocker / "sub") == blocker / "sub"
