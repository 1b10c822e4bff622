"""The agent against a real HTTP server that answers each status of the report protocol
(docs/agent.md): what it sends, what it keeps, what it moves aside, what it logs."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import stat
import threading
from collections.abc import Callable
from typing import Any

from aiohttp import web

from cmdb.agent.delta import DeltaState
from cmdb.agent.runner import default_state_dir, flush, retry_wait, run_once
from cmdb.agent.spool import Spool
from cmdb.agent.trim import LEFT_OUT_MESSAGE
from tests.reports import agent_report

Answer = tuple[int, Any, dict[str, str]]


class ScriptedServer:
    """A real aiohttp server on 127.0.0.1 that speaks the report protocol: it applies full
    reports and deltas whose base it holds, answers 409 full_report_required to others,
    200 duplicate to a report id it applied, and 413 past ``limit`` decompressed bytes.
    ``script(report, server)`` may answer instead (return None to fall through)."""

    def __init__(
        self,
        script: Callable[[dict[str, Any], ScriptedServer], Answer | None] | None = None,
        limit: int | None = None,
    ) -> None:
        self.script = script
        self.limit = limit
        self.received: list[dict[str, Any]] = []  # every decoded report, in arrival order
        self.applied: list[dict[str, Any]] = []
        self.last_applied: str | None = None
        self.tokens: list[str] = []
        self.url = ""

    def answer(self, report: dict[str, Any], size: int) -> Answer:
        if self.script is not None:
            scripted = self.script(report, self)
            if scripted is not None:
                return scripted
        if self.limit is not None and size > self.limit:
            return 413, {"status": "too_large", "limit": self.limit, "which": "decompressed"}, {}
        if any(r["report_id"] == report["report_id"] for r in self.applied):
            return 200, {"status": "duplicate", "report_id": report["report_id"]}, {}
        if report.get("mode") == "delta" and report.get("base_report_id") != self.last_applied:
            return 409, {"status": "full_report_required", "reason": "base not applied here"}, {}
        self.applied.append(report)
        self.last_applied = report["report_id"]
        return 201, {"status": "applied", "report_id": report["report_id"]}, {}

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()  # aiohttp undoes the gzip Content-Encoding
        self.tokens.append(request.headers.get("Authorization", ""))
        report = json.loads(raw)
        self.received.append(report)
        status, body, headers = self.answer(report, len(raw))
        if isinstance(body, str):
            return web.Response(status=status, text=body, headers=headers)
        return web.json_response(body, status=status, headers=headers)

    async def _start(self) -> None:
        app = web.Application(client_max_size=256 << 20)
        app.router.add_post("/api/v1/reports", self._handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def __enter__(self) -> ScriptedServer:
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self._start())
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        assert ready.wait(10), "the scripted server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def busy_report(packages: int = 20, connections: int = 0, processes: int = 3) -> dict[str, Any]:
    report = agent_report(
        packages=packages,
        connections=[
            {
                "protocol": "tcp",
                "local_address": "10.20.0.5",
                "local_port": 40000 + i % 20000,
                "remote_address": f"10.30.0.{i % 20}",
                "remote_port": 5432,
                "pid": 900,
                "process": "app",
                "status": "ESTABLISHED",
            }
            for i in range(connections)
        ],
    )
    report["sections"]["processes"] = [
        {"pid": i, "name": f"p{i}", "exe": f"/usr/bin/p{i}", "user": "root", "cmdline": "x" * 200}
        for i in range(processes)
    ]
    report["sections"]["gateways"] = [
        {"family": 4, "address": "10.20.0.1", "interface": "eth0", "is_default": True}
    ]
    return report


def collector(**kwargs: Any) -> Callable[[], dict[str, Any]]:
    return lambda: busy_report(**kwargs)


def spooled(spool_dir) -> list:
    return sorted(spool_dir.glob("*.json.gz"))


# ---------------------------------------------------------------- deltas and sequence
def test_full_then_delta_with_base_and_identity_sections(tmp_path):
    spool = tmp_path / "spool"
    with ScriptedServer() as server:
        assert run_once(server.url, "t", spool, collector(packages=20)).ok
        assert run_once(server.url, "t", spool, collector(packages=21)).ok
    first, second = server.received
    assert first["mode"] == "full" and "base_report_id" not in first
    assert second["mode"] == "delta"
    assert second["base_report_id"] == first["report_id"]
    # identity always travels; the changed section travels; the rest is named unchanged
    assert {"system", "interfaces", "gateways", "packages"} <= set(second["sections"])
    assert "os" in second["unchanged_sections"] and "os" not in second["sections"]
    assert isinstance(first["sequence"], int) and second["sequence"] > first["sequence"]
    assert spooled(spool) == []


def test_409_full_report_required_sends_the_whole_report_in_the_same_run(tmp_path, caplog):
    spool = tmp_path / "spool"
    with ScriptedServer() as server:
        assert run_once(server.url, "t", spool, collector(packages=20)).ok
        server.applied.clear()
        server.last_applied = None  # the server's database was restored from an old backup
        caplog.set_level(logging.WARNING, "cmdb.agent")
        outcome = run_once(server.url, "t", spool, collector(packages=21))
    assert outcome.ok and outcome.sent == 1
    delta, full = server.received[1:]
    assert delta["mode"] == "delta" and full["mode"] == "full"
    assert full["report_id"] == delta["report_id"] and full["sequence"] == delta["sequence"]
    assert set(full["sections"]) == set(busy_report()["sections"])
    assert "sending it whole" in caplog.text
    # the full report is now the base on this server
    state = DeltaState.for_server(default_state_dir(spool), server.url)
    assert state.base_report_id == full["report_id"]


def test_delta_state_is_per_server(tmp_path):
    spool = tmp_path / "spool"
    with ScriptedServer() as old, ScriptedServer() as new:
        assert run_once(old.url, "t", spool, collector()).ok
        assert run_once(old.url, "t", spool, collector()).ok
        # migrated to a new, empty server: the first report there is whole, no 409 needed
        assert run_once(new.url, "t", spool, collector()).ok
        assert run_once(old.url, "t", spool, collector()).ok
    assert [r["mode"] for r in old.received] == ["full", "delta", "delta"]
    assert [r["mode"] for r in new.received] == ["full"]
    assert old.received[2]["base_report_id"] == old.received[1]["report_id"]


def test_sequence_grows_across_restarts_even_when_the_clock_goes_back(tmp_path):
    from cmdb.agent.sequence import Sequence

    now = [2_000_000_000.0]
    seq = Sequence(tmp_path / "state", clock=lambda: now[0])
    first = seq.next()
    now[0] = 978_307_200.0  # CMOS reset: 2001
    again = Sequence(tmp_path / "state", clock=lambda: now[0])
    second = again.next()
    assert second == first + 1
    assert Sequence(tmp_path / "state", clock=lambda: now[0]).next() == second + 1
    mode = stat.S_IMODE((tmp_path / "state" / "sequence").stat().st_mode)
    assert mode == 0o600


# ---------------------------------------------------------------- size
def test_413_resends_without_the_largest_sections_marked_partial(tmp_path, caplog):
    spool = tmp_path / "spool"
    report = busy_report(packages=200, connections=3000, processes=2000)
    rest = copy.deepcopy(report)
    del rest["sections"]["processes"], rest["sections"]["connections"]
    limit = len(json.dumps(rest)) + 2000  # over until both processes and connections go
    with ScriptedServer(limit=limit) as server:
        caplog.set_level(logging.WARNING, "cmdb.agent")
        outcome = run_once(server.url, "t", spool, lambda: copy.deepcopy(report))
    assert outcome.ok and spooled(spool) == []
    assert [len(r["sections"]) for r in server.received] == [
        len(report["sections"]),
        len(report["sections"]) - 1,
        len(report["sections"]) - 2,
    ]
    assert len({r["report_id"] for r in server.received}) == 1
    applied = server.applied[-1]
    assert "connections" not in applied["sections"] and "processes" not in applied["sections"]
    assert len(applied["sections"]["packages"]) == 200
    notes = {n["section"]: n for n in applied["notes"]}
    assert notes["connections"]["message"] == LEFT_OUT_MESSAGE
    assert notes["processes"]["message"] == LEFT_OUT_MESSAGE
    assert len(json.dumps(applied)) <= limit
    assert "resending without connections" in caplog.text
    assert "resending without processes" in caplog.text
    # the left-out sections are not the server's: the next report carries them again
    state = DeltaState.for_server(default_state_dir(spool), server.url)
    assert "connections" not in state.digests and "processes" not in state.digests
    assert "packages" in state.digests


def test_413_after_everything_but_identity_is_set_aside_and_the_queue_goes_on(tmp_path):
    spool = tmp_path / "spool"

    def script(report, server):
        if report["sections"]["system"]["hostname"] == "huge":
            return 413, {"status": "too_large", "limit": 10}, {}
        return None

    with ScriptedServer(script) as server:
        huge = busy_report()
        huge["sections"]["system"]["hostname"] = "huge"
        Spool(spool).put(huge)
        outcome = run_once(server.url, "t", spool, collector())
    assert outcome.set_aside == 1 and outcome.sent == 1 and outcome.pending == 0
    assert len(list((spool / "rejected").glob("*.json.gz"))) == 1
    reason = next((spool / "rejected").glob("*.reason")).read_text()
    assert "too large" in reason


def test_aggregated_connections_pass_the_real_schema(tmp_path):
    from cmdb.server.ingest import validate_report

    spool = tmp_path / "spool"
    with ScriptedServer() as server:
        assert run_once(server.url, "t", spool, collector(connections=5000)).ok
    sent = server.received[0]
    rows = sent["sections"]["connections"]
    assert len(rows) < 100 and sum(r["count"] for r in rows) == 5000
    validate_report(sent)


# ---------------------------------------------------------------- refusals
def test_403_moves_the_report_aside_and_says_a_token_per_host(tmp_path, caplog):
    spool = tmp_path / "spool"
    answers = iter([(403, {"status": "forbidden", "reason": "token bound to host web2"}, {})])

    with ScriptedServer(lambda r, s: next(answers, None)) as server:
        caplog.set_level(logging.ERROR, "cmdb.agent")
        first = run_once(server.url, "t", spool, collector())
        second = run_once(server.url, "t", spool, collector())
    assert first.set_aside == 1 and first.pending == 0
    assert second.ok and second.sent == 1
    assert "each host needs its own agent token" in caplog.text
    assert "token bound to host web2" in next((spool / "rejected").glob("*.reason")).read_text()
    mode = stat.S_IMODE((spool / "rejected").stat().st_mode)
    assert mode == 0o700


def test_422_on_a_delta_is_answered_with_the_full_report(tmp_path):
    spool = tmp_path / "spool"

    def script(report, server):
        if report.get("mode") == "delta":
            return 422, {"error": {"status": 422, "message": "names no usable identity"}}, {}
        return None

    with ScriptedServer(script) as server:
        assert run_once(server.url, "t", spool, collector()).ok
        assert run_once(server.url, "t", spool, collector(packages=21)).ok
    assert [r["mode"] for r in server.received] == ["full", "delta", "full"]
    assert not (spool / "rejected").exists()


def test_400_on_a_full_report_is_set_aside_with_the_message(tmp_path):
    spool = tmp_path / "spool"
    answers = iter([(400, {"error": {"status": 400, "message": "$.sections.cpu: bad"}}, {})])
    with ScriptedServer(lambda r, s: next(answers, None)) as server:
        outcome = run_once(server.url, "t", spool, collector())
    assert outcome.set_aside == 1 and outcome.sent == 0 and outcome.pending == 0
    assert "$.sections.cpu: bad" in next((spool / "rejected").glob("*.reason")).read_text()


def test_duplicate_and_superseded_are_dropped(tmp_path, caplog):
    spool = tmp_path / "spool"
    answers = iter(
        [
            (200, {"status": "superseded"}, {}),
            (200, {"status": "duplicate"}, {}),
        ]
    )
    with ScriptedServer(lambda r, s: next(answers, None)) as server:
        caplog.set_level(logging.INFO, "cmdb.agent")
        assert run_once(server.url, "t", spool, collector()).ok
        assert run_once(server.url, "t", spool, collector()).ok
        assert run_once(server.url, "t", spool, collector()).ok
    assert "superseded" in caplog.text
    # neither answer makes a base: the third report goes whole
    assert [r["mode"] for r in server.received] == ["full", "full", "full"]
    assert spooled(spool) == []


# ---------------------------------------------------------------- waiting
def test_503_keeps_everything_in_order_and_honours_retry_after(tmp_path):
    spool = tmp_path / "spool"
    down = [True]

    def script(report, server):
        if down[0]:
            return 503, {"error": {"status": 503, "message": "busy"}}, {"Retry-After": "7"}
        return None

    with ScriptedServer(script) as server:
        first = run_once(server.url, "t", spool, collector(packages=1))
        second = run_once(server.url, "t", spool, collector(packages=2))
        assert first.pending == 1 and second.pending == 2 and not second.ok
        assert second.last.retry_after == 7
        assert all(retry_wait(second.last, 5.0, 900.0) >= 7 for _ in range(50))
        down[0] = False
        later = flush(server.url, "t", Spool(spool))
    assert later.ok and later.sent == 2
    applied = [len(r["sections"]["packages"]) for r in server.applied]
    assert applied == [1, 2]


def test_unreachable_server_and_a_proxy_page_keep_the_report(tmp_path):
    spool = tmp_path / "spool"
    outcome = run_once("http://127.0.0.1:9", "t", spool, collector())
    assert outcome.pending == 1 and not outcome.ok and outcome.last.status is None
    answers = iter([(200, "<html>proxy login</html>", {})])
    with ScriptedServer(lambda r, s: next(answers, None)) as server:
        kept = flush(server.url, "t", Spool(spool))
        assert kept.pending == 1
        sent = flush(server.url, "t", Spool(spool))
    assert sent.ok and sent.sent == 1


def test_401_keeps_the_queue_and_the_token_file_is_read_before_each_send(tmp_path):
    from cmdb.agent.token import token_source

    spool = tmp_path / "spool"
    token_file = tmp_path / "token"
    token_file.write_text("old-token\n")
    token_file.chmod(0o600)

    def script(report, server):
        if server.tokens[-1] != "Bearer new-token":
            return 401, {"error": {"status": 401, "message": "unknown token"}}, {}
        return None

    token = token_source(str(token_file), None, env={})
    with ScriptedServer(script) as server:
        refused = run_once(server.url, token, spool, collector())
        assert refused.pending == 1 and not refused.ok
        token_file.write_text("new-token\n")  # rotated without restarting the agent
        assert flush(server.url, token, Spool(spool)).ok
