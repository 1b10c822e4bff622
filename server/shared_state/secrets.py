"""SNMP secrets at rest: credential profiles sealed with Fernet (AES-128-CBC + HMAC-SHA256).

The key is the installation's, never the store's: ``CMDB_SECRETS_KEY`` (a Fernet key,
``Fernet.generate_key()``), else the file named by ``CMDB_SECRETS_KEY_FILE`` (first line),
else a ``secrets_key`` setting when the server's settings carry one. Every server of one
installation needs the same key; a store read by someone without it shows no secret.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

KEY_ENV = "CMDB_SECRETS_KEY"
KEY_FILE_ENV = "CMDB_SECRETS_KEY_FILE"
SEALED = "sealed"  # a sealed credential list is {"sealed": "<fernet token>"}


class SecretsError(ValueError):
    """No key, a key that is not a Fernet key, or a sealed value this key cannot open."""


def secrets_key(settings: Any = None, environ: dict[str, str] | None = None) -> str | None:
    """The configured key (text) or None: environment first, then the key file, then
    ``settings.secrets_key`` (when the settings have that field)."""
    env = os.environ if environ is None else environ
    if env.get(KEY_ENV):
        return env[KEY_ENV].strip()
    if env.get(KEY_FILE_ENV):
        try:
            lines = Path(env[KEY_FILE_ENV]).read_text().splitlines()
        except OSError as exc:
            raise SecretsError(f"cannot read {KEY_FILE_ENV}: {exc}") from exc
        return lines[0].strip() if lines else None
    value = getattr(settings, "secrets_key", None)
    return str(value).strip() if value else None


class SecretBox:
    """Seal and open credential lists (list of dicts with secrets) with one Fernet key."""

    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.encode())
        except (ValueError, TypeError) as exc:
            raise SecretsError(
                f"{KEY_ENV} must be a Fernet key (32 url-safe base64 bytes; make one with "
                "python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())')"
            ) from exc

    def seal(self, credentials: list[dict[str, Any]]) -> dict[str, str]:
        return {SEALED: self._fernet.encrypt(json.dumps(credentials).encode()).decode()}

    def open(self, sealed: dict[str, str]) -> list[dict[str, Any]]:
        try:
            return json.loads(self._fernet.decrypt(sealed[SEALED].encode()))
        except (InvalidToken, KeyError, ValueError) as exc:
            raise SecretsError(
                "stored credentials cannot be opened with this key: every server of one "
                f"installation needs the same {KEY_ENV}"
            ) from exc


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and SEALED in value


def secret_box(settings: Any = None) -> SecretBox | None:
    """A box for the configured key, or None when no key is configured."""
    key = secrets_key(settings)
    return SecretBox(key) if key else None
