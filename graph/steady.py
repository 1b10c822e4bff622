"""The steady state's two store calls: one read before any identity work, one small write.

Most reports say what the last one of their source said. The server answers those with
``Store.steady_probe`` (is the report a resend, which host does the agent token or the
report's strongest unique identity value name, and what did that host's source
remember of its last report: the section digests) and, when every section is as
remembered, ``Store.advance_source_state``: the source's report time, report id and
sequence move on, the root CI's last_seen with them, and the report id is remembered.
No scope is read, no identity lock taken (``cmdb.server.reconcile.engine.reconcile_steady``
explains why none is needed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from cmdb.graph.store import CI, SourceState


class IdentityKey(NamedTuple):
    """One identity value of a unique rule: ``cls`` (CI class), ``rule``, ``value``."""

    cls: str
    rule: str
    value: str


@dataclass(slots=True)
class SteadyProbe:
    """What one read tells about a report before identification.

    ``seen``: its report id was applied before (a resend). ``bound``: the host CI id its
    agent token is bound to (None: no token given, or not bound yet). ``ci``: the CI the
    probe found: the bound one when a token was given, else the current holder of the
    identity key (None: nothing found). ``state``: that CI's source state for the report's
    source (None: none). ``contested``: another CI still holds the identity key as a value
    it gave up within its rename grace period (identification would weigh both).
    ``empty_scopes``: of the scopes asked about (a prefix and the CI's id, such as the
    CI's observed connections, ``connections:<id>``), those holding no CI and no open
    relationship of the types asked about (``scope_types``): a read of them for those
    types would answer nothing, and is not made."""

    seen: bool
    bound: str | None = None
    ci: CI | None = None
    state: SourceState | None = None
    contested: bool = False
    empty_scopes: frozenset[str] = frozenset()
    scope_types: tuple[str, ...] = ()
