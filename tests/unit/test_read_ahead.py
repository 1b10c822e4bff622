"""``cmdb.graph.queries.ReadAhead``: reads started early are handed over whole, once, and
only for the ids asked; the rest are read when asked; unclaimed reads are cancelled."""

from __future__ import annotations

import asyncio

import pytest

from cmdb.graph.queries import ReadAhead

pytestmark = pytest.mark.asyncio


class Rows:
    """A store read: two rows per id, each (id, n); records the batches it was given."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = asyncio.Event()

    async def read(self, ids: list[str]) -> list[tuple[str, int]]:
        self.batches.append(ids)
        await self.release.wait()
        return [(i, n) for i in ids for n in (1, 2)]


async def test_started_reads_are_taken_once_and_only_for_the_ids_asked():
    rows = Rows()
    ahead = ReadAhead(rows.read, lambda row: row[0])
    ahead.start(["b", "a"])
    ahead.start(["a", "c"])  # "a" is under way: only "c" is read
    await asyncio.sleep(0)
    assert rows.batches == [["a", "b"], ["c"]]
    rows.release.set()
    got = await ahead.take({"a", "c", "d"})  # "d" was never started: read now
    assert sorted(got) == [("a", 1), ("a", 2), ("c", 1), ("c", 2), ("d", 1), ("d", 2)]
    assert rows.batches[-1] == ["d"]
    assert sorted(await ahead.take({"b"})) == [("b", 1), ("b", 2)]  # from the first read
    await ahead.take({"a"})
    assert rows.batches[-1] == ["a"]  # taken once: asked again, read again


async def test_reads_nobody_takes_are_cancelled():
    rows = Rows()
    ahead = ReadAhead(rows.read, lambda row: row[0])
    ahead.start(["a"])
    await asyncio.sleep(0)
    future = ahead._started["a"]
    ahead.cancel()
    await asyncio.sleep(0)
    assert future.cancelled()
    assert ahead._started == {}


async def test_a_failed_read_fails_the_take():
    async def broken(ids: list[str]) -> list[tuple[str, int]]:
        raise ConnectionError("store away")

    ahead = ReadAhead(broken, lambda row: row[0])
    ahead.start(["a"])
    with pytest.raises(ConnectionError):
        await ahead.take({"a"})
