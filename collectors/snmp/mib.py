"""Declarative column maps and the two readers the MIB-area modules share.

A MIB area declares its table as data::

    IF_TABLE = Table("ifTable", "1.3.6.1.2.1.2.2.1", {
        2: Column("descr", text),
        ...
    })

``read_table`` walks the declared columns side by side (one GETBULK stream) and
returns ``{row index: {field: converted value}}``.

Each table is its own unit of completeness. Inside ``recording(section)`` (what
``inventory`` does for every section) a table whose walk hits a fault keeps the
rows read before it and the outcome is logged as a ``TableStatus`` (complete,
partial, failed) for the section's note; outside it a fault raises
``SnmpError``, so a caller that sees rows knows they are all the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

from cmdb.collectors.snmp.convert import raw
from cmdb.collectors.snmp.session import Oid, SnmpSession, Value, format_oid, parse_oid

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Column:
    field: str
    convert: Callable[[Value], Any] = raw


@dataclass(frozen=True)
class Table:
    """A conceptual table: the entry OID and the columns we read from it."""

    name: str
    entry: str  # e.g. "1.3.6.1.2.1.2.2.1" (ifEntry)
    columns: Mapping[int, Column]

    def column_oids(self) -> list[Oid]:
        base = parse_oid(self.entry)
        return [base + (n,) for n in self.columns]

    def subtrees(self) -> list[str]:
        """The subtrees this table reads (what a fair ``snmpbulkwalk`` walks)."""
        return [format_oid(o) for o in self.column_oids()]


@dataclass(frozen=True)
class Scalars:
    name: str
    objects: Mapping[str, Column]  # full instance OID ("...1.5.0") -> column

    def subtrees(self) -> list[str]:
        return list(self.objects)


TableOutcome = Literal["complete", "partial", "failed"]


@dataclass(frozen=True, slots=True)
class TableStatus:
    """How one MIB table was read: ``failed`` = a fault before any row, ``partial`` =
    rows read before a fault (kept), ``complete`` = every column read to its end."""

    table: str
    status: TableOutcome
    rows: int
    reason: str | None = None


@dataclass
class TableLog:
    """The tables one section read, in order (``recording`` keeps one per section)."""

    section: str
    tables: list[TableStatus] = field(default_factory=list)

    @property
    def faults(self) -> list[TableStatus]:
        return [t for t in self.tables if t.status != "complete"]

    @property
    def nothing_read(self) -> bool:
        """Every table it tried failed before its first row."""
        return bool(self.tables) and all(t.status == "failed" for t in self.tables)


_LOG: ContextVar[TableLog | None] = ContextVar("snmp_table_log", default=None)


@contextmanager
def recording(section: str) -> Iterator[TableLog]:
    """Log the tables read in this context (one asyncio task) instead of raising on faults."""
    log = TableLog(section)
    token = _LOG.set(log)
    try:
        yield log
    finally:
        _LOG.reset(token)


async def read_table(session: SnmpSession, table: Table) -> dict[Oid, Row]:
    """Every row of ``table``: ``{index: {field: value}}``, rows ordered by index.

    A field a row does not have is None (sparse tables are common). Inside
    ``recording`` a fault keeps the rows read and is logged; outside it raises.
    """
    oids = table.column_oids()
    log = _LOG.get()
    if log is None:
        walked_rows = await session.walk_columns(oids)
    else:
        walked = await session.walk_table(oids)
        walked_rows = {oid: col.rows for oid, col in walked.items()}
        faults = [f"{format_oid(oid)}: {col.fault}" for oid, col in walked.items() if col.fault]
        read = sum(len(col.rows) for col in walked.values())
        status: TableOutcome = "complete"
        if faults:
            status = "partial" if read else "failed"
        reason = "; ".join(_squash(faults)) if faults else None
        log.tables.append(
            TableStatus(
                table.name, status, len({i for c in walked_rows.values() for i, _ in c}), reason
            )
        )
    rows: dict[Oid, Row] = {}
    for (_n, col), oid in zip(table.columns.items(), oids, strict=True):
        for index, value in walked_rows[oid]:
            row = rows.get(index)
            if row is None:
                row = rows[index] = {c.field: None for c in table.columns.values()}
            row[col.field] = col.convert(value)
    return dict(sorted(rows.items()))


def _squash(faults: list[str]) -> list[str]:
    """Column faults with one reason (a timeout hits every column of a request) once."""
    by_reason: dict[str, list[str]] = {}
    for f in faults:
        column, _, reason = f.partition(": ")
        by_reason.setdefault(reason, []).append(column)
    return [
        f"column {cols[0]}: {reason}" if len(cols) == 1 else f"columns {', '.join(cols)}: {reason}"
        for reason, cols in by_reason.items()
    ]


async def read_scalars(session: SnmpSession, scalars: Scalars) -> Row:
    got = await session.get(list(scalars.objects))
    return {c.field: c.convert(got.get(oid)) for oid, c in scalars.objects.items()}
