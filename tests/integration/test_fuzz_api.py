"""No input produces a 500: every operation of the server's OpenAPI document is hit with
requests generated from its declared parameters and body schema (``tests.openapi_strategies``:
valid shapes, hostile values mixed in, junk), against a real server process on loopback.

For every answer: the status is below 500 and one the operation declares (or a generic
error); every error is the one JSON shape ``{"error": {"status", "message"}}``; every
success's body validates against the schema the document declares for that status.

Bounded: EXAMPLES requests per operation (about 60 operations), so the whole run stays
well under a minute; the same requests each run unless CMDB_FUZZ_RANDOM=1 (then raise
CMDB_FUZZ_EXAMPLES to explore). SNMP scans and schedules are only ever pointed at loopback."""

from __future__ import annotations

import json
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from cmdb.server.api.openapi import openapi_document
from cmdb.server.api.schemas import CI_ID_PATTERN
from cmdb.server.app import create_app
from cmdb.server.config import Settings
from tests.openapi_strategies import Strategies
from tests.processes import create_token, running_server
from tests.reports import agent_report

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("CMDB_FUZZ_EXAMPLES", "8"))
ROLES = ("admin", "editor", "reader", "agent", "poller")
# a route's role -> the tokens that have it (an admin may do what editors and readers may)
HOLDERS = {
    "reader": ("reader", "editor", "admin"),
    "editor": ("editor", "admin"),
    "admin": ("admin",),
    "agent": ("agent",),
    "poller": ("poller",),
}
LOOPBACK_TARGETS = ["127.0.0.1", "127.0.0.2-127.0.0.3", "127.0.0.0/30", ["127.0.0.1"]]


def _document() -> dict:
    # the same generator the server runs (GET /api/v1/openapi.json), for the default settings;
    # parametrizing needs the operations before any server starts
    with tempfile.TemporaryDirectory() as data:
        return openapi_document(create_app(Settings(data_dir=data)))


DOC = _document()
OPERATIONS = [
    (method.upper(), path, op) for path, item in DOC["paths"].items() for method, op in item.items()
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("fuzz")
    tokens = {role: create_token(data, role) for role in ROLES}
    with running_server(data) as (url, _proc):
        served = json.loads(call(url, tokens["reader"], "GET", "/api/v1/openapi.json", {}, None)[1])
        assert served["paths"].keys() == DOC["paths"].keys()
        # a host, so that generated ids sometimes name a real CI and reach deep code
        status, raw = call(url, tokens["agent"], "POST", "/api/v1/reports", {}, agent_report())
        assert status == 201, raw
        host = json.loads(raw)["ci_id"]
        status, raw = call(
            url,
            tokens["editor"],
            "POST",
            "/api/v1/services",
            {},
            {"name": "svc", "depends_on": [{"ci": host}]},
        )
        assert status == 201, raw
        service = json.loads(raw)["id"]
        known = {CI_ID_PATTERN: [host, service, "no-such-ci"]}
        fields = {
            "cron": ["0 * * * *", "*/5 * * * * */10", "0 0 31 2 *", "61 * * * *"],
            "targets": LOOPBACK_TARGETS,
            "state": ["ordered", "assessed", "deployed"],
        }
        yield url, tokens, Strategies(DOC, known=known, fields=fields)


def call(url: str, token: str, method: str, path: str, query: dict, body) -> tuple[int, bytes]:
    # surrogatepass: a lone surrogate goes out as the invalid UTF-8 it stands for
    encoded = urllib.parse.urlencode(query, errors="surrogatepass") if query else ""
    target = url + path + ("?" + encoded if encoded else "")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        target,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _tokens_for(op: dict) -> list[str]:
    roles = op.get("x-roles") or []
    if op.get("operationId") == "post_report":
        roles = ["agent", "poller"]
    return sorted({t for role in roles for t in HOLDERS[role]}) or list(ROLES)


def _safe(path: str, body):
    """Scans and schedules only ever target loopback addresses."""
    if path in ("/api/v1/scans", "/api/v1/schedules") and isinstance(body, dict):
        return {
            **body,
            "targets": body.get("targets")
            if body.get("targets") in LOOPBACK_TARGETS
            else "127.0.0.1",
        }
    return body


def _validator(schema: dict) -> Draft202012Validator:
    return Draft202012Validator({**schema, "components": DOC["components"]})


@pytest.mark.parametrize("method,path,op", OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_no_input_gives_a_5xx_and_every_answer_is_declared(server, method, path, op):
    url, tokens, strategies = server
    good = _tokens_for(op)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        # the same requests on every run (CI stays stable); CMDB_FUZZ_RANDOM=1 explores anew
        derandomize=os.environ.get("CMDB_FUZZ_RANDOM") != "1",
        suppress_health_check=list(HealthCheck),
    )
    @given(
        request=strategies.request(method, path, op),
        role=st.one_of(st.sampled_from(good), st.sampled_from(good), st.sampled_from(ROLES)),
    )
    def run(request, role):
        filled, query, body = request
        body = _safe(path, body)
        status, raw = call(url, tokens[role], method, filled, query, body)
        where = (method, filled, query, str(body)[:300], raw[:300])
        assert status < 500, where
        if status >= 400:
            answer = json.loads(raw)
            assert isinstance(answer["error"]["message"], str), where
            assert answer["error"]["status"] == status, where
            return
        declared = op["responses"].get(str(status))
        assert declared is not None, f"status {status} is not declared: {where}"
        ((media_type, media),) = declared["content"].items()
        if media_type == "application/json":
            errors = list(_validator(media["schema"]).iter_errors(json.loads(raw)))
            assert not errors, (errors[0].message, list(errors[0].path), where)

    run()
