"""The steady state (issue 15, item 5), on both stores: a report that repeats its host's
last one is answered from one read (``Store.steady_probe``) and one small write
(``Store.advance_source_state``, a compare-and-set): no identification read, no identity
lock, no transaction around them, no scope read, no schema check of a section the store
already vouches for. Everything else still
takes the full path, with its answers."""

from __future__ import annotations

import asyncio
import copy
import functools
from collections import Counter
from datetime import timedelta

import pytest

from cmdb.graph import times
from cmdb.graph.store import ChangeSet
from cmdb.server import ingest as ingest_module
from cmdb.server.ingest import Ingestor, ReportInvalid
from cmdb.server.reconcile.completeness import section_digests
from tests.reports import agent_report

pytestmark = pytest.mark.asyncio

UNCHANGED = "every section as in the last report applied: unchanged"


def at(minutes: int) -> str:
    """A recent collection time (the server takes one older than 72 hours for a bad clock)."""
    return times.to_store(times.now() - timedelta(hours=3) + timedelta(minutes=minutes))


def report(minutes: int, **kw) -> dict:
    return agent_report(packages=40, collected_at=at(minutes), **kw)


class Spy:
    """Counts the store calls (and transaction lock keys) of what runs while it watches."""

    NAMES = (
        "steady_probe",
        "advance_source_state",
        "find_by_identities",
        "find_by_identity",
        "report_seen",
        "source_state",
        "apply",
    )

    def __init__(self, store, monkeypatch) -> None:
        self.calls: Counter[str] = Counter()
        self.scopes: list[str] = []
        self.lock_keys: list[list[str]] = []
        cls = type(store)
        for name in self.NAMES:
            monkeypatch.setattr(cls, name, self._counted(name, getattr(cls, name)))
        load_scope = cls.load_scope

        async def scope_read(view, scope, *args, **kwargs):
            self.scopes.append(scope)
            return await load_scope(view, scope, *args, **kwargs)

        monkeypatch.setattr(cls, "load_scope", scope_read)
        transaction = cls.transaction

        def locked(view, lock_keys=()):
            self.lock_keys.append(sorted(lock_keys))
            return transaction(view, lock_keys)

        monkeypatch.setattr(cls, "transaction", locked)

    def _counted(self, name, method):
        @functools.wraps(method)
        async def counted(view, *args, **kwargs):
            if not (name == "find_by_identity" and not args[2]):  # no values: no read
                self.calls[name] += 1
            return await method(view, *args, **kwargs)

        return counted

    def reset(self) -> None:
        self.calls.clear()
        self.scopes.clear()
        self.lock_keys.clear()


@pytest.mark.parametrize("agent_key", [None, "token:web1"])
async def test_an_unchanged_report_is_one_read_and_one_small_write(store, monkeypatch, agent_key):
    ingestor = Ingestor(store)
    first = await ingestor.ingest(report(0, report_id="report-1"), agent_key=agent_key)
    spy = Spy(store, monkeypatch)
    again = report(60, report_id="report-2")
    again["sequence"], again["agent_instance"] = 7, "install-1"
    answer = await ingestor.ingest(again, agent_key=agent_key)
    assert answer["status"] == "unchanged" and answer["ci_id"] == first["ci_id"]
    assert answer["identification"][-1] == UNCHANGED
    assert spy.calls["steady_probe"] == 1 and spy.calls["advance_source_state"] == 1
    for read in ("find_by_identities", "find_by_identity", "report_seen", "source_state"):
        assert spy.calls[read] == 0, read
    assert spy.calls["apply"] == 0  # the pending set (observed connections) goes with it
    assert spy.lock_keys == []  # no identity lock, no transaction around the two calls
    assert not [s for s in spy.scopes if s.startswith("agent:")]  # no scope read
    host = await store.get_ci(first["ci_id"])
    state = await store.source_state(f"agent:{host.id}")
    assert (state.report_id, state.sequence, state.instance) == ("report-2", 7, "install-1")
    assert host.last_seen == state.last_report_at == again["collected_at"]
    # the same report again: a duplicate, from the same read
    spy.reset()
    assert (await ingestor.ingest(again, agent_key=agent_key))["status"] == "duplicate"
    assert spy.calls["advance_source_state"] == 0 and spy.lock_keys == []


async def test_the_identification_answer_is_the_full_paths(store):
    ingestor = Ingestor(store)
    first = await ingestor.ingest(report(0))
    # the full path, run by hand on the same store: what identify() says
    from cmdb.server.reconcile.identify import identify

    host = await store.get_ci(first["ci_id"])
    found = await identify(store, "Host", host.identity)
    answer = await ingestor.ingest(report(60))
    assert answer["identification"] == [*found.explanation, UNCHANGED]


async def test_a_section_the_store_vouches_for_is_not_checked_again(store, monkeypatch):
    ingestor = Ingestor(store)
    await ingestor.ingest(report(0))
    checked: Counter[str] = Counter()
    for name, check in list(ingest_module._AGENT_SECTIONS.items()):

        def counting(value, name=name, check=check):
            checked[name] += 1
            return check(value)

        monkeypatch.setitem(ingest_module._AGENT_SECTIONS, name, counting)
    ingest_module._VALID_SECTIONS.clear()  # as in a fleet: this process has not seen them
    busy = report(60)
    busy["sections"]["processes"] = [{"pid": 1, "name": "init"}]
    assert (await ingestor.ingest(busy))["status"] == "unchanged"
    # volatile sections are in no stored digest: checked; the rest is vouched for
    assert set(checked) == {"connections", "processes"}


async def test_a_changed_section_is_checked_before_anything_is_decided(store):
    ingestor = Ingestor(store)
    first = await ingestor.ingest(report(0))
    ingest_module._VALID_SECTIONS.clear()
    bad = report(60)
    bad["sections"]["listening"].append({"protocol": "tcp", "address": "0.0.0.0", "port": "x"})
    with pytest.raises(ReportInvalid, match=r"\$\.sections\.listening"):
        await ingestor.ingest(bad)
    state = await store.source_state(f"agent:{first['ci_id']}")
    assert state.report_id == first["report_id"]  # nothing written


async def test_a_digest_kept_under_another_schema_vouches_for_nothing(store, monkeypatch):
    ingestor = Ingestor(store)
    await ingestor.ingest(report(0))
    # as after an upgrade that changed the packages schema: the kept digest differs
    monkeypatch.setitem(ingest_module.SECTION_KEYS, "packages", b"another schema")
    ingest_module._VALID_SECTIONS.clear()
    answer = await ingestor.ingest(report(60))
    assert answer["status"] == "unchanged"  # compared with the store, found equal
    assert UNCHANGED not in answer["identification"]
    sections = report(0)["sections"]
    assert section_digests(sections, {"packages": b"a"}) != section_digests(
        sections, {"packages": b"b"}
    )
    # the comparison kept the new digest: the next report is the steady state again
    assert (await ingestor.ingest(report(120)))["identification"][-1] == UNCHANGED


async def test_advancing_the_source_state_is_a_compare_and_set(store):
    ingestor = Ingestor(store)
    first = await ingestor.ingest(report(0))
    scope = f"agent:{first['ci_id']}"
    state = await store.source_state(scope)
    moved = copy.copy(state)
    moved.report_id, moved.last_report_at = "r-next", at(30)
    later = moved.last_report_at
    async with store.transaction() as tx:
        assert not await tx.advance_source_state(moved, "not-the-last-one", [first["ci_id"]])
    assert (await store.source_state(scope)).report_id == state.report_id
    assert not await store.report_seen("r-next")
    # what else the report writes goes with it, or not at all (here: a history entry)
    note = ChangeSet(report_id="r-next", source="agent", at=later, record_report=False)
    note.record(first["ci_id"], "observation", "CONNECTS_TO", None, {"port": 1})
    before = len(await all_history(store, first["ci_id"]))
    assert not await store.advance_source_state(moved, "not-the-last-one", [first["ci_id"]], note)
    assert not await store.report_seen("r-next")
    assert len(await all_history(store, first["ci_id"])) == before
    assert await store.advance_source_state(moved, state.report_id, [first["ci_id"]], note)
    assert len(await all_history(store, first["ci_id"])) == before + 1
    after = await store.source_state(scope)
    assert (after.report_id, after.last_report_at) == ("r-next", later)
    assert after.sections == state.sections
    assert (await store.get_ci(first["ci_id"])).last_seen == later
    assert await store.report_seen("r-next")
    # inside a transaction, too
    moved.report_id = "r-after"
    async with store.transaction() as tx:
        assert await tx.advance_source_state(moved, "r-next", [first["ci_id"]])
    assert (await store.source_state(scope)).report_id == "r-after"


async def all_history(store, ci_id: str) -> list:
    _, total = await store.history(ci_id, 1, 0)
    entries, _ = await store.history(ci_id, max(total, 1), 0)
    return entries


async def test_concurrent_reports_of_one_host_keep_state_and_facts_together(store):
    """An unchanged report and a changed one of the same host at once: whichever commits
    last, the state kept matches the facts (the next repeat of a report is judged right)."""
    ingestor = Ingestor(store)
    base = report(0)
    first = await ingestor.ingest(base)
    names = {p["name"] for p in base["sections"]["packages"]}
    for round_ in range(1, 4):
        same = report(round_ * 10)
        changed = report(round_ * 10 + 1)
        changed["sections"]["packages"] = changed["sections"]["packages"][:-3]
        answers = await asyncio.gather(ingestor.ingest(same), ingestor.ingest(changed))
        assert {a["ci_id"] for a in answers} == {first["ci_id"]}
        # the original content again: the host must end with every package
        await ingestor.ingest(report(round_ * 10 + 5))
        views = await store.relationships(first["ci_id"])
        held = {v.other.attributes["name"] for v in views if v.rel.type == "INSTALLED"}
        assert held == names


async def test_a_delta_reads_only_the_sections_it_carries(store, monkeypatch):
    ingestor = Ingestor(store)
    first = await ingestor.ingest(report(0))
    delta = report(60)
    delta["sections"]["listening"].append(
        {"protocol": "tcp", "address": "0.0.0.0", "port": 5432, "pid": 900, "process": "pg"}
    )
    for name in ("packages", "os", "cpu", "memory"):
        del delta["sections"][name]
    delta.update(
        mode="delta",
        base_report_id=first["report_id"],
        unchanged_sections=["cpu", "memory", "os", "packages"],
    )
    loads: list[tuple] = []
    load_scope = type(store).load_scope

    async def recorded(view, scope, rel_types=None):
        loads.append((scope, rel_types))
        return await load_scope(view, scope, rel_types)

    monkeypatch.setattr(type(store), "load_scope", recorded)
    answer = await ingestor.ingest(delta)
    assert answer["status"] == "applied" and answer["counts"]["relationships_created"] == 1
    (types,) = [t for scope, t in loads if scope == f"agent:{first['ci_id']}"]
    assert "INSTALLED" not in types and {"LISTENS_ON", "HAS_INTERFACE"} <= set(types)
    views = await store.relationships(first["ci_id"])
    assert len([v for v in views if v.rel.type == "INSTALLED"]) == 40  # left as they were
    assert 5432 in {v.other.attributes["port"] for v in views if v.rel.type == "LISTENS_ON"}


async def test_only_bookkeeping_skips_the_fsync_and_the_store_stays_durable(store, monkeypatch):
    ingestor = Ingestor(store)
    await ingestor.ingest(report(0))
    durable: list[bool] = []
    advance = type(store).advance_source_state

    async def recorded(view, *args, **kwargs):
        durable.append(args[4] if len(args) > 4 else kwargs.get("durable", True))
        return await advance(view, *args, **kwargs)

    monkeypatch.setattr(type(store), "advance_source_state", recorded)
    assert (await ingestor.ingest(report(60)))["status"] == "unchanged"
    assert durable == [False]  # its time, id and sequence only
    if store.name == "sqlite":
        (level,) = await store._run(lambda: store.conn.execute("PRAGMA synchronous").fetchone())
        assert level == 2  # FULL again for every other commit


async def test_the_full_paths_read_of_the_state_holds_off_a_concurrent_steady_write(store):
    """A full-path report of a host reads the source state inside its transaction; an
    unchanged report of the same host arriving meanwhile (no identity lock) cannot write
    between that read and that transaction's write: its compare-and-set waits, sees the
    state moved on, and the report is run again against it."""
    ingestor = Ingestor(store)
    first = await ingestor.ingest(report(0))
    scope = f"agent:{first['ci_id']}"
    async with store.transaction([f"Host|system_uuid|{first['ci_id']}"]) as tx:
        state = await tx.source_state(scope)
        again = report(60)
        steady = asyncio.create_task(ingestor.ingest(again))
        await asyncio.sleep(0.5)
        assert not steady.done()  # its write waits for this transaction
        moved = copy.copy(state)
        moved.report_id, moved.last_report_at = "report-full-path", at(30)
        await tx.apply(
            ChangeSet(report_id=moved.report_id, source="agent", at=at(30), source_state=moved)
        )
    answer = await steady
    assert answer["status"] == "unchanged" and ingestor.conflicts == 1
    after = await store.source_state(scope)
    assert (after.report_id, after.last_report_at) == (answer["report_id"], again["collected_at"])
