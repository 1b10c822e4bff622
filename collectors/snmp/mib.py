"""Declarative column maps and the two readers the MIB-area modules share.

A MIB area declares its table as data::

    IF_TABLE = Table("ifTable", "1.3.6.1.2.1.2.2.1", {
        2: Column("descr", text),
        ...
    })

``read_table`` walks the declared columns side by side (one GETBULK stream) and
returns ``{row index: {field: converted value}}``. It raises ``SnmpError`` on a
failure: the caller (``inventory``) turns that into a note, so a table either
is read completely or is absent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from collectors.snmp.convert import raw
from collectors.snmp.session import Oid, SnmpSession, Value, format_oid, parse_oid

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


async def read_table(session: SnmpSession, table: Table) -> dict[Oid, Row]:
    """Every row of ``table``: ``{index: {field: value}}``, rows ordered by index.

    A field a row does not have is None (sparse tables are common).
    """
    oids = table.column_oids()
    walked = await session.walk_columns(oids)
    rows: dict[Oid, Row] = {}
    for (_n, col), oid in zip(table.columns.items(), oids, strict=True):
        for index, value in walked[oid]:
            row = rows.get(index)
            if row is None:
                row = rows[index] = {c.field: None for c in table.columns.values()}
            row[col.field] = col.convert(value)
    return dict(sorted(rows.items()))


async def read_scalars(session: SnmpSession, scalars: Scalars) -> Row:
    got = await session.get(list(scalars.objects))
    return {c.field: c.convert(got.get(oid)) for oid, c in scalars.objects.items()}
