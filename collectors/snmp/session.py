"""The SNMP transport seam: one ``SnmpSession`` per device, numeric OIDs only.

A session is built from an address, a port and a ``Credential`` profile (v1 or
v2c community, or a v3 user with auth and priv protocols). It offers ``get``,
``walk`` and ``walk_columns`` (several table columns side by side in one
GETBULK stream, the way ``snmptable`` reads). v2c and v3 use GETBULK, v1 uses
GETNEXT. Failures raise ``SnmpError`` subclasses (``SnmpTimeout``,
``SnmpAuthError``, ``SnmpProtocolError``); the collectors turn them into notes.

pysnmp's command generators are driven directly with raw ``(OID, Null)``
var-binds: the hlapi helpers resolve every OID through the MIB builder, which
costs more than the request itself for numeric OIDs.

One ``SnmpEngine`` is shared by every session of an event loop (one UDP socket,
one request table). The one exception: SNMPv3 users are keyed by user name in
the engine, so a second profile with the same user name but different keys
(e.g. trying a wrong password, then the right one) gets its own engine instead
of silently replacing the first one's keys.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pyasn1.type import univ
from pysnmp.entity.engine import SnmpEngine
from pysnmp.entity.rfc3413 import cmdgen
from pysnmp.hlapi.v3arch.asyncio import auth as _auth
from pysnmp.hlapi.v3arch.asyncio.auth import CommunityData, UsmUserData
from pysnmp.hlapi.v3arch.asyncio.lcd import CommandGeneratorLcdConfigurator
from pysnmp.hlapi.v3arch.asyncio.transport import UdpTransportTarget
from pysnmp.proto import errind, rfc1902, rfc1905

__all__ = [
    "AUTH_PROTOCOLS",
    "PRIV_PROTOCOLS",
    "ColumnWalk",
    "Credential",
    "Oid",
    "SnmpAuthError",
    "SnmpError",
    "SnmpProtocolError",
    "SnmpSession",
    "SnmpTimeout",
    "Value",
    "format_oid",
    "open_session",
    "parse_oid",
    "shared_engine",
]

Oid = tuple[int, ...]
Value = bytes | int | str | None  # OCTET STRING -> bytes, IpAddress/OID -> str

AUTH_PROTOCOLS: dict[str, Any] = {
    "NONE": _auth.USM_AUTH_NONE,
    "MD5": _auth.USM_AUTH_HMAC96_MD5,
    "SHA": _auth.USM_AUTH_HMAC96_SHA,
    "SHA-224": _auth.USM_AUTH_HMAC128_SHA224,
    "SHA-256": _auth.USM_AUTH_HMAC192_SHA256,
    "SHA-384": _auth.USM_AUTH_HMAC256_SHA384,
    "SHA-512": _auth.USM_AUTH_HMAC384_SHA512,
}
PRIV_PROTOCOLS: dict[str, Any] = {
    "NONE": _auth.USM_PRIV_NONE,
    "DES": _auth.USM_PRIV_CBC56_DES,
    "AES": _auth.USM_PRIV_CFB128_AES,
    "AES-128": _auth.USM_PRIV_CFB128_AES,
    "AES-192": _auth.USM_PRIV_CFB192_AES,
    "AES-256": _auth.USM_PRIV_CFB256_AES,
}
LEVELS = ("noAuthNoPriv", "authNoPriv", "authPriv")

# errorIndication classes that mean "the credentials are wrong", not "no answer"
_AUTH_ERRORS = (
    errind.WrongDigest,
    errind.UnknownUserName,
    errind.UnsupportedSecurityLevel,
    errind.DecryptionError,
    errind.AuthenticationError,
    errind.AuthenticationFailure,
    errind.UnknownSecurityName,
)
_ERROR_STATUS = {
    1: "tooBig",
    2: "noSuchName",
    3: "badValue",
    4: "readOnly",
    5: "genErr",
    6: "noAccess",
    16: "authorizationError",
}


class SnmpError(Exception):
    """An SNMP request failed; ``str()`` is a full sentence."""


class SnmpTimeout(SnmpError):
    """No answer within timeout x (retries + 1)."""


class SnmpAuthError(SnmpError):
    """The agent answered but refused the credentials (wrong user, key or level)."""


class SnmpProtocolError(SnmpError):
    """The agent answered with an error status or a malformed response."""


# ------------------------------------------------------------------ OIDs
def parse_oid(text: str | Sequence[int]) -> Oid:
    """``"1.3.6.1"``, ``".1.3.6.1"`` or a sequence of ints -> a tuple of ints."""
    if not isinstance(text, str):
        return tuple(int(x) for x in text)
    s = text.strip().lstrip(".")
    if s.startswith("iso."):
        s = "1." + s[4:]
    if not s:
        raise ValueError("an empty OID")
    try:
        oid = tuple(int(x) for x in s.split("."))
    except ValueError:
        raise ValueError(f"{text!r} is not a numeric OID") from None
    if any(x < 0 for x in oid):
        raise ValueError(f"{text!r} has a negative sub-identifier")
    return oid


def format_oid(oid: Iterable[int]) -> str:
    return ".".join(str(x) for x in oid)


# ------------------------------------------------------------------ credentials
@dataclass(frozen=True)
class Credential:
    """One credential profile. ``repr`` never shows secrets.

    v1/v2c: ``Credential("2c", community="public")``.
    v3: ``Credential("3", user="u", auth_protocol="SHA-256", auth_password=...,
    priv_protocol="AES", priv_password=...)``; ``level`` defaults from which
    passwords are given.
    """

    version: Literal["1", "2c", "3"] = "2c"
    community: str | None = field(default="public", repr=False)
    user: str | None = None
    auth_protocol: str | None = None  # MD5, SHA, SHA-224, SHA-256, SHA-384, SHA-512
    auth_password: str | None = field(default=None, repr=False)
    priv_protocol: str | None = None  # DES, AES, AES-192, AES-256
    priv_password: str | None = field(default=None, repr=False)
    level: str | None = None  # noAuthNoPriv, authNoPriv, authPriv
    name: str | None = None  # a label for reports ("dc-v3", "legacy-public")

    def __post_init__(self) -> None:
        if self.version not in ("1", "2c", "3"):
            raise ValueError(f"SNMP version {self.version!r} is not one of 1, 2c, 3")
        if self.version == "3":
            if not self.user:
                raise ValueError("an SNMPv3 credential needs a user name")
            if self.auth_protocol and self.auth_protocol.upper() not in AUTH_PROTOCOLS:
                raise ValueError(
                    f"auth protocol {self.auth_protocol!r} is not one of "
                    f"{', '.join(AUTH_PROTOCOLS)}"
                )
            if self.priv_protocol and self.priv_protocol.upper() not in PRIV_PROTOCOLS:
                raise ValueError(
                    f"priv protocol {self.priv_protocol!r} is not one of "
                    f"{', '.join(PRIV_PROTOCOLS)}"
                )
            level = self.security_level
            if level not in LEVELS:
                raise ValueError(f"security level {level!r} is not one of {', '.join(LEVELS)}")
            if level in ("authNoPriv", "authPriv") and not self.auth_password:
                raise ValueError(f"level {level} needs an auth password")
            if level == "authPriv" and not self.priv_password:
                raise ValueError("level authPriv needs a priv password")
        elif not self.community:
            raise ValueError(f"an SNMPv{self.version} credential needs a community")

    @property
    def security_level(self) -> str:
        if self.version != "3":
            return "noAuthNoPriv"
        if self.level:
            return self.level
        if self.auth_password and self.priv_password:
            return "authPriv"
        return "authNoPriv" if self.auth_password else "noAuthNoPriv"

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.version == "3":
            return f"v3:{self.user}:{self.security_level}"
        return f"v{self.version}"

    def fingerprint(self) -> str:
        """A stable digest of every field, secrets included (never shown)."""
        raw = "\0".join(
            str(x)
            for x in (
                self.version,
                self.community,
                self.user,
                self.auth_protocol,
                self.auth_password,
                self.priv_protocol,
                self.priv_password,
                self.security_level,
            )
        )
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    def auth_data(self) -> CommunityData | UsmUserData:
        if self.version in ("1", "2c"):
            # one community index per community string, shared by all sessions
            index = (
                "c" + hashlib.sha256(f"{self.version}\0{self.community}".encode()).hexdigest()[:12]
            )
            return CommunityData(index, self.community, mpModel=0 if self.version == "1" else 1)
        level = self.security_level
        auth_proto = AUTH_PROTOCOLS[(self.auth_protocol or "MD5").upper()]
        priv_proto = PRIV_PROTOCOLS[(self.priv_protocol or "DES").upper()]
        if level == "noAuthNoPriv":
            return UsmUserData(self.user)
        if level == "authNoPriv":
            return UsmUserData(self.user, self.auth_password, authProtocol=auth_proto)
        return UsmUserData(
            self.user,
            self.auth_password,
            self.priv_password,
            authProtocol=auth_proto,
            privProtocol=priv_proto,
        )


# ------------------------------------------------------------------ engines
class _EngineRegistry:
    """One SnmpEngine per event loop (plus one per conflicting v3 key set)."""

    def __init__(self) -> None:
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict] = (
            weakref.WeakKeyDictionary()
        )

    def get(self, credential: Credential | None = None) -> SnmpEngine:
        loop = asyncio.get_running_loop()
        slot = self._by_loop.setdefault(loop, {"engines": [], "users": []})
        engines: list[SnmpEngine] = slot["engines"]
        users: list[dict[str, str]] = slot["users"]  # per engine: v3 user -> fingerprint
        if not engines:
            engines.append(SnmpEngine())
            users.append({})
        if credential is None or credential.version != "3":
            return engines[0]
        fp = credential.fingerprint()
        for engine, known in zip(engines, users, strict=True):
            if known.get(credential.user, fp) == fp:
                known[credential.user] = fp
                return engine
        engine = SnmpEngine()
        engines.append(engine)
        users.append({credential.user: fp})
        return engine


_ENGINES = _EngineRegistry()
_LCD = CommandGeneratorLcdConfigurator()


def shared_engine() -> SnmpEngine:
    """The SnmpEngine shared by every v1/v2c session of the running loop."""
    return _ENGINES.get()


# ------------------------------------------------------------------ values
def to_value(v: Any) -> Value:
    """pyasn1 value -> plain Python: bytes, int, dotted str, or None (no such)."""
    if isinstance(v, rfc1902.IpAddress):
        return ".".join(str(b) for b in v.asOctets())
    if isinstance(v, univ.OctetString):
        return v.asOctets()
    if isinstance(v, univ.Integer):  # Integer32, Counter*, Gauge32, TimeTicks, Unsigned32
        return int(v)
    if isinstance(v, univ.ObjectIdentifier):
        return ".".join(str(x) for x in v.asTuple())
    return None  # Null, noSuchObject, noSuchInstance, endOfMibView


def _is_exception(v: Any) -> bool:
    return isinstance(v, rfc1905.NoSuchObject | rfc1905.NoSuchInstance | rfc1905.EndOfMibView)


# ------------------------------------------------------------------ the session
class SnmpSession:
    """A device seen through one credential profile. Create with ``open_session``."""

    def __init__(
        self,
        host: str,
        port: int,
        credential: Credential,
        target: UdpTransportTarget,
        engine: SnmpEngine,
        *,
        timeout: float,
        retries: int,
        max_repetitions: int,
    ) -> None:
        self.host = host
        self.port = port
        self.credential = credential
        self.timeout = timeout
        self.retries = retries
        self.max_repetitions = max_repetitions
        self.engine = engine
        self._target = target
        self._auth = credential.auth_data()
        self._addr_name: str | None = None
        self.requests = 0  # PDUs sent (for benchmarks and logs)
        self.stepdowns = 0  # timeouts answered by asking for less (fewer repetitions, GETNEXT)
        self.deadline: float | None = None  # time.monotonic() past which walks stop

    def __repr__(self) -> str:
        return f"SnmpSession({self.host}:{self.port}, {self.credential.label})"

    @property
    def version(self) -> str:
        return self.credential.version

    def _configure(self) -> str:
        if self._addr_name is None:
            self._addr_name, _ = _LCD.configure(self.engine, self._auth, self._target, b"")
        return self._addr_name

    async def _request(self, kind: str, oids: Sequence[Oid], max_rep: int = 0):
        """Send one PDU; return the response var-binds as (Oid, pyasn1 value)."""
        addr = self._configure()
        future: asyncio.Future = asyncio.get_running_loop().create_future()

        def done(_engine, _handle, error_indication, error_status, error_index, var_binds, _ctx):
            if not future.done():
                future.set_result((error_indication, error_status, error_index, var_binds))

        var_binds = [(rfc1902.ObjectName(oid), rfc1902.Null("")) for oid in oids]
        self.requests += 1
        if kind == "get":
            cmdgen.GetCommandGenerator().send_varbinds(
                self.engine, addr, None, b"", var_binds, done
            )
        elif kind == "next":
            cmdgen.NextCommandGeneratorSingleRun().send_varbinds(
                self.engine, addr, None, b"", var_binds, done
            )
        else:
            cmdgen.BulkCommandGeneratorSingleRun().send_varbinds(
                self.engine, addr, None, b"", 0, max_rep, var_binds, done
            )
        error_indication, error_status, error_index, vbs = await future
        if error_indication:
            raise self._error(error_indication)
        return int(error_status or 0), int(error_index or 0), [(tuple(o), v) for o, v in vbs]

    def _error(self, indication: Any) -> SnmpError:
        where = f"{self.host}:{self.port} ({self.credential.label})"
        if isinstance(indication, errind.RequestTimedOut):
            return SnmpTimeout(
                f"no SNMP answer from {where} after {self.retries + 1} "
                f"attempt(s) of {self.timeout:g} s"
            )
        if isinstance(indication, _AUTH_ERRORS):
            return SnmpAuthError(f"{where} refused the credentials: {indication}")
        return SnmpError(f"SNMP request to {where} failed: {indication}")

    def _status_error(self, status: int, index: int, oids: Sequence[Oid]) -> SnmpProtocolError:
        name = _ERROR_STATUS.get(status, str(status))
        at = f" at {format_oid(oids[index - 1])}" if 0 < index <= len(oids) else ""
        return SnmpProtocolError(f"{self.host}:{self.port} answered {name}{at}")

    # ------------------------------------------------------------------ GET
    async def get(self, oids: Sequence[str | Oid]) -> dict[str, Value]:
        """GET the scalars; OIDs the agent does not have are absent from the result."""
        pending = [parse_oid(o) for o in oids]
        out: dict[str, Value] = {}
        while pending:
            status, index, vbs = await self._request("get", pending)
            if status == 2 and self.version == "1" and 0 < index <= len(pending):
                del pending[index - 1]  # v1: one missing OID fails the whole PDU
                continue
            if status:
                raise self._status_error(status, index, pending)
            for oid, v in vbs:
                if not _is_exception(v):
                    out[format_oid(oid)] = to_value(v)
            break
        return out

    # ------------------------------------------------------------------ walks
    async def walk(
        self, root_oid: str | Oid, max_repetitions: int | None = None
    ) -> list[tuple[str, Value]]:
        """Every (OID, value) under ``root_oid``, in order; raises ``SnmpError`` on a fault."""
        root = parse_oid(root_oid)
        (col,) = await self._walk_many([root], max_repetitions or self.max_repetitions)
        col.raise_for_fault(self)
        return [(format_oid(o), v) for o, v in col.rows]

    async def walk_columns(
        self, column_oids: Sequence[str | Oid], max_repetitions: int | None = None
    ) -> dict[Oid, list[tuple[Oid, Value]]]:
        """Walk several table columns side by side; raises ``SnmpError`` on any fault.

        Returns ``{column OID: [(row index, value), ...]}`` with the row index
        being the OID suffix below the column.
        """
        walked = await self.walk_table(column_oids, max_repetitions)
        for col in walked.values():
            col.raise_for_fault(self)
        return {root: col.rows for root, col in walked.items()}

    async def walk_table(
        self, column_oids: Sequence[str | Oid], max_repetitions: int | None = None
    ) -> dict[Oid, ColumnWalk]:
        """Walk several table columns side by side; never raises for SNMP faults.

        Returns ``{column OID: ColumnWalk}``: each column's rows (index below the
        column, value) read before its fault, and the fault (None = read to its end).
        """
        roots = [parse_oid(c) for c in column_oids]
        budget = max_repetitions or self.max_repetitions
        walked = await self._walk_many(roots, budget)
        return {
            root: ColumnWalk([(oid[len(root) :], v) for oid, v in col.rows], col.fault)
            for root, col in zip(roots, walked, strict=True)
        }

    def _out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    async def _walk_many(self, roots: list[Oid], budget: int) -> list[ColumnWalk]:
        """GETBULK (v2c/v3) or GETNEXT (v1) through several subtrees at once.

        ``budget`` is the number of var-binds asked per response: each of the
        n active columns gets ``budget // n`` repetitions (at least one).

        Faults stay with the column they hit: an OID that does not increase or
        an error status naming one var-bind ends that column (its rows so far are
        kept), the others go on. A timeout is retried with fewer repetitions
        (÷5 down to 1; the session's later walks start there too), then with
        GETNEXT, then with GETNEXT one column at a time, where a column that
        still times out ends alone. Past the
        session's ``deadline`` every open column ends with that reason.
        """
        results = [ColumnWalk([], None) for _ in roots]
        cursors = list(roots)
        active = list(range(len(roots)))
        budget = max(1, budget)
        getnext = self.version == "1"
        solo = False  # GETNEXT one column per request, after a multi-column timeout

        def end(col: int, reason: str) -> None:
            results[col].fault = reason
            active.remove(col)

        while active:
            if self._out_of_time():
                for col in list(active):
                    end(
                        col,
                        f"the scan's time budget for this device ran out "
                        f"after {len(results[col].rows)} rows",
                    )
                break
            cols = active[:1] if solo else list(active)
            req = [cursors[i] for i in cols]
            reps = 1 if getnext else max(1, budget // len(cols))
            try:
                if getnext:
                    status, index, vbs = await self._request("next", req)
                else:
                    status, index, vbs = await self._request("bulk", req, reps)
            except SnmpTimeout as exc:
                if not getnext and reps > 1:
                    budget = len(cols) * max(1, reps // 5)
                    self.stepdowns += 1
                    # the device (or its agent) is slow: later walks start smaller too
                    self.max_repetitions = max(1, min(self.max_repetitions, budget))
                elif not getnext and self.version != "1":
                    getnext = True
                    self.stepdowns += 1
                elif len(cols) > 1:
                    solo = True
                else:
                    end(
                        cols[0],
                        f"{exc} (GETBULK and GETNEXT), after {len(results[cols[0]].rows)} rows",
                    )
                continue
            except SnmpError as exc:
                for col in cols:
                    end(col, f"{exc}, after {len(results[col].rows)} rows")
                continue
            if getnext and status == 2 and self.version == "1" and 0 < index <= len(req):
                active.remove(cols[index - 1])  # v1 noSuchName: that column ended
                continue
            if status == 1 and not getnext and budget > 1:  # tooBig: ask for less
                budget = max(1, budget // 2)
                continue
            if status:
                error = self._status_error(status, index, req)
                hit = [cols[index - 1]] if 0 < index <= len(cols) else cols
                for col in hit:
                    end(col, f"{error}, after {len(results[col].rows)} rows")
                continue
            if not vbs:
                for col in cols:
                    end(col, f"{self.host}:{self.port} answered an empty response")
                continue
            n = len(req)
            finished: set[int] = set()
            progressed = False
            for pos, (oid, v) in enumerate(vbs):
                col = cols[pos % n]
                if col in finished:
                    continue
                root = roots[col]
                if isinstance(v, rfc1905.EndOfMibView) or oid[: len(root)] != root:
                    finished.add(col)
                    active.remove(col)
                    continue
                if oid <= cursors[col]:
                    finished.add(col)
                    end(
                        col,
                        f"{self.host}:{self.port} answered a non-increasing OID "
                        f"{format_oid(oid)} after {format_oid(cursors[col])}, "
                        f"after {len(results[col].rows)} rows",
                    )
                    continue
                cursors[col] = oid
                results[col].rows.append((oid, to_value(v)))
                progressed = True
            if not progressed and not finished:
                for col in cols:
                    end(col, f"{self.host}:{self.port} stopped making progress")
        return results


@dataclass
class ColumnWalk:
    """One column's walk: the (OID or row index, value) pairs read, and the fault that
    ended it early (None: the column was read to its end)."""

    rows: list[tuple[Oid, Value]]
    fault: str | None

    def raise_for_fault(self, session: SnmpSession) -> None:
        if self.fault is None:
            return
        if "no SNMP answer" in self.fault:
            raise SnmpTimeout(self.fault)
        raise SnmpProtocolError(self.fault)


async def open_session(
    host: str,
    credential: Credential | None = None,
    port: int = 161,
    *,
    timeout: float = 2.0,
    retries: int = 1,
    max_repetitions: int = 50,
    engine: SnmpEngine | None = None,
) -> SnmpSession:
    """A session for one device; uses the loop's shared engine unless given one."""
    credential = credential or Credential()
    target = await UdpTransportTarget.create((host, port), timeout=timeout, retries=retries)
    return SnmpSession(
        host,
        port,
        credential,
        target,
        engine or _ENGINES.get(credential),
        timeout=timeout,
        retries=retries,
        max_repetitions=max_repetitions,
    )
