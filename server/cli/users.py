"""cmdb user create | list | password | role | disable | enable: people who sign in to the
web UI (``cmdb.server.users``), managed on the server's machine against its data directory."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

from cmdb.server.cli.http import CliError
from cmdb.server.cli.output import emit_json, emit_table

PASSWORD_ENV = "CMDB_USER_PASSWORD"


def _data_dir(args) -> Path:
    value = args.data_dir or os.environ.get("CMDB_DATA_DIR")
    if not value:
        raise CliError("no data directory given: use --data-dir DIR or set CMDB_DATA_DIR", 2)
    return Path(value)


def read_password(password_file: str | None, confirm: bool = True) -> str:
    """The password from ``--password-file`` (first line), else ``CMDB_USER_PASSWORD``, else
    a prompt on the terminal (asked twice). Never from a command-line argument: every user
    of the machine would see it in ``ps``."""
    if password_file:
        try:
            text = Path(password_file).read_text()
        except OSError as exc:
            raise CliError(f"cannot read the password file: {exc}", 2) from exc
        return text.splitlines()[0] if text.strip() else ""
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    if not sys.stdin.isatty():
        raise CliError(
            f"no password: give --password-file FILE or set {PASSWORD_ENV} "
            "(or run it on a terminal to be asked)",
            2,
        )
    first = getpass.getpass("password: ")
    if confirm and getpass.getpass("again: ") != first:
        raise CliError("the two passwords differ", 2)
    return first


def _control(args):
    from cmdb.server.shared_state import open_cli_state

    # the server's shared state: control.db, or Neo4j when the config says store = neo4j
    return open_cli_state(_data_dir(args), getattr(args, "config", None))


def _user_or_fail(control, name: str):
    from cmdb.server.users import get_user_by_name

    user = get_user_by_name(control, name)
    if user is None:
        raise CliError(f"no user named {name!r}", 1)
    return user


def _view(user) -> dict:
    return {
        "id": user.id,
        "name": user.name,
        "role": user.role,
        "created_at": user.created_at,
        "disabled_at": user.disabled_at,
    }


def cmd_user_create(args) -> int:
    from cmdb.server.users import UserError, create_user

    password = read_password(args.password_file)
    control = _control(args)
    try:
        user = create_user(control, args.name, args.role, password)
    except UserError as exc:
        raise CliError(str(exc), 2) from exc
    finally:
        control.close()
    if args.json:
        emit_json(_view(user))
    else:
        print(f"created user {user.name!r} with the {user.role} role")
    return 0


def cmd_user_list(args) -> int:
    from cmdb.server.users import list_users

    control = _control(args)
    try:
        users = list_users(control)
    finally:
        control.close()
    if args.json:
        emit_json({"items": [_view(u) for u in users], "total": len(users)})
    else:
        emit_table(
            [(u.name, u.role, u.created_at, u.disabled_at or "") for u in users],
            ("name", "role", "created", "disabled"),
        )
    return 0


def cmd_user_password(args) -> int:
    from cmdb.server.users import UserError, set_password

    password = read_password(args.password_file)
    control = _control(args)
    try:
        set_password(control, _user_or_fail(control, args.name).id, password)
    except UserError as exc:
        raise CliError(str(exc), 2) from exc
    finally:
        control.close()
    print(f"password of {args.name!r} changed; their sessions have ended")
    return 0


def cmd_user_role(args) -> int:
    from cmdb.server.users import set_role

    control = _control(args)
    try:
        set_role(control, _user_or_fail(control, args.name).id, args.role)
    finally:
        control.close()
    print(f"{args.name!r} now has the {args.role} role")
    return 0


def _set_active(args, active: bool) -> int:
    from cmdb.server.users import set_active

    control = _control(args)
    try:
        set_active(control, _user_or_fail(control, args.name).id, active)
    finally:
        control.close()
    print(f"{args.name!r} {'enabled' if active else 'disabled; their sessions have ended'}")
    return 0


def register(sub) -> None:
    from cmdb.server.users import USER_ROLES

    users = sub.add_parser("user", help="people who sign in to the web UI").add_subparsers(
        dest="user_command", required=True
    )

    def common(p, password: bool = False) -> None:
        p.add_argument("--data-dir", help="the server's data directory (env CMDB_DATA_DIR)")
        if password:
            p.add_argument(
                "--password-file",
                help=f"read the password from this file's first line (else {PASSWORD_ENV}, "
                "else a prompt)",
            )

    p = users.add_parser("create", help="create a user (the password is asked, never an argument)")
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=USER_ROLES)
    p.add_argument("--json", action="store_true")
    common(p, password=True)
    p.set_defaults(func=cmd_user_create)

    p = users.add_parser("list", help="list users (never their password hashes)")
    p.add_argument("--json", action="store_true")
    common(p)
    p.set_defaults(func=cmd_user_list)

    p = users.add_parser("password", help="set a user's password (ends their sessions)")
    p.add_argument("name")
    common(p, password=True)
    p.set_defaults(func=cmd_user_password)

    p = users.add_parser("role", help="change a user's role (ends their sessions)")
    p.add_argument("name")
    p.add_argument("role", choices=USER_ROLES)
    common(p)
    p.set_defaults(func=cmd_user_role)

    for verb, active in (("disable", False), ("enable", True)):
        p = users.add_parser(verb, help=f"{verb} a user")
        p.add_argument("name")
        common(p)
        p.set_defaults(func=lambda args, a=active: _set_active(args, a))
