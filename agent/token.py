"""Where the agent's token comes from: a file, the environment, or (discouraged) argv.

``--token-file PATH`` (or ``CMDB_TOKEN_FILE``) is read again before every send, so an
operator can rotate the token without restarting the agent; ``CMDB_TOKEN`` suits
systemd's ``EnvironmentFile=``. ``--token`` still works but any user on the host sees
it in ``ps``; the process collector redacts it from reports either way.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("cmdb.agent.token")


class TokenError(ValueError):
    """No usable token was given."""


def read_token_file(path: str | Path) -> str:
    """The token in ``path`` (surrounding whitespace removed); warns when other users may
    read the file. Raises TokenError when it is missing, unreadable or empty."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        mode = stat.S_IMODE(path.stat().st_mode)
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenError(f"cannot read the token file {path}: {exc}") from exc
    token = text.strip()
    if not token:
        raise TokenError(f"the token file {path} is empty")
    if any(c.isspace() for c in token):
        raise TokenError(f"the token file {path} holds more than one word")
    if mode & 0o077:
        log.warning("the token file %s is readable by other users (mode %o): chmod 600", path, mode)
    return token


def token_source(
    token_file: str | None, token: str | None, env: dict[str, str] | None = None
) -> Callable[[], str]:
    """A function that returns the current token: ``--token-file``, then ``--token``, then
    ``CMDB_TOKEN_FILE``, then ``CMDB_TOKEN``. Raises TokenError when none is given (and
    when the file cannot be read now, so a typo fails at start, not an hour later)."""
    env = os.environ if env is None else env
    path = token_file or (None if token else env.get("CMDB_TOKEN_FILE"))
    if path:
        read_token_file(path)
        return lambda: read_token_file(path)
    if token:
        log.warning(
            "--token is visible to every user of this host (ps, /proc); "
            "use --token-file PATH or CMDB_TOKEN instead"
        )
        return lambda: token
    value = (env.get("CMDB_TOKEN") or "").strip()
    if value:
        return lambda: value
    raise TokenError("no token: use --token-file PATH or set CMDB_TOKEN")
