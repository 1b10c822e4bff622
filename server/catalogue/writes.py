"""One request's writes as one change set, with history carrying who and when."""

from __future__ import annotations

import uuid
from typing import Any

from cmdb.graph import times
from cmdb.graph.identity import identity_values
from cmdb.graph.schema import CLASSES
from cmdb.graph.store import CI, ChangeSet, CIUpdate, Rel

SOURCE = "manual"


def is_manual_only(ci: CI) -> bool:
    """Whether only people, no discovery source, have reported this CI (its sources are
    exactly ``manual``): a placeholder discovery may adopt, and the staleness sweep skips."""
    return sorted(ci.sources) == [SOURCE]


def now() -> str:
    return times.now_text()


def new_id() -> str:
    return str(uuid.uuid4())


class ManualWriter:
    """Builds the change set of one API request (source ``manual``, actor = token name)."""

    def __init__(self, actor: str | None, at: str | None = None, source: str = SOURCE) -> None:
        self.at = at or now()
        self.actor = actor
        self.source = source
        self.cs = ChangeSet(
            report_id=f"{source}:{new_id()}",
            source=source,
            at=self.at,
            record_report=False,
            actor=actor,
        )
        self._updates: dict[str, CIUpdate] = {}

    def history(self, ci_id: str, kind: str, fld: str, old: Any, new: Any, other=None) -> None:
        self.cs.record(ci_id, kind, fld, old, new, other, self.actor)

    def create_ci(self, cls: str, attributes: dict[str, Any], status: str = "live") -> CI:
        attrs = {k: v for k, v in attributes.items() if v is not None}
        name_attr = CLASSES[cls].name_attr
        name = attrs.get(name_attr)
        ci = CI(
            id=new_id(),
            cls=cls,
            name=None if name is None else str(name),
            status=status,
            first_seen=self.at,
            last_seen=self.at,
            sources=[self.source],
            attributes=attrs,
            attr_sources=dict.fromkeys(attrs, self.source),
            identity=identity_values(CLASSES[cls], attrs),
        )
        self.cs.create_cis.append(ci)
        self.history(ci.id, "ci", "created", None, {"class": cls, "name": ci.name})
        return ci

    def update_ci(self, ci: CI, changes: dict[str, Any], status: str | None = None) -> bool:
        """Set attributes (None removes one); history per changed attribute."""
        current = self._updates.get(ci.id)
        attrs = dict(current.attributes if current else ci.attributes)
        owners = dict(current.attr_sources if current else ci.attr_sources)
        changed = False
        for key, value in changes.items():
            if attrs.get(key) == value:
                continue
            self.history(ci.id, "attribute", key, attrs.get(key), value)
            if value is None:
                attrs.pop(key, None)
                owners.pop(key, None)
            else:
                attrs[key] = value
                owners[key] = self.source
            changed = True
        old_status = current.status if current else ci.status
        if status is not None and status != old_status:
            self.history(ci.id, "ci", "status", old_status, status)
            changed = True
        if not changed:
            return False
        name = attrs.get(CLASSES[ci.cls].name_attr, ci.name)
        update = CIUpdate(
            id=ci.id,
            name=None if name is None else str(name),
            attributes=attrs,
            attr_sources=owners,
            identity={**ci.identity, **identity_values(CLASSES[ci.cls], attrs)},
            sources=sorted({*ci.sources, self.source}),
            status=status or old_status,
        )
        if current is None:
            self.cs.update_cis.append(update)
        else:
            self.cs.update_cis[self.cs.update_cis.index(current)] = update
        self._updates[ci.id] = update
        ci.attributes, ci.attr_sources, ci.name = attrs, owners, update.name
        ci.status = update.status
        return True

    def add_rel(
        self,
        rel_type: str,
        src: str,
        dst: str,
        attributes: dict[str, Any] | None = None,
        scope: str | None = None,
    ) -> Rel:
        rel = Rel(
            id=new_id(),
            type=rel_type,
            src=src,
            dst=dst,
            first_seen=self.at,
            last_seen=self.at,
            scope=scope,
            sources=[self.source],
            attributes=attributes or {},
        )
        self.cs.create_rels.append(rel)
        return rel

    def close_rel(self, rel: Rel) -> None:
        self.cs.close_rels.append(rel.id)
