"""Property: whatever happens to the spool's files (random bytes flipped, truncated,
replaced, emptied, nested deep), the send loop never raises, delivers every intact
report in order, and moves every broken one aside with a reason."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmdb.agent.runner import flush
from cmdb.agent.spool import Spool, SpoolCorrupt, decode_report
from tests.integration.test_agent_protocol import ScriptedServer
from tests.reports import agent_report

REPLACEMENTS = [
    b"",
    b"[]",
    b"\x1f\x8b",
    b"[" * 50_000,
    __import__("gzip").compress(b"[" * 200_000 + b"]" * 200_000),
    __import__("gzip").compress(b'{"report_id": 1, "sections": {}}'),
    __import__("gzip").compress(b'"just a string"'),
]

damage = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 10_000)),
    st.tuples(st.just("replace"), st.sampled_from(REPLACEMENTS)),
    st.tuples(st.just("random"), st.binary(max_size=300)),
    st.tuples(st.just("append"), st.binary(min_size=1, max_size=50)),
)


def apply(data: bytes, how: tuple) -> bytes:
    kind = how[0]
    if kind == "flip":
        at = how[1] % max(len(data), 1)
        return data[:at] + bytes([data[at] ^ how[2]]) + data[at + 1 :] if data else data
    if kind == "truncate":
        return data[: how[1] % max(len(data), 1)]
    if kind == "append":
        return data + how[1]
    return how[1]


SERVER = ScriptedServer()


def setup_module() -> None:
    SERVER.__enter__()


def teardown_module() -> None:
    SERVER.__exit__(None, None, None)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    damages=st.lists(st.one_of(st.none(), damage), min_size=1, max_size=6),
)
def test_no_spool_file_can_stop_the_queue(damages):
    SERVER.applied.clear()
    SERVER.last_applied = None
    with tempfile.TemporaryDirectory() as tmp:
        spool = Spool(Path(tmp) / "spool")
        intact, broken = [], 0
        for i, how in enumerate(damages):
            report = agent_report(packages=i + 1)
            path = spool.put(report)
            if how is not None:
                path.write_bytes(apply(path.read_bytes(), how))
            try:
                # damage that leaves a valid gzip (a flipped header byte) leaves a report
                intact.append(decode_report(path.read_bytes())["report_id"])
            except SpoolCorrupt:
                broken += 1
        outcome = flush(SERVER.url, "t", spool)  # must not raise
        assert outcome.pending == 0 and outcome.stopped is None
        assert [r["report_id"] for r in SERVER.applied] == intact
        assert outcome.sent == len(intact) and outcome.set_aside == broken
        corrupt = Path(tmp) / "spool" / "corrupt"
        assert len(list(corrupt.glob("*.json.gz"))) == broken
        assert len(list(corrupt.glob("*.reason"))) == broken
