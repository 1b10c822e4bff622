"""The agent's loop: collect, spool, send in order; act on each answer; never stop.

One report's journey (``deliver``): the delta for this server, then as the server
answers (``cmdb.agent.protocol``) the whole report at once (409 full_report_required, or a
delta refused as invalid), the report without its largest sections (413), or a final
verdict. The queue (``flush``) goes oldest first and stops only while the server cannot
take reports (no answer, 5xx, 429, 401); a file that is not a report, or a report
refused for good, is moved aside and the next one goes.

A full disk does not stop the agent: what is already spooled is sent, and a report that
cannot be spooled is sent directly (in the daemon it is held in memory, the newest one
only, until the server takes it).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cmdb.agent.client import SendResult, send_report
from cmdb.agent.delta import DeltaState
from cmdb.agent.protocol import Verdict, classify
from cmdb.agent.sequence import Sequence
from cmdb.agent.spool import Spool, SpoolCorrupt, SpoolUnavailable
from cmdb.agent.token import TokenError
from cmdb.agent.trim import leave_out, next_to_leave_out

log = logging.getLogger("cmdb.agent")

Token = str | Callable[[], str]
MAX_ATTEMPTS = 8  # sends of one report in one go: full + up to 3 sections left out + margin
TOKEN_PER_HOST = (
    "each host needs its own agent token: create one with "
    "`cmdb token create --role agent --name <host>` and give it to this host's agent "
    "with --token-file PATH"
)


@dataclass
class Delivery:
    """What became of one report: ``done`` (the spool may forget it), ``aside`` (refused
    for good: why), or neither (keep it and stop the queue until later)."""

    done: bool
    result: SendResult | None
    verdict: Verdict | None = None
    aside: str | None = None


@dataclass
class FlushOutcome:
    sent: int = 0  # reports the server took (applied, unchanged, duplicate, superseded)
    pending: int = 0  # still in the spool
    set_aside: int = 0  # moved to corrupt/ or rejected/ (or refused, when not spooled)
    lost: int = 0  # could neither be spooled nor sent
    last: SendResult | None = None
    stopped: Verdict | None = None  # RETRY or UNAUTHORIZED when the queue stopped
    reasons: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.pending == 0 and self.stopped is None and self.lost == 0


def _token(token: Token) -> str:
    return token() if callable(token) else token


def deliver(
    server: str,
    token: Token,
    report: dict[str, Any],
    state: DeltaState,
    timeout: float = 30.0,
) -> Delivery:
    """Send ``report`` until the server gives a final answer or asks to wait."""
    rid = report.get("report_id")
    full = False
    left_out: list[str] = []
    result: SendResult | None = None
    for _ in range(MAX_ATTEMPTS):
        outgoing = leave_out(state.delta(report, full=full), left_out)
        result = send_report(server, _token(token), outgoing, timeout=timeout)
        verdict = classify(result)
        if verdict is Verdict.APPLIED:
            state.acknowledged(report, outgoing, left_out=left_out)
            log.info("report %s (%s) %s", rid, outgoing.get("mode"), result.answer or "applied")
            return Delivery(True, result, verdict)
        if verdict is Verdict.DUPLICATE:
            state.forget()  # applied earlier; which report the server holds last is not known
            log.info("report %s was already applied (duplicate)", rid)
            return Delivery(True, result, verdict)
        if verdict is Verdict.SUPERSEDED:
            log.info(
                "report %s superseded: the server already applied a newer report of this host",
                rid,
            )
            return Delivery(True, result, verdict)
        if verdict is Verdict.FULL_REQUIRED:
            if outgoing.get("mode") != "delta":
                log.warning("report %s: a full report was answered %s", rid, result.message)
                return Delivery(False, result, Verdict.RETRY)
            log.warning(
                "report %s: the server does not hold the delta's base (%s); sending it whole",
                rid,
                result.message,
            )
            state.forget()
            full = True
            continue
        if verdict is Verdict.TOO_LARGE:
            name = next_to_leave_out(outgoing)
            limit = f" of {result.limit} bytes" if result.limit else ""
            if name is None:
                reason = f"too large for the server's limit{limit} even with only its identity"
                log.error("report %s %s; moved aside", rid, reason)
                return Delivery(False, result, verdict, aside=reason)
            log.warning(
                "report %s is over the server's limit%s: resending without %s", rid, limit, name
            )
            left_out.append(name)
            continue
        if verdict is Verdict.FORBIDDEN:
            log.error(
                "report %s refused (403 %s): %s; the report is moved aside",
                rid,
                result.message,
                TOKEN_PER_HOST,
            )
            return Delivery(False, result, verdict, aside=f"403 {result.message}; {TOKEN_PER_HOST}")
        if verdict is Verdict.REJECTED:
            if outgoing.get("mode") == "delta":
                # nothing is given up for a reason that sending more could fix
                log.warning("delta %s refused (%s): sending it whole", rid, result.message)
                state.forget()
                full = True
                continue
            state.forget()
            log.error(
                "report %s rejected (%s): %s; moved aside", rid, result.status, result.message
            )
            return Delivery(False, result, verdict, aside=f"{result.status} {result.message}")
        if verdict is Verdict.UNAUTHORIZED:
            log.error(
                "the server refuses the agent's token (401 %s): check --token-file; "
                "reports stay in the spool",
                result.message,
            )
        else:
            log.warning("server did not take report %s: %s", rid, result.message)
        return Delivery(False, result, verdict)
    log.warning("report %s: no final answer after %d sends; kept", rid, MAX_ATTEMPTS)
    return Delivery(False, result, Verdict.RETRY)


def flush(
    server: str,
    token: Token,
    spool: Spool,
    timeout: float = 30.0,
    state_dir: str | Path | None = None,
) -> FlushOutcome:
    """Send spooled reports oldest first; stop at the first one the server cannot take now."""
    outcome = FlushOutcome()
    state = DeltaState.for_server(state_dir or default_state_dir(spool.dir), server)
    for path in spool.pending():
        try:
            report = spool.load(path)
        except FileNotFoundError:
            continue  # another agent process sent it
        except SpoolCorrupt as exc:
            log.error("spooled report %s is unreadable (%s); moved to corrupt/", path.name, exc)
            spool.move_aside(path, "corrupt", str(exc))
            outcome.set_aside += 1
            outcome.reasons.append(f"{path.name}: {exc}")
            continue
        try:
            delivery = deliver(server, token, report, state, timeout)
        except TokenError as exc:
            log.error("%s; reports stay in the spool", exc)
            outcome.stopped = Verdict.UNAUTHORIZED
            outcome.reasons.append(str(exc))
            break
        except Exception as exc:  # noqa: BLE001 - no report may stop the queue
            log.exception("cannot send spooled report %s; moved to corrupt/", path.name)
            reason = f"cannot be sent: {type(exc).__name__}: {exc}"[:500]
            spool.move_aside(path, "corrupt", reason)
            outcome.set_aside += 1
            outcome.reasons.append(f"{path.name}: {reason}")
            continue
        outcome.last = delivery.result
        if delivery.done:
            spool.remove(path)
            outcome.sent += 1
        elif delivery.aside is not None:
            spool.move_aside(path, "rejected", delivery.aside)
            outcome.set_aside += 1
            outcome.reasons.append(delivery.aside)
        else:
            outcome.stopped = delivery.verdict
            break
    outcome.pending = len(spool)
    return outcome


def send_unspooled(
    server: str,
    token: Token,
    report: dict[str, Any],
    outcome: FlushOutcome,
    state_dir: str | Path,
    timeout: float = 30.0,
) -> bool:
    """Send a report that could not be spooled, after the spool (true when it is settled:
    taken or refused for good, and then never to be retried)."""
    if outcome.stopped is not None:
        return False
    state = DeltaState.for_server(state_dir, server)
    try:
        delivery = deliver(server, token, report, state, timeout)
    except TokenError as exc:
        log.error("%s", exc)
        outcome.stopped = Verdict.UNAUTHORIZED
        return False
    outcome.last = delivery.result
    if delivery.done:
        outcome.sent += 1
        return True
    if delivery.aside is not None:
        outcome.set_aside += 1
        outcome.reasons.append(delivery.aside)
        log.error(
            "the unspooled report %s was refused: %s", report.get("report_id"), delivery.aside
        )
        return True
    outcome.stopped = delivery.verdict
    return False


def default_state_dir(spool_dir: str | Path) -> Path:
    return Path(spool_dir) / "state"


def prepare(report: dict[str, Any], sequence: Sequence) -> dict[str, Any]:
    """Stamp a collected report with its sequence and group its connections."""
    from cmdb.collectors.host.sockets import aggregate_connections

    sections = report.get("sections") or {}
    if isinstance(sections.get("connections"), list):
        sections["connections"] = aggregate_connections(
            sections["connections"], sections.get("listening")
        )
    report["sequence"] = sequence.next()
    report["agent_instance"] = sequence.instance
    return report


def _collect() -> dict[str, Any]:
    from cmdb.collectors.host import collect_report

    return collect_report().to_json()


def _forget_old_state(spool_dir: Path) -> None:
    # the pre-sequence agent kept one delta state for whatever server it spoke to
    try:
        (spool_dir / "last-acknowledged.json").unlink(missing_ok=True)
    except OSError:
        pass


def run_once(
    server: str,
    token: Token,
    spool_dir: str | Path,
    collect: Callable[[], dict[str, Any]] = _collect,
    state_dir: str | Path | None = None,
    timeout: float = 30.0,
) -> FlushOutcome:
    """Collect one report, spool it (durable before the first byte goes out), send the
    spool; when the spool cannot take the report, send it directly after the spool."""
    spool = Spool(spool_dir)
    state_dir = Path(state_dir) if state_dir else default_state_dir(spool.dir)
    _forget_old_state(spool.dir)
    unspooled = None
    try:
        report = prepare(collect(), Sequence(state_dir))
    except Exception:  # noqa: BLE001 - what is spooled still goes
        log.exception("collection failed; sending what is spooled")
        report = None
    if report is not None:
        try:
            spool.put(report)
        except SpoolUnavailable as exc:
            log.error("%s; sending the report without spooling it", exc)
            unspooled = report
    outcome = flush(server, token, spool, timeout, state_dir)
    if unspooled is not None and not send_unspooled(
        server, token, unspooled, outcome, state_dir, timeout
    ):
        outcome.lost += 1
        log.error(
            "report %s could neither be spooled nor sent; the next run collects again",
            unspooled.get("report_id"),
        )
    return outcome


def retry_wait(result: SendResult | None, backoff: float, max_backoff: float, rng=random) -> float:
    """Seconds before the next try: exponential back-off with jitter, never sooner than
    the server's Retry-After (plus up to 25 % so a fleet does not come back at once)."""
    wait = min(backoff * rng.uniform(0.5, 1.5), max_backoff)
    hint = result.retry_after if result else None
    if hint is not None:
        wait = max(wait, hint * rng.uniform(1.0, 1.25))
    return wait


def run_forever(
    server: str,
    token: Token,
    spool_dir: str | Path,
    interval: float = 3600.0,
    jitter: float = 0.1,
    max_backoff: float = 900.0,
    collect: Callable[[], dict[str, Any]] = _collect,
    stop: Callable[[], bool] = lambda: False,
    state_dir: str | Path | None = None,
    timeout: float = 30.0,
) -> None:
    """Collect every ``interval`` seconds (± jitter); between collections, retry sends with
    exponential back-off so that a fleet coming back after an outage does not stampede.
    No exception ends the loop: it is logged and the loop goes on after a back-off."""
    spool = Spool(spool_dir)
    state_dir = Path(state_dir) if state_dir else default_state_dir(spool.dir)
    _forget_old_state(spool.dir)
    sequence = Sequence(state_dir)
    held: dict[str, Any] | None = None  # the newest report the spool could not take
    # spread agents that start together (after a reboot of many VMs) over the interval
    next_collect = time.monotonic() + random.uniform(0, interval * jitter)
    next_send = time.monotonic()
    backoff = 5.0
    while not stop():
        try:
            now = time.monotonic()
            if now >= next_collect:
                next_collect = now + interval * random.uniform(1 - jitter, 1 + jitter)
                held = _collect_and_spool(collect, sequence, spool, held)
                next_send = min(next_send, now)
            if time.monotonic() >= next_send:
                outcome = flush(server, token, spool, timeout, state_dir)
                if held is not None and send_unspooled(
                    server, token, held, outcome, state_dir, timeout
                ):
                    held = None
                if outcome.stopped is None and held is None:
                    backoff = 5.0
                    next_send = next_collect
                else:
                    wait = retry_wait(outcome.last, backoff, max_backoff)
                    backoff = min(backoff * 2, max_backoff)
                    next_send = time.monotonic() + wait
                    log.info(
                        "%d report(s) pending%s; next try in %.0f s",
                        outcome.pending,
                        " and one held in memory" if held is not None else "",
                        wait,
                    )
        except Exception:  # noqa: BLE001 - the daemon outlives any one failure
            log.exception("agent loop failed; going on after %.0f s", backoff)
            next_send = time.monotonic() + backoff
            backoff = min(backoff * 2, max_backoff)
        deadline = max(min(next_collect, next_send), time.monotonic() + 0.5)
        while not stop() and time.monotonic() < deadline:
            time.sleep(max(0.0, min(1.0, deadline - time.monotonic())))


def _collect_and_spool(
    collect: Callable[[], dict[str, Any]],
    sequence: Sequence,
    spool: Spool,
    held: dict[str, Any] | None,
) -> dict[str, Any] | None:
    try:
        report = prepare(collect(), sequence)
    except Exception:  # noqa: BLE001
        log.exception("collection failed")
        return held
    try:
        spool.put(report)
    except SpoolUnavailable as exc:
        log.error("%s; holding the report in memory and sending it directly", exc)
        return report  # replaces an older held one: the newest describes the host best
    return None  # the spool works again; a held older report is superseded by this one
