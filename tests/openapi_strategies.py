"""Hypothesis strategies from the server's OpenAPI document: for each operation, requests
whose path, query and body follow the declared schemas, with hostile values mixed in at
any node (overflowing integers, 5,000-character strings, lone surrogates, deep nesting,
times before year 1, injection text), or replaced by junk altogether.

Covers the JSON Schema the declarations use (``cmdb.server.api.schemas``): type (also as
a list), enum, const, properties/required/additionalProperties, min/maxProperties, items,
min/maxItems, min/maxLength, minimum/maximum (exclusive too), pattern, format date-time
and date, anyOf/oneOf/allOf, not, and ``#/components/schemas`` references."""

from __future__ import annotations

import string
import urllib.parse
from datetime import UTC
from typing import Any

from hypothesis import strategies as st

HOSTILE_TEXT = [
    "",
    " ",
    "9223372036854775808",
    "-9223372036854775809",
    "-1",
    "0" * 400,
    "yesterday",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "../../etc/passwd",
    "' OR 1=1 --",
    "`) DETACH DELETE n //",
    "%00",
    "\x00",
    "\u202e",
    "\udcff",
    "x" * 5000,
    "1e309",
    "NaN",
    "0 0 31 2 *",
    "true",
]


def _deep(levels: int) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = [value]
    return value


HOSTILE_JSON = st.sampled_from(
    [
        None,
        True,
        0,
        -1,
        2**63,
        -(2**63) - 1,
        10**40,
        1e308,
        -0.0,
        [],
        {},
        _deep(80),
        {"": None},
        *HOSTILE_TEXT,
    ]
)
JUNK = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=20), HOSTILE_JSON
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=10,
)


class Strategies:
    """Strategies for one document; ``known`` maps a regex pattern to values that exist on
    the server under test (real CI ids make the generated requests reach deep code),
    ``fields`` a property name to values worth trying besides generated ones."""

    def __init__(
        self,
        doc: dict[str, Any],
        known: dict[str, list[Any]] | None = None,
        fields: dict[str, list[Any]] | None = None,
    ):
        self.components = doc["components"]["schemas"]
        self.known = known or {}
        self.fields = fields or {}  # property name -> values worth trying (a real cron ...)

    def resolve(self, schema: Any) -> Any:
        while isinstance(schema, dict) and "$ref" in schema:
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**self.components[schema["$ref"].rsplit("/", 1)[1]], **rest}
        return schema

    # ------------------------------------------------------------ values
    def value(self, schema: Any, hostile: bool, depth: int = 0) -> st.SearchStrategy:
        """Values of ``schema``; with ``hostile``, any node may be a hostile value."""
        valid = self._valid(self.resolve(schema), hostile, depth)
        if not hostile:
            return valid
        return st.integers(0, 7).flatmap(lambda n: HOSTILE_JSON if n == 0 else valid)

    def _valid(self, s: Any, hostile: bool, depth: int) -> st.SearchStrategy:
        if not isinstance(s, dict) or depth > 8:
            return JUNK
        if "const" in s:
            return st.just(s["const"])
        if "enum" in s:
            return st.sampled_from(s["enum"])
        if "not" in s:
            return JUNK
        for key in ("anyOf", "oneOf"):
            if key in s:
                return st.one_of([self.value(sub, hostile, depth + 1) for sub in s[key]])
        if "allOf" in s:
            merged: dict[str, Any] = {k: v for k, v in s.items() if k != "allOf"}
            for part in s["allOf"]:
                part = self.resolve(part)
                merged["properties"] = {
                    **part.get("properties", {}),
                    **merged.get("properties", {}),
                }
                merged["required"] = [*part.get("required", []), *merged.get("required", [])]
                merged.setdefault("type", part.get("type"))
            return self._valid(merged, hostile, depth)
        kind = s.get("type")
        if isinstance(kind, list):
            return st.one_of([self._valid({**s, "type": k}, hostile, depth) for k in kind])
        if kind == "null":
            return st.none()
        if kind == "boolean":
            return st.booleans()
        if kind == "integer":
            low, high = s.get("minimum", -(2**63)), s.get("maximum", 2**63 - 1)
            return st.integers(low, high)
        if kind == "number":
            low = s.get("minimum", s.get("exclusiveMinimum"))
            high = s.get("maximum", s.get("exclusiveMaximum"))
            return st.floats(
                low,
                high,
                allow_nan=False,
                allow_infinity=False,
                exclude_min="exclusiveMinimum" in s,
                exclude_max="exclusiveMaximum" in s,
            )
        if kind == "string":
            return self._string(s)
        if kind == "array":
            items = self.value(s.get("items", {}), hostile, depth + 1)
            low = s.get("minItems", 0)
            return st.lists(items, min_size=low, max_size=max(low, min(s.get("maxItems", 4), 4)))
        if kind == "object" or "properties" in s:
            return self._object(s, hostile, depth)
        return JUNK

    def _string(self, s: dict[str, Any]) -> st.SearchStrategy:
        fmt, pattern = s.get("format"), s.get("pattern")
        if fmt == "date-time":
            return st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat())
        if fmt == "date":
            return st.dates().map(lambda d: d.isoformat())
        low, high = s.get("minLength", 0), min(s.get("maxLength", 40), 40)
        if pattern in self.known:
            return st.sampled_from(self.known[pattern])
        if pattern and pattern != r"\S":
            return st.from_regex(pattern, fullmatch=True).filter(lambda t: low <= len(t) <= high)
        text = st.text(
            string.ascii_letters + string.digits + " -_.",
            min_size=max(low, 1),
            max_size=max(high, 1),
        )
        return text.filter(lambda t: t.strip()) if pattern else text

    def _object(self, s: dict[str, Any], hostile: bool, depth: int) -> st.SearchStrategy:
        props = {
            k: self._field(k, v, hostile, depth)
            for k, v in s.get("properties", {}).items()
            if not (isinstance(v, dict) and "not" in v)
        }
        required = {k: props[k] for k in s.get("required", []) if k in props}
        optional = {k: v for k, v in props.items() if k not in required}
        extra = s.get("additionalProperties")
        if not props and isinstance(extra, dict):
            low = s.get("minProperties", 0)
            return st.dictionaries(
                st.text(string.ascii_lowercase + "_", min_size=1, max_size=12),
                self.value(extra, hostile, depth + 1),
                min_size=low,
                max_size=max(low, min(s.get("maxProperties", 3), 3)),
            )
        if s.get("maxProperties") == 1 and not required and optional:
            return st.one_of([st.fixed_dictionaries({k: v}) for k, v in optional.items()])
        return st.fixed_dictionaries(required, optional=optional)

    def _field(self, name: str, schema: Any, hostile: bool, depth: int) -> st.SearchStrategy:
        generated = self.value(schema, hostile, depth + 1)
        if name in self.fields:
            return st.one_of(st.sampled_from(self.fields[name]), generated)
        return generated

    # ------------------------------------------------------------ requests
    def request(self, method: str, path: str, op: dict[str, Any]) -> st.SearchStrategy:
        """(path with its parameters filled, query dict, body or None) for one operation."""
        path_params = [p for p in op.get("parameters", []) if p["in"] == "path"]
        query_params = [p for p in op.get("parameters", []) if p["in"] == "query"]
        body = op.get("requestBody")
        body_schema = body["content"]["application/json"]["schema"] if body else None

        @st.composite
        def build(draw):
            filled = path
            for param in path_params:
                value = draw(self._path_value(param["schema"]))
                filled = filled.replace(
                    "{" + param["name"] + "}",
                    urllib.parse.quote(str(value), safe="", errors="surrogatepass") or "x",
                )
            query: dict[str, str] = {}
            for param in query_params:
                if param["schema"].get("type") == "object":  # free-form filters
                    query |= draw(
                        st.dictionaries(
                            st.text(string.ascii_lowercase, min_size=1, max_size=8),
                            st.sampled_from(HOSTILE_TEXT[:12]) | st.text(max_size=8),
                            max_size=2,
                        )
                    )
                elif param["required"] or draw(st.booleans()):
                    query[param["name"]] = draw(self._query_value(param["schema"]))
            if draw(st.integers(0, 9)) == 0:
                query[draw(st.sampled_from(["x", "os_version", "limit ", "q\x00"]))] = "1"
            payload = None
            if body_schema is not None:
                mode = draw(
                    st.sampled_from(["valid", "valid", "hostile", "hostile", "junk", "none"])
                )
                if mode == "junk":
                    payload = draw(JUNK)
                elif mode != "none":
                    payload = draw(self.value(body_schema, mode == "hostile"))
            return filled, query, payload

        return build()

    def _path_value(self, schema: dict[str, Any]) -> st.SearchStrategy:
        hostile = st.sampled_from(HOSTILE_TEXT[2:]).filter(lambda t: t.strip())
        if schema.get("type") == "integer":
            # above the ids of the test's own tokens: a fuzzed DELETE must not revoke them
            return st.one_of(st.integers(10**6, 2**63 - 1), hostile)
        return st.one_of(self._string(schema), hostile)

    def _query_value(self, schema: dict[str, Any]) -> st.SearchStrategy:
        hostile = st.sampled_from(HOSTILE_TEXT)
        valid = self._valid(self.resolve(schema), False, 0).map(
            lambda v: str(v).lower() if isinstance(v, bool) else str(v)
        )
        return st.integers(0, 3).flatmap(lambda n: hostile if n == 0 else valid)
