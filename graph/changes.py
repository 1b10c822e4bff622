"""The schema governs writes: every change set is checked against ``cmdb.graph.schema`` before a
backend writes it, so a CI of an undeclared class, an undeclared attribute, or a
relationship whose ends the schema forbids fails with a full sentence instead of landing.
"""

from __future__ import annotations

from cmdb.graph.schema import CLASSES, RELS, SchemaError
from cmdb.graph.store import ChangeSet


def validate_changes(cs: ChangeSet) -> None:
    """Raise ``SchemaError`` naming the first write ``cmdb.graph.schema`` does not allow.

    Checked: the class and attribute names of created and updated CIs, the type of every
    new relationship, its attribute names, and its ends' classes where the change set
    itself knows them (CIs it creates or updates with their class)."""
    classes: dict[str, str] = {}
    for ci in cs.create_cis:
        _check_ci(ci.id, ci.cls, ci.attributes)
        classes[ci.id] = ci.cls
    for update in cs.update_cis:
        if update.cls is not None:
            _check_ci(update.id, update.cls, update.attributes)
            classes[update.id] = update.cls
    for rel in cs.create_rels:
        declared = RELS.get(rel.type)
        if declared is None:
            raise SchemaError(
                f"Relationship {rel.id} has type {rel.type!r}, which cmdb.graph.schema does not "
                f"declare (known: {', '.join(sorted(RELS))})."
            )
        extra = set(rel.attributes) - set(declared.attributes)
        if extra:
            raise SchemaError(
                f"Relationship {rel.type} {rel.id} carries {', '.join(sorted(extra))}, "
                f"not attributes cmdb.graph.schema declares for {rel.type}."
            )
        for end, allowed, side in (
            (rel.src, declared.starts, "start"),
            (rel.dst, declared.ends, "end"),
        ):
            cls = classes.get(end)
            if cls is not None and cls not in allowed:
                raise SchemaError(
                    f"A {rel.type} relationship cannot {side} at a {cls} ({end}); "
                    f"cmdb.graph.schema allows {', '.join(allowed)}."
                )


def _check_ci(ci_id: str, cls: str, attributes: dict) -> None:
    declared = CLASSES.get(cls)
    if declared is None:
        raise SchemaError(
            f"CI {ci_id} has class {cls!r}, which cmdb.graph.schema does not declare "
            f"(known: {', '.join(sorted(CLASSES))})."
        )
    extra = set(attributes) - set(declared.attributes)
    if extra:
        raise SchemaError(
            f"CI {ci_id} of class {cls} carries {', '.join(sorted(extra))}, "
            f"not attributes cmdb.graph.schema declares for {cls}."
        )
