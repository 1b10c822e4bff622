"""Admission (issue 15, item 4): beyond the limit a refusal at once, with a Retry-After that
hands each refused agent its own return slot, spaced by the server's throughput, so a
burst comes back no faster than the server finishes reports."""

from __future__ import annotations

import contextlib

import pytest

from cmdb.graph.store import ServerBusy
from cmdb.server.admission import Admission


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def full(limit: int, clock: Clock, seconds_each: float) -> tuple[Admission, contextlib.ExitStack]:
    """An admission whose reports have taken ``seconds_each`` in flight, now full."""
    admission = Admission(limit, clock=clock)
    for _ in range(200):  # the smoothed time in flight settles on seconds_each
        with admission.admit():
            clock.now += seconds_each
    stack = contextlib.ExitStack()
    for _ in range(limit):
        stack.enter_context(admission.admit())
    return admission, stack


def refuse(admission: Admission) -> ServerBusy:
    with pytest.raises(ServerBusy) as caught, admission.admit():
        pass
    return caught.value


def test_refused_agents_get_return_slots_spread_at_the_servers_rate():
    clock = Clock()
    admission, stack = full(10, clock, seconds_each=0.5)  # 10 in flight, 0.5 s: 20/s
    assert admission.throughput == pytest.approx(20, rel=0.01)
    waits = [refuse(admission).retry_after for _ in range(400)]
    assert waits == sorted(waits)  # later refusals return later
    # 400 agents at 20/s: the last comes back after about 20 s, not all after 1 s
    assert 19 <= waits[-1] <= 22
    assert waits[0] == 1
    # about 20 agents a second: each second of slots holds the server's throughput
    per_second = {w: waits.count(w) for w in set(waits)}
    assert max(per_second.values()) <= 21
    assert admission.refused == 400
    stack.close()
    assert admission.in_flight == 0


def test_slots_already_passed_are_not_counted_again():
    clock = Clock()
    admission, stack = full(4, clock, seconds_each=1.0)  # 4/s
    for _ in range(40):
        refuse(admission)  # slots up to about 10 s ahead
    assert 38 <= admission.waiting() <= 41
    clock.now += 30  # they all came back (or gave up) long ago
    assert admission.waiting() == 0
    assert refuse(admission).retry_after <= 3  # after the 4 in flight only
    stack.close()


def test_the_wait_is_capped_and_the_message_says_what_to_do():
    clock = Clock()
    admission = Admission(1, max_wait=60, clock=clock)
    for _ in range(50):
        with admission.admit():
            clock.now += 10.0  # 0.1 report/s
    with admission.admit():
        waits = [refuse(admission) for _ in range(100)]
    assert max(w.retry_after for w in waits) == 60
    assert "send this report again in" in str(waits[0])
    assert "in flight" in str(waits[0])


def test_the_limit_and_the_longest_wait_come_from_config_or_environment(tmp_path):
    from cmdb.server.config import load_settings

    config = tmp_path / "cmdb.toml"
    config.write_text("[server]\nmax_reports_in_flight = 4\nmax_retry_after = 60\n")
    settings = load_settings(config_file=config, environ={})
    assert (settings.max_reports_in_flight, settings.max_retry_after) == (4, 60)
    environ = {"CMDB_MAX_REPORTS_IN_FLIGHT": "2", "CMDB_MAX_RETRY_AFTER": "30"}
    settings = load_settings(config_file=config, environ=environ)
    assert (settings.max_reports_in_flight, settings.max_retry_after) == (2, 30)
