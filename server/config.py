"""Server settings: defaults, then a TOML file, then environment variables, then flags."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    pass


@dataclass
class Settings:
    listen: str = "127.0.0.1:8080"
    data_dir: Path = Path("./var")
    store: str = "sqlite"  # sqlite | neo4j
    neo4j_uri: str = "bolt://127.0.0.1:7687"
    neo4j_user: str = "neo4j"
    neo4j_password: str = ""
    neo4j_database: str | None = None
    neo4j_timeout: float = 3.0  # seconds; connect and transaction-retry budget per request
    # request bodies: bytes as sent (compressed) and bytes after decompression. The
    # defaults take a busy host's report (80,000 connections: 14 MB JSON, 0.5 MB gzipped)
    max_wire_bytes: int = 16 * 1024 * 1024
    max_body_bytes: int = 64 * 1024 * 1024
    max_page_size: int = 1000
    max_depth: int = 20
    stale_after_hours: float = 72.0
    retire_after_days: float = 30.0
    # identity values a CI gave up (a rename) keep matching this long (a lagging scan)
    rename_grace_days: float = 7.0
    # reports reconciled at once by this server; more are answered 503 + Retry-After
    # (cmdb.server.admission). More than a few per store core only adds lock waits.
    max_reports_in_flight: int = 16
    # the longest Retry-After (seconds) given: a refused agent is told again, with the rate
    # of that moment, rather than kept away long on a passing slowdown
    max_retry_after: float = 300.0
    scan_max_addresses: int = 65536
    scan_concurrency: int = 64
    log_level: str = "info"
    # JSON log lines (cmdb.server.logs) or text; auto: JSON unless stderr is a terminal
    log_format: str = "auto"
    # TLS (docs/deployment-tls.md): the server's certificate chain and key (PEM)
    tls_cert: str | None = None
    tls_key: str | None = None
    # mutual TLS: CA bundle (PEM) that signs client certificates; tls_client_auth says who
    # must present one: agents (agent and poller tokens; the default once a CA is set),
    # required (every connection, at the handshake), optional (checked when presented)
    tls_client_ca: str | None = None
    tls_client_auth: str | None = None
    # abuse limits (cmdb.server.connections): open connections at once (when full, the oldest
    # connection still sending its request head is dropped); seconds for a whole request
    # head; seconds between two reads of a request body; seconds an idle keep-alive lasts
    max_connections: int = 1024
    client_header_timeout: float = 10.0
    client_body_timeout: float = 30.0
    keepalive_timeout: float = 75.0
    # failed authentications per source address (cmdb.server.api.throttle): more than
    # auth_fail_limit unknown tokens within auth_fail_window seconds are answered 429
    auth_fail_limit: int = 20
    auth_fail_window: float = 60.0
    # peers (addresses) whose X-Forwarded-For names the client (a reverse proxy)
    trusted_proxies: list[str] = field(default_factory=list)
    # who may read /metrics: open (no token, Prometheus' habit), loopback, reader (token)
    metrics_access: str = "open"
    schedules: list[dict[str, Any]] = field(default_factory=list)
    # curated attributes per CI class ([custom_attributes.CLASS.NAME] type, allowed,
    # description), checked at load by cmdb.server.catalogue.custom.parse_declarations
    custom_attributes: dict[str, Any] = field(default_factory=dict)
    # a change's requester may approve it themselves (small teams); CAB practice says no
    allow_self_approval: bool = False

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    @property
    def control_db(self) -> Path:
        return self.data_dir / "control.db"

    @property
    def graph_db(self) -> Path:
        return self.data_dir / "graph.db"

    def redacted(self) -> dict[str, Any]:
        """Settings for logs: secrets never leave the process."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        if out["neo4j_password"]:
            out["neo4j_password"] = "***"
        out["data_dir"] = str(out["data_dir"])
        return out


ENV_PREFIX = "CMDB_"
_ENV_FIELDS = {
    "LISTEN": "listen",
    "DATA_DIR": "data_dir",
    "STORE": "store",
    "NEO4J_URI": "neo4j_uri",
    "NEO4J_USER": "neo4j_user",
    "NEO4J_PASSWORD": "neo4j_password",
    "NEO4J_DATABASE": "neo4j_database",
    "MAX_BODY_BYTES": "max_body_bytes",
    "MAX_WIRE_BYTES": "max_wire_bytes",
    "MAX_REPORTS_IN_FLIGHT": "max_reports_in_flight",
    "MAX_RETRY_AFTER": "max_retry_after",
    "LOG_LEVEL": "log_level",
    "LOG_FORMAT": "log_format",
    "TLS_CERT": "tls_cert",
    "TLS_KEY": "tls_key",
    "TLS_CLIENT_CA": "tls_client_ca",
    "TLS_CLIENT_AUTH": "tls_client_auth",
    "METRICS_ACCESS": "metrics_access",
}


def _coerce(name: str, value: Any) -> Any:
    target = {f.name: f for f in fields(Settings)}[name]
    kind = str(target.type)
    try:
        if name == "data_dir":
            return Path(value)
        if kind.startswith("int"):
            return int(value)
        if kind.startswith("float"):
            return float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name!r} must be a number, not {value!r}") from exc
    return value


def load_settings(
    config_file: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    env = os.environ if environ is None else environ
    settings = Settings()
    known = {f.name for f in fields(Settings)}
    config_file = config_file or env.get("CMDB_CONFIG")
    if config_file:
        path = Path(config_file)
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
        flat = dict(data.get("server", {}))
        flat.update({k: v for k, v in data.items() if k not in ("server", "neo4j", "schedules")})
        for key, value in data.get("neo4j", {}).items():
            flat[f"neo4j_{key}"] = value
        if "schedules" in data:
            flat["schedules"] = data["schedules"]
        for key, value in flat.items():
            if key not in known:
                raise ConfigError(f"config file {path}: unknown setting {key!r}")
            setattr(settings, key, _coerce(key, value))
    for env_name, attr in _ENV_FIELDS.items():
        if env.get(ENV_PREFIX + env_name):
            setattr(settings, attr, _coerce(attr, env[ENV_PREFIX + env_name]))
    for key, value in (overrides or {}).items():
        if value is not None:
            setattr(settings, key, _coerce(key, value))
    if settings.store not in ("sqlite", "neo4j"):
        raise ConfigError(f"store must be 'sqlite' or 'neo4j', not {settings.store!r}")
    for name in ("max_wire_bytes", "max_body_bytes"):
        if getattr(settings, name) < 1024:
            raise ConfigError(f"{name} must be at least 1024 bytes, not {getattr(settings, name)}")
    from cmdb.server.catalogue.custom import parse_declarations

    try:
        parse_declarations(settings.custom_attributes)
    except ValueError as exc:
        raise ConfigError(f"config: {exc}") from exc
    if not isinstance(settings.allow_self_approval, bool):
        raise ConfigError("allow_self_approval must be true or false")
    if ":" not in settings.listen:
        raise ConfigError(f"listen must be HOST:PORT, not {settings.listen!r}")
    _check_hardening(settings)
    return settings


def _check_hardening(settings: Settings) -> None:
    """TLS, abuse-limit, log and metrics settings (docs/deployment-tls.md)."""
    if settings.log_format not in ("auto", "json", "text"):
        raise ConfigError(f"log_format must be auto, json or text, not {settings.log_format!r}")
    if settings.metrics_access not in ("open", "loopback", "reader"):
        raise ConfigError(
            f"metrics_access must be open, loopback or reader, not {settings.metrics_access!r}"
        )
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise ConfigError("tls_cert and tls_key go together: set both or neither")
    if settings.tls_client_ca and not settings.tls_cert:
        raise ConfigError("tls_client_ca needs TLS: set tls_cert and tls_key too")
    if settings.tls_client_auth is None:
        settings.tls_client_auth = "agents" if settings.tls_client_ca else "none"
    if settings.tls_client_auth not in ("none", "optional", "agents", "required"):
        raise ConfigError(
            "tls_client_auth must be none, optional, agents or required, "
            f"not {settings.tls_client_auth!r}"
        )
    if settings.tls_client_auth != "none" and not settings.tls_client_ca:
        raise ConfigError(f"tls_client_auth = {settings.tls_client_auth} needs tls_client_ca")
    for name in ("tls_cert", "tls_key", "tls_client_ca"):
        value = getattr(settings, name)
        if value and not Path(value).is_file():
            raise ConfigError(f"{name}: {value} is not a readable file")
    for name in ("client_header_timeout", "client_body_timeout", "keepalive_timeout"):
        if not 0 < getattr(settings, name) <= 3600:
            raise ConfigError(f"{name} must be between 0 and 3600 seconds")
    if settings.max_connections < 8:
        raise ConfigError(f"max_connections must be at least 8, not {settings.max_connections}")
    if settings.auth_fail_limit < 1 or settings.auth_fail_window <= 0:
        raise ConfigError("auth_fail_limit must be at least 1 and auth_fail_window positive")
    if not isinstance(settings.trusted_proxies, list) or not all(
        isinstance(p, str) for p in settings.trusted_proxies
    ):
        raise ConfigError("trusted_proxies must be a list of addresses")
