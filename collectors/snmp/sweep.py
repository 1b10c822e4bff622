"""Sweep a set of addresses: probe each with the credential profiles in order,
then collect the full inventory of those that answered.

Each target ends in one ``SweepResult``: ``answered`` (with the profile that
worked and, unless ``collect=False``, its ``DeviceInventory``), ``timeout`` (no
profile got an answer) or ``error`` (an answer, but every profile was refused
or the agent misbehaved). Errors are values here: ``sweep`` itself only raises
for bad arguments.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from cmdb.collectors.snmp.inventory import DEFAULT_BUDGET, collect_device
from cmdb.collectors.snmp.records import DeviceInventory
from cmdb.collectors.snmp.session import (
    Credential,
    SnmpError,
    SnmpTimeout,
    open_session,
)

SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
Status = Literal["answered", "timeout", "error"]


@dataclass(frozen=True, slots=True)
class SweepTarget:
    host: str
    port: int = 161


@dataclass(slots=True)
class SweepResult:
    host: str
    port: int
    status: Status
    credential: str | None = None  # label of the profile that worked
    credential_index: int | None = None  # its position in the list given
    sys_object_id: str | None = None
    inventory: DeviceInventory | None = None
    error: str | None = None
    duration_ms: int = 0


Progress = Callable[[SweepResult, int, int], None | Awaitable[None]]


def _targets(
    targets: Iterable[str | tuple[str, int] | SweepTarget], port: int
) -> list[SweepTarget]:
    out = []
    for t in targets:
        if isinstance(t, SweepTarget):
            out.append(t)
        elif isinstance(t, str):
            out.append(SweepTarget(t, port))
        else:
            host, p = t
            out.append(SweepTarget(host, int(p)))
    return out


async def probe(
    target: SweepTarget,
    credentials: Sequence[Credential],
    *,
    timeout: float,
    retries: int,
) -> tuple[SweepResult, Credential | None]:
    """GET sysObjectID.0 with each profile in turn until one gets an answer."""
    started = time.perf_counter()
    errors: list[str] = []
    answered_somehow = False
    for i, cred in enumerate(credentials):
        session = await open_session(
            target.host, cred, target.port, timeout=timeout, retries=retries
        )
        try:
            got = await session.get([SYS_OBJECT_ID])
        except SnmpTimeout as exc:
            errors.append(str(exc))
            continue
        except SnmpError as exc:
            answered_somehow = True
            errors.append(str(exc))
            continue
        res = SweepResult(
            target.host,
            target.port,
            "answered",
            credential=cred.label,
            credential_index=i,
            sys_object_id=got.get(SYS_OBJECT_ID),  # type: ignore[arg-type]
        )
        res.duration_ms = round((time.perf_counter() - started) * 1000)
        return res, cred
    status: Status = "error" if answered_somehow else "timeout"
    if status == "timeout":
        message = (
            f"no SNMP answer from {target.host}:{target.port} with "
            f"{len(credentials)} credential profile(s)"
        )
    else:
        message = "; ".join(errors)
    res = SweepResult(target.host, target.port, status, error=message)
    res.duration_ms = round((time.perf_counter() - started) * 1000)
    return res, None


async def sweep(
    targets: Iterable[str | tuple[str, int] | SweepTarget],
    credentials: Sequence[Credential],
    concurrency: int = 50,
    timeout: float = 1.0,
    retries: int = 1,
    on_progress: Progress | None = None,
    *,
    port: int = 161,
    collect: bool = True,
    collect_timeout: float | None = None,
    parallel: int = 4,
    budget: float | None = DEFAULT_BUDGET,
    charset: str | None = None,
) -> list[SweepResult]:
    """Probe and inventory every target, at most ``concurrency`` at a time.

    Results come back in the order of ``targets``. ``on_progress(result, done,
    total)`` (sync or async) is called as each target finishes.
    ``collect_timeout`` is the per-request timeout while collecting (defaults to
    ``max(timeout, 2.0)``: a device that answered deserves patience).
    ``budget`` bounds each device's inventory in seconds (timeouts are retried
    with smaller requests until then); ``charset`` decodes strings that are not
    UTF-8 (default cp1252, then latin-1).
    """
    if not credentials:
        raise ValueError("sweep needs at least one credential profile")
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    todo = _targets(targets, port)
    total = len(todo)
    results: list[SweepResult | None] = [None] * total
    limit = asyncio.Semaphore(concurrency)
    done = 0
    ctimeout = collect_timeout if collect_timeout is not None else max(timeout, 2.0)

    async def one(i: int, target: SweepTarget) -> None:
        nonlocal done
        async with limit:
            started = time.perf_counter()
            try:
                res, cred = await probe(target, credentials, timeout=timeout, retries=retries)
                if collect and cred is not None:
                    session = await open_session(
                        target.host, cred, target.port, timeout=ctimeout, retries=retries
                    )
                    res.inventory = await collect_device(
                        session, parallel=parallel, budget=budget, charset=charset
                    )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let one address fail the sweep
                res = SweepResult(
                    target.host, target.port, "error", error=f"{type(exc).__name__}: {exc}"
                )
            res.duration_ms = round((time.perf_counter() - started) * 1000)
        results[i] = res
        done += 1
        if on_progress is not None:
            out = on_progress(res, done, total)
            if inspect.isawaitable(out):
                await out

    await asyncio.gather(*(one(i, t) for i, t in enumerate(todo)))
    return [r for r in results if r is not None]


__all__ = ["SweepResult", "SweepTarget", "probe", "sweep"]
