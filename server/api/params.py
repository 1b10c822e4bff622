"""Parameters several route declarations share (``cmdb.server.api.spec``)."""

from __future__ import annotations

from cmdb.server.api.schemas import CI_ID
from cmdb.server.api.spec import INT64_MAX, Param

# a path id that cannot be a CI id names no CI: 404, as an unknown id does
CI_PATH = Param(
    "id", CI_ID, "a CI id", required=True, example="6f1c2a9e-3b4d-4e5f-8a7b-1c2d3e4f5a6b"
)
SERVICE_PATH = Param("id", CI_ID, "a service id", required=True)
ASSET_PATH = Param("id", CI_ID, "an asset id", required=True)
CHANGE_PATH = Param("id", CI_ID, "a change id", required=True)
TOKEN_PATH = Param(
    "id",
    {"type": "integer", "minimum": 1, "maximum": INT64_MAX},
    "a token id (an integer, see GET /api/v1/tokens)",
    required=True,
    example=3,
)
