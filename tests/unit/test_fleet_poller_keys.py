"""Credentials sealed to one poller (cmdb.server.poller.keys) and the shared state seen from
the event loop (cmdb.server.shared_state.aio): what the fleet tests rely on, checked alone."""

from __future__ import annotations

import asyncio
import os
import stat
import threading
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from cmdb.server.control import ControlDB
from cmdb.server.poller import keys
from cmdb.server.shared_state.aio import AsyncSharedState

PROFILES = [{"version": "3", "user": "nms", "auth_password": "a-secret", "priv_password": "p"}]


def test_sealed_profiles_open_only_with_the_key_and_schedule_they_were_sealed_for():
    key = X25519PrivateKey.generate()
    public = keys.decode_public(keys.encode_public(key.public_key()))
    sealed = keys.seal(PROFILES, public, keys.context("paris", "core"))
    assert "a-secret" not in str(sealed) and sealed["kid"] == keys.fingerprint(public)
    assert keys.open_sealed(sealed, key, keys.context("paris", "core")) == PROFILES
    # another schedule or site, another key, an altered byte: refused, never garbage
    with pytest.raises(keys.SealError):
        keys.open_sealed(sealed, key, keys.context("paris", "edge"))
    with pytest.raises(keys.SealError, match="sealed to key"):
        keys.open_sealed(sealed, X25519PrivateKey.generate(), keys.context("paris", "core"))
    ct = bytearray(keys._unb64(sealed["ct"]))
    ct[0] ^= 1
    altered = {**sealed, "ct": keys._b64(bytes(ct))}
    with pytest.raises(keys.SealError):
        keys.open_sealed(altered, key, keys.context("paris", "core"))
    # two seals of the same profiles differ (an ephemeral key and nonce each)
    assert keys.seal(PROFILES, public, b"x")["ct"] != keys.seal(PROFILES, public, b"x")["ct"]


@pytest.mark.parametrize("text", [None, "", "abc", "A" * 44, 12])
def test_a_public_key_that_is_not_one_is_refused(text):
    with pytest.raises(keys.SealError, match="X25519"):
        keys.decode_public(text)


def test_the_key_file_is_made_once_private_and_read_back(tmp_path):
    state = tmp_path / "state"
    made = keys.load_or_create_key(state)
    assert stat.S_IMODE(os.stat(state / keys.KEY_FILE).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o700
    again = keys.load_or_create_key(state)
    assert keys.fingerprint(again.public_key()) == keys.fingerprint(made.public_key())
    assert [p.name for p in state.iterdir()] == [keys.KEY_FILE]  # no temporary file left
    (state / keys.KEY_FILE).write_text("not a key")
    with pytest.raises(keys.SealError, match="not a PEM private key"):
        keys.load_or_create_key(state)


class SlowControlDB(ControlDB):
    """A real ControlDB whose scan reads take 0.2 s (a slow store), noting their thread."""

    threads: set[int]

    def scan_get(self, scan_id):
        self.threads.add(threading.get_ident())
        time.sleep(0.2)
        return super().scan_get(scan_id)


async def test_shared_state_calls_never_run_on_the_event_loop(tmp_path):
    control = SlowControlDB(tmp_path / "control.db")
    control.threads = set()
    state = AsyncSharedState(control, workers=4)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    beat = asyncio.create_task(ticker())
    try:
        started = time.perf_counter()
        await state.scan_save({"id": "s1", "status": "done"})
        answers = await asyncio.gather(*(state.scan_get("s1") for _ in range(8)))
        elapsed = time.perf_counter() - started
    finally:
        beat.cancel()
        state.close()
        control.close()
    assert all(a["status"] == "done" for a in answers)
    assert threading.get_ident() not in control.threads and len(control.threads) <= 4
    assert elapsed < 1.2  # 8 reads of 0.2 s on 4 threads, not one after another (1.6 s)
    assert ticks >= 0.5 * elapsed / 0.01  # the loop kept turning while they waited
