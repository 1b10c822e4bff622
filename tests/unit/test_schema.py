"""The declarative schema checks itself and derives the SQLite DDL."""

from __future__ import annotations

import dataclasses

import pytest

from cmdb.graph import schema
from cmdb.graph.sqlite.ddl import identity_indexes


def test_schema_validates():
    schema.validate_schema()


def test_dangling_relationship_end_fails_with_a_sentence(monkeypatch):
    bad = schema.RelType("RUNS_ON", ("Software",), ("Toaster",))
    monkeypatch.setattr(schema, "REL_TYPES", (*schema.REL_TYPES, bad))
    with pytest.raises(schema.SchemaError, match="names 'Toaster' as an end"):
        schema.validate_schema()


def test_unknown_identity_field_fails(monkeypatch):
    host = schema.CLASSES["Host"]
    broken = dataclasses.replace(host, identity=(schema.IdentityRule("x", ("nope",)),))
    monkeypatch.setattr(schema, "CI_CLASSES", (broken,))
    with pytest.raises(schema.SchemaError, match="uses 'nope'"):
        schema.validate_schema()


def test_sqlite_unique_identity_indexes_are_derived():
    statements = identity_indexes()
    assert (
        "CREATE UNIQUE INDEX IF NOT EXISTS ci_identity_unique_host_system_uuid ON ci_identity "
        "(value) WHERE class = 'Host' AND rule = 'system_uuid'"
    ) in statements
    # weak rules (machine-id, shared by VM clones) get no unique index
    assert not any("machine_id" in s for s in statements)
    unique_rules = sum(r.unique for c in schema.CI_CLASSES for r in c.identity)
    assert len(statements) == unique_rules
