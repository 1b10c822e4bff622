"""Credential profiles for scans: parsed from requests, never returned by the API."""

from __future__ import annotations

from typing import Any

from cmdb.collectors.snmp.session import Credential

SECRET_FIELDS = ("community", "auth_password", "priv_password")
_FIELDS = (
    "version",
    "community",
    "user",
    "auth_protocol",
    "auth_password",
    "priv_protocol",
    "priv_password",
    "level",
    "name",
)


class CredentialError(ValueError):
    pass


def parse_credentials(items: Any) -> list[Credential]:
    if not isinstance(items, list) or not items:
        raise CredentialError("'credentials' must be a non-empty list of credential profiles")
    out = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise CredentialError(f"credentials[{index}] must be an object")
        unknown = set(item) - set(_FIELDS)
        if unknown:
            raise CredentialError(
                f"credentials[{index}] has unknown field(s) {', '.join(sorted(unknown))}"
            )
        values = {k: (str(v) if v is not None else None) for k, v in item.items()}
        values.setdefault("version", "2c")
        if values["version"] == "3":
            values.setdefault("community", None)
        try:
            out.append(Credential(**values))
        except (TypeError, ValueError) as exc:
            raise CredentialError(f"credentials[{index}]: {exc}") from exc
    return out


def describe(credential: Credential) -> dict[str, Any]:
    """What the API may show of a profile: never a community or password."""
    return {
        "label": credential.label,
        "version": credential.version,
        "user": credential.user,
        "security_level": credential.security_level,
    }


def to_storage(credential: Credential) -> dict[str, Any]:
    """For the control database only (the API never returns this)."""
    return {k: getattr(credential, k) for k in _FIELDS if getattr(credential, k) is not None}
