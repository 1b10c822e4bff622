"""People who sign in to the web UI: a name, an argon2id password hash and one role.

Users live in the shared state beside the API tokens (``cmdb.server.shared_state``: table
``ui_user`` of ``DATA_DIR/control.db``, or ``CmdbUser`` nodes in Neo4j with ``store =
"neo4j"``), through its typed ``user_*`` methods, so every server process of one
installation sees the same users. Roles are the human roles of ``cmdb.server.control.ROLES``
(reader, editor, admin); ``cmdb.server.api.auth.GRANTS`` decides what each may do, for the UI
as for the API.

Passwords are hashed with argon2id (``argon2-cffi``'s ``PasswordHasher`` defaults: RFC 9106
low-memory profile, 64 MiB, 3 passes); a hash made with older parameters is replaced on
the next successful sign-in. ``session_version`` goes up when a password, role or the
user's access changes: the UI stores it in the session cookie and refuses a cookie that
carries an older one, so signing a user out everywhere needs no server-side session table.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from cmdb.collectors.model import utc_now_iso
from cmdb.server.control import ControlDB  # or the Neo4j shared state: same user_* methods

USER_ROLES = ("reader", "editor", "admin")
MIN_PASSWORD = 10
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")

_hasher = PasswordHasher()
# verified against when the name is unknown, so a wrong name costs as long as a wrong
# password and timing does not tell which names exist
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class UserError(ValueError):
    """A request about users that cannot be done; the message says why."""


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    role: str
    created_at: str
    disabled_at: str | None
    session_version: int

    @property
    def active(self) -> bool:
        return self.disabled_at is None


def ensure_table(control: ControlDB) -> None:
    """Kept for callers: the shared state creates its users table (or constraints) itself."""


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise UserError(
            "a user name is 1-64 letters, digits, '.', '_', '@' or '-', starting with a "
            f"letter or digit, not {name!r}"
        )
    return name


def check_role(role: str) -> str:
    if role not in USER_ROLES:
        raise UserError(f"role must be one of {', '.join(USER_ROLES)}, not {role!r}")
    return role


def check_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")
    return password


def hash_password(password: str) -> str:
    """An argon2id hash in PHC string form (``$argon2id$v=19$m=...``)."""
    return _hasher.hash(check_password(password))


def _user(row: dict | None) -> User | None:
    if not row:
        return None
    return User(
        int(row["id"]),
        row["name"],
        row["role"],
        row["created_at"],
        row["disabled_at"],
        int(row["session_version"]),
    )


def create_user(control: ControlDB, name: str, role: str, password: str) -> User:
    """A new user; UserError when the name is taken or a value is not acceptable."""
    check_name(name)
    check_role(role)
    digest = hash_password(password)
    user_id = control.user_insert(name, role, digest, utc_now_iso())
    if user_id is None:
        raise UserError(f"a user named {name!r} already exists")
    user = get_user(control, user_id)
    assert user is not None
    return user


def get_user(control: ControlDB, user_id: int) -> User | None:
    return _user(control.user_get(int(user_id)))


def get_user_by_name(control: ControlDB, name: str) -> User | None:
    return _user(control.user_by_name(name))


def list_users(control: ControlDB) -> list[User]:
    return [u for u in (_user(r) for r in control.user_list()) if u is not None]


def verify_password(control: ControlDB, name: str, password: str) -> User | None:
    """The active user with this name and password, else None (same cost either way).

    Slow on purpose (argon2id, tens of milliseconds): call it from a worker thread."""
    row = control.user_by_name(name or "")
    stored = row["hash"] if row else _DUMMY_HASH
    try:
        _hasher.verify(stored, password or "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    user = _user(row)
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(stored):
        control.user_update(user.id, {"hash": _hasher.hash(password)}, end_sessions=False)
    return user


def _bump(control: ControlDB, user_id: int, fields: dict) -> User:
    """Change ``fields`` and end the user's sessions (session_version + 1)."""
    control.user_update(int(user_id), fields, end_sessions=True)
    user = get_user(control, user_id)
    if user is None:
        raise UserError(f"no user with id {user_id}")
    return user


def set_password(control: ControlDB, user_id: int, password: str) -> User:
    """New password; the user's existing sessions end."""
    return _bump(control, user_id, {"hash": hash_password(password)})


def set_role(control: ControlDB, user_id: int, role: str) -> User:
    """New role; the user's existing sessions end (they sign in again with the new role)."""
    return _bump(control, user_id, {"role": check_role(role)})


def set_active(control: ControlDB, user_id: int, active: bool) -> User:
    """Disable (sessions end, sign-in refused) or enable a user; nothing is deleted."""
    return _bump(control, user_id, {"disabled_at": None if active else utc_now_iso()})


def active_admins(control: ControlDB) -> int:
    return control.user_active_admins()
