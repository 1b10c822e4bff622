"""Declarations of routes whose handlers are written elsewhere: scans and schedules
(``cmdb.server.api.scans``), the remote pollers' routes (``cmdb.server.api.poller``) and
``/metrics`` (``cmdb.server.metrics``, documented only: it is Prometheus text and decides
its own access). The route tables of scans and poller are ``ApiRoutes(declared=...)``
over the tuples below, so their ``@routes.post(path)`` decorators find their declaration
by method and path and their handlers run behind the same edge checks."""

from __future__ import annotations

from cmdb.server.api.schemas import NAME, array, listing, nullable, obj
from cmdb.server.api.spec import INT64_MAX, Body, Param, Reply, declare, register

READER, EDITOR, ADMIN, POLLER = ("reader",), ("editor",), ("admin",), ("poller",)
SITE = {
    "type": "string",
    "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
    "description": "a site name (letters, digits, . _ -; at most 64 characters)",
}
# routes that act on their path alone take no body, or an empty object (what the CLI sends)
NO_BODY = Body(
    {"type": "object", "maxProperties": 0},
    "nothing: no body, or an empty object",
    example={},
    required=False,
)
SCAN_ID = Param(
    "id",
    {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[A-Za-z0-9._:-]+$"},
    "a scan id",
    required=True,
    example="0d9c8b7a-6f5e-4d3c-8b2a-1f0e9d8c7b6a",
)
SCHEDULE_NAME = Param(
    "name", {"type": "string", "minLength": 1, "maxLength": 200}, "a schedule name", True
)
TARGETS = {
    "anyOf": [
        {"type": "string", "minLength": 1, "maxLength": 100_000},
        {
            "type": "array",
            "minItems": 1,
            "maxItems": 65_536,
            "items": {"type": "string", "maxLength": 100},
        },
    ],
    "description": "addresses, ranges (10.0.0.1-10.0.0.20) and CIDR blocks: a comma-separated "
    "string or a list",
}
_SECRET = nullable({"type": "string", "maxLength": 256})
CREDENTIAL = obj(
    {
        "version": nullable({"type": ["string", "integer"], "enum": ["1", "2c", "3", 1, 3]}),
        "community": _SECRET,
        "user": _SECRET,
        "auth_protocol": _SECRET,
        "auth_password": _SECRET,
        "priv_protocol": _SECRET,
        "priv_password": _SECRET,
        "level": _SECRET,
        "name": _SECRET,
    },
    strict=True,
    description="an SNMP credential profile (v1/v2c: community; v3: user and protocols)",
)
CREDENTIALS = array(CREDENTIAL, 32, minItems=1)
CREDENTIAL_LABEL = obj(
    {
        "label": {"type": "string"},
        "version": {"type": "string"},
        "user": nullable({"type": "string"}),
        "security_level": nullable({"type": "string"}),
    },
    ("label", "version"),
)
SCAN = obj(
    {
        "id": {"type": "string"},
        "status": {"enum": ["queued", "running", "done", "failed", "cancelled", "interrupted"]},
        "targets": {"type": "string"},
        "port": {"type": "integer"},
        "total": {"type": "integer"},
        "counts": {"type": "object"},
        "errors": array({}, None),
        "devices": array({}, None),
        "credentials": array(CREDENTIAL_LABEL, None),
        "schedule": nullable({"type": "string"}),
        "created_at": nullable({"type": "string"}),
        "started_at": nullable({"type": "string"}),
        "finished_at": nullable({"type": "string"}),
        "message": nullable({"type": "string"}),
    },
    ("id", "status", "targets", "total", "counts", "errors"),
)
SCAN_EXAMPLE = {
    "id": "0d9c8b7a-6f5e-4d3c-8b2a-1f0e9d8c7b6a",
    "status": "running",
    "targets": "10.0.0.0/28",
    "port": 161,
    "total": 16,
    "counts": {"probed": 5, "answered": 2, "devices": 2, "timeouts": 3, "errors": 0},
    "errors": [],
    "devices": [],
    "credentials": [{"label": "v2c public", "version": "2c", "user": None, "security_level": None}],
    "schedule": None,
    "created_at": "2026-11-28T10:00:00.000Z",
    "started_at": "2026-11-28T10:00:00.000Z",
    "finished_at": None,
    "message": None,
}
SCAN_REQUEST = obj(
    {
        "targets": TARGETS,
        "credentials": CREDENTIALS,
        "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 161},
        "timeout": {"type": "number", "minimum": 0.05, "maximum": 60, "default": 1.0},
        "retries": {"type": "integer", "minimum": 0, "maximum": 10, "default": 1},
        "concurrency": {"type": "integer", "minimum": 1, "maximum": 1024},
        "device_budget": {"type": "number", "minimum": 1, "maximum": 3600},
        "charset": nullable({"type": "string", "minLength": 1, "maxLength": 40}),
    },
    ("targets", "credentials"),
    strict=True,
)
CRON = {
    "type": "string",
    "minLength": 1,
    "maxLength": 200,
    "description": "a cron expression: five fields, or six with seconds last",
}
SCHEDULE_REQUEST = obj(
    {
        "name": NAME,
        "cron": CRON,
        "targets": TARGETS,
        # a site schedule may leave them out: the site's pollers hold their own
        "credentials": nullable(array(CREDENTIAL, 32)),
        "site": nullable(SITE),
        "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 161},
        "timeout": {"type": "number", "minimum": 0.05, "maximum": 60, "default": 1.0},
        "retries": {"type": "integer", "minimum": 0, "maximum": 10, "default": 1},
        "enabled": {"type": "boolean", "default": True},
    },
    ("name", "cron", "targets"),
    strict=True,
)
SCHEDULE = obj(
    {
        "name": {"type": "string"},
        "cron": {"type": "string"},
        "targets": {"type": "string"},
        "port": {"type": "integer"},
        "timeout": {"type": "number"},
        "retries": {"type": "integer"},
        "enabled": {"type": "boolean"},
        "site": nullable({"type": "string"}),
        "credentials": array(CREDENTIAL_LABEL, None),
        "next_run": nullable({"type": "string"}),
        "last_run": nullable({"type": "string"}),
    },
    ("name", "cron", "targets", "credentials"),
)
SCHEDULE_EXAMPLE = {
    "name": "core-switches",
    "cron": "0 * * * *",
    "targets": "10.0.0.0/28",
    "port": 161,
    "timeout": 1.0,
    "retries": 1,
    "enabled": True,
    "site": None,
    "credentials": [{"label": "v2c public", "version": "2c", "user": None, "security_level": None}],
    "next_run": "2026-11-28T11:00:00Z",
}

SCANS = (
    declare(
        "POST",
        "/api/v1/scans",
        "Start an SNMP scan of addresses, ranges and CIDR blocks",
        description="202: the scan runs in the background; follow it with GET /api/v1/scans/{id}. "
        "Credentials are never returned, only their labels.",
        roles=EDITOR,
        body=Body(
            SCAN_REQUEST,
            "targets and credential profiles; port, timeout, retries, concurrency, device_budget",
            example={
                "targets": "10.0.0.0/28",
                "credentials": [{"version": "2c", "community": "public"}],
                "timeout": 1.0,
            },
        ),
        responses={202: Reply(SCAN, "the scan, queued or running", example=SCAN_EXAMPLE)},
        errors={422: "more addresses than the server's scan_max_addresses"},
        tags=("scans",),
    ),
    declare(
        "GET",
        "/api/v1/scans",
        "List scans",
        description="Newest first, without their device lists and with at most 10 errors each.",
        roles=READER,
        responses={
            200: Reply(listing(SCAN), "every scan", example={"items": [SCAN_EXAMPLE], "total": 1})
        },
        tags=("scans",),
    ),
    declare(
        "GET",
        "/api/v1/scans/{id}",
        "One scan: status, counts, errors per target, devices",
        roles=READER,
        path_params=[SCAN_ID],
        responses={200: Reply(SCAN, "the scan", example=SCAN_EXAMPLE)},
        tags=("scans",),
    ),
    declare(
        "POST",
        "/api/v1/scans/{id}/cancel",
        "Stop a scan, whichever server runs it",
        description="202: it stops at that server's next heartbeat (a few seconds); a "
        "finished scan is answered as it is (200).",
        roles=EDITOR,
        body=NO_BODY,
        path_params=[SCAN_ID],
        responses={
            202: Reply(
                SCAN, "cancellation requested", example={**SCAN_EXAMPLE, "status": "running"}
            ),
            200: Reply(
                SCAN, "the scan had already finished", example={**SCAN_EXAMPLE, "status": "done"}
            ),
        },
        tags=("scans",),
    ),
    declare(
        "POST",
        "/api/v1/schedules",
        "Create or replace a scan schedule",
        description="Credentials are stored sealed (shared state) and never returned; a "
        "schedule with a site is run by that site's pollers.",
        roles=EDITOR,
        body=Body(
            SCHEDULE_REQUEST,
            "name, cron, targets and credentials (or a site whose pollers hold them)",
            example={
                "name": "core-switches",
                "cron": "0 * * * *",
                "targets": "10.0.0.0/28",
                "credentials": [{"version": "2c", "community": "public"}],
            },
        ),
        responses={201: Reply(SCHEDULE, "the schedule as stored", example=SCHEDULE_EXAMPLE)},
        errors={
            422: "too many addresses, a cron that never fires, or credentials the server "
            "cannot seal"
        },
        tags=("schedules",),
    ),
    declare(
        "GET",
        "/api/v1/schedules",
        "List scan schedules",
        roles=READER,
        responses={
            200: Reply(
                listing(SCHEDULE),
                "every schedule",
                example={"items": [SCHEDULE_EXAMPLE], "total": 1},
            )
        },
        tags=("schedules",),
    ),
    declare(
        "GET",
        "/api/v1/schedules/{name}",
        "One scan schedule",
        roles=READER,
        path_params=[SCHEDULE_NAME],
        responses={200: Reply(SCHEDULE, "the schedule", example=SCHEDULE_EXAMPLE)},
        tags=("schedules",),
    ),
    declare(
        "POST",
        "/api/v1/schedules/due",
        "Run the due check now on this server",
        description="The scheduler also runs it every CMDB_SCHEDULE_TICK seconds: scans "
        "start here for the firings this server won.",
        roles=EDITOR,
        body=NO_BODY,
        responses={
            200: Reply(
                obj({"started": array({}, None)}, ("started",)),
                "the scans started",
                example={"started": []},
            )
        },
        tags=("schedules",),
    ),
    declare(
        "POST",
        "/api/v1/schedules/{name}/run",
        "Run a schedule now",
        roles=EDITOR,
        body=NO_BODY,
        path_params=[SCHEDULE_NAME],
        responses={202: Reply(SCAN, "the scan started", example=SCAN_EXAMPLE)},
        errors={
            409: "already running, run by a site's pollers, or its credentials cannot be opened"
        },
        tags=("schedules",),
    ),
    declare(
        "DELETE",
        "/api/v1/schedules/{name}",
        "Delete a schedule",
        roles=EDITOR,
        path_params=[SCHEDULE_NAME],
        responses={
            200: Reply(
                obj({"name": {"type": "string"}, "deleted": {"const": True}}, ("name", "deleted")),
                "the schedule is deleted",
                example={"name": "core-switches", "deleted": True},
            )
        },
        tags=("schedules",),
    ),
)

POLLER_INSTANCE = {"type": "string", "maxLength": 128, "description": "the poller instance"}
# no maxItems on claims: over MAX_CLAIM (4096) targets the route answers 422 itself
TARGET_LIST = array({"type": "string", "maxLength": 300}, None)
POLLER_KEY = obj(
    {
        "fingerprint": {"type": "string"},
        "site": {"type": "string"},
        "token_id": {"type": "integer"},
        "token_name": {"type": "string"},
        "registered_at": {"type": "string"},
    },
    ("fingerprint", "site", "token_id"),
)
POLLER = (
    declare(
        "GET",
        "/api/v1/poller/schedules",
        "The enabled schedules of a site, with due",
        description="Never a secret: credential labels only (the profiles come sealed with a "
        "won firing).",
        roles=POLLER,
        query=[Param("site", SITE, "the poller's site", required=True, example="dc1")],
        responses={
            200: Reply(
                listing(
                    {
                        **SCHEDULE,
                        "properties": {**SCHEDULE["properties"], "due": {"type": "boolean"}},
                    },
                    now={"type": "string"},
                ),
                "the site's schedules",
                example={
                    "items": [{**SCHEDULE_EXAMPLE, "site": "dc1", "due": True}],
                    "total": 1,
                    "now": "2026-11-28T11:00:00Z",
                },
            )
        },
        tags=("poller",),
    ),
    declare(
        "POST",
        "/api/v1/poller/schedules/{name}/claim",
        "Claim a due firing of a site schedule",
        description="200 with a scan id when this poller won the firing, 409 (claimed false) "
        "when another poller or server did. Credential profiles come sealed to the key this "
        "token registered (sealed_credentials), or credentials_error says why not.",
        roles=POLLER,
        path_params=[SCHEDULE_NAME],
        body=Body(
            obj(
                {
                    "next_run": nullable({"type": "string", "maxLength": 64}),
                    "poller": POLLER_INSTANCE,
                },
            ),
            "the next_run value read, and the poller instance",
            example={"next_run": "2026-11-28T11:00:00Z", "poller": "dc1-a"},
        ),
        responses={
            200: Reply(
                obj(
                    {
                        "claimed": {"const": True},
                        "scan_id": {"type": "string"},
                        "next_run": {"type": "string"},
                        "sealed_credentials": {"type": "object"},
                        "credentials_error": {"type": "string"},
                    },
                    ("claimed", "scan_id", "next_run"),
                ),
                "this poller runs the firing",
                example={
                    "claimed": True,
                    "scan_id": "0d9c8b7a-6f5e-4d3c-8b2a-1f0e9d8c7b6a",
                    "next_run": "2026-11-28T12:00:00Z",
                },
            )
        },
        errors={409: "the firing is not due, or another scanner claimed it (claimed false)"},
        tags=("poller",),
    ),
    declare(
        "POST",
        "/api/v1/poller/key",
        "Register this poller token's public key and site",
        description="The first registration on a token stays: the same key again is 200, a new "
        "one 201, another key or site 409 until an admin removes it.",
        roles=POLLER,
        body=Body(
            obj(
                {"public_key": {"type": "string", "minLength": 1, "maxLength": 100}, "site": SITE},
                ("public_key", "site"),
            ),
            "an X25519 public key (base64url) and the site",
            example={"public_key": "q1Xn0aK3JvQf0mXb0a8l3rWcN5mD0x4b9yZ2uTgH1kE", "site": "dc1"},
        ),
        responses={
            201: Reply(
                obj(
                    {
                        "registered": {"const": True},
                        "fingerprint": {"type": "string"},
                        "site": {"type": "string"},
                    }
                ),
                "registered",
                example={
                    "registered": True,
                    "fingerprint": "sha256:00112233445566778899aabbccddeeff",
                    "site": "dc1",
                },
            ),
            200: Reply(
                obj(
                    {
                        "registered": {"const": True},
                        "fingerprint": {"type": "string"},
                        "site": {"type": "string"},
                    }
                ),
                "this key was registered already",
                example={
                    "registered": True,
                    "fingerprint": "sha256:00112233445566778899aabbccddeeff",
                    "site": "dc1",
                },
            ),
        },
        errors={409: "another key or site is registered on this token (registered false)"},
        tags=("poller",),
    ),
    declare(
        "GET",
        "/api/v1/poller/keys",
        "The registered poller keys (admin)",
        roles=ADMIN,
        responses={
            200: Reply(
                listing(POLLER_KEY),
                "token id and name, site, fingerprint, time",
                example={
                    "items": [
                        {
                            "fingerprint": "sha256:00112233445566778899aabbccddeeff",
                            "site": "dc1",
                            "token_id": 5,
                            "token_name": "poller-dc1",
                            "registered_at": "2026-11-28T10:00:00.000Z",
                        }
                    ],
                    "total": 1,
                },
            )
        },
        tags=("poller",),
    ),
    declare(
        "DELETE",
        "/api/v1/poller/keys/{token_id}",
        "Remove the key registered on a poller token (admin)",
        roles=ADMIN,
        path_params=[
            Param(
                "token_id",
                {"type": "integer", "minimum": 1, "maximum": INT64_MAX},
                "a token id (an integer, see GET /api/v1/tokens)",
                True,
            )
        ],
        responses={
            200: Reply(
                obj(
                    {"token_id": {"type": "integer"}, "removed": {"const": True}},
                    ("token_id", "removed"),
                ),
                "removed: the poller registers anew at its next start",
                example={"token_id": 5, "removed": True},
            )
        },
        tags=("poller",),
    ),
    declare(
        "POST",
        "/api/v1/poller/claims",
        "Claim devices to scan",
        description="The targets this poller may scan now, each claimed until ttl runs out.",
        roles=POLLER,
        body=Body(
            obj(
                {
                    "targets": TARGET_LIST,
                    "ttl": {"type": "number", "minimum": 0, "maximum": 1e9},
                    "poller": POLLER_INSTANCE,
                },
                ("targets",),
            ),
            "host:port targets, a ttl in seconds (1 s to 6 h) and the poller instance",
            example={"targets": ["10.0.0.1:161"], "ttl": 600, "poller": "dc1-a"},
        ),
        errors={422: "more than 4096 targets in one claim"},
        responses={
            200: Reply(
                obj(
                    {"granted": array({"type": "string"}, None), "ttl": {"type": "number"}},
                    ("granted", "ttl"),
                ),
                "the targets granted",
                example={"granted": ["10.0.0.1:161"], "ttl": 600.0},
            )
        },
        tags=("poller",),
    ),
    declare(
        "POST",
        "/api/v1/poller/release",
        "Release claimed devices",
        roles=POLLER,
        body=Body(
            obj(
                {"targets": {**TARGET_LIST, "maxItems": 100_000}, "poller": POLLER_INSTANCE},
                ("targets",),
            ),
            "host:port targets and the poller instance",
            example={"targets": ["10.0.0.1:161"], "poller": "dc1-a"},
        ),
        responses={
            200: Reply(
                obj({"released": {"type": "integer"}}, ("released",)),
                "how many were released",
                example={"released": 1},
            )
        },
        tags=("poller",),
    ),
    declare(
        "POST",
        "/api/v1/poller/scans/{id}",
        "Report progress on a claimed scan",
        description="Answers cancel_requested: stop when true.",
        roles=POLLER,
        path_params=[SCAN_ID],
        body=Body(
            obj(
                {
                    "status": {"enum": ["running", "done", "failed", "cancelled"]},
                    "counts": {"type": "object", "maxProperties": 50},
                    "errors": array({}, 10_000),
                    "devices": array({}, 100_000),
                    "message": nullable({"type": "string", "maxLength": 10_000}),
                    "total": {"type": "integer", "minimum": 0, "maximum": INT64_MAX},
                    "poller": POLLER_INSTANCE,
                },
            ),
            "status, counts, errors, devices, message, total",
            example={"status": "running", "counts": {"probed": 5}, "poller": "dc1-a"},
        ),
        responses={
            200: Reply(
                obj(
                    {"id": {"type": "string"}, "cancel_requested": {"type": "boolean"}},
                    ("id", "cancel_requested"),
                ),
                "recorded",
                example={"id": "0d9c8b7a-6f5e-4d3c-8b2a-1f0e9d8c7b6a", "cancel_requested": False},
            )
        },
        tags=("poller",),
    ),
)

METRICS = register(
    declare(
        "GET",
        "/metrics",
        "Prometheus metrics",
        description="The Prometheus text format. Access by the server's metrics_access "
        "setting: open, loopback clients only, or a reader token.",
        responses={
            200: Reply(
                {"type": "string"},
                "the metrics",
                example="# HELP cmdb_reports_total Reports received\n",
                media="text/plain",
            )
        },
        errors={403: "not a loopback client (metrics_access = loopback), or not a reader"},
        operation_id="metrics",
        tags=("meta",),
        documented_only=True,
    )
)

for _declaration in (*SCANS, *POLLER):
    register(_declaration)
