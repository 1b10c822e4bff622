"""One declaration per API route: what it takes, what it answers, who may call it.

A route is declared where its handler is, with the decorator of an :class:`ApiRoutes`
table (an aiohttp ``RouteTableDef``, so ``app.router.add_routes`` takes it as before)::

    @routes.get(
        "/api/v1/cis/{id}/history",
        summary="Attribute and relationship history of a CI",
        roles=READER,
        path_params=[CI_PATH],
        query=[*page(), time_param("since", "..."), time_param("until", "...")],
        responses={200: Reply(HISTORY_PAGE, "newest first", example={...})},
    )
    async def ci_history(request: web.Request, a: Args) -> web.Response:
        ...  # a.path["id"], a.query["limit"] (an int), a.query["since"] (a normalised time)

The declaration is the only description of the route:

* **validation at the edge**, before the handler runs, in this order: the caller's role
  (``roles`` or a ``guard``), path parameters (a value that cannot name a resource is a
  404), the query string (unknown or repeated parameters, wrong types, ranges, enums,
  lengths, times: 400 naming the parameter and what it takes), then the body (read within
  the server's limits, parsed by ``cmdb.server.api.errors.parse_json``, checked against
  its JSON Schema, compiled once with fastjsonschema: 400 naming the field as a JSONPath,
  also in ``error.field``). The handler gets typed values in :class:`Args`;
* **the OpenAPI 3.1 document** (``cmdb.server.api.openapi``): parameters with their
  schemas, the request body with its schema and examples, every answer with its schema
  and examples, the error answers with the one error shape.

Bounds that depend on the server's configuration (``max_page_size``, ``max_depth``) are
written as :class:`Setting` in a schema and take the app's value, in validation and in
the document alike. Semantic checks (does the referenced CI exist, may this state follow
that one) stay with the code that knows: ``cmdb.server.catalogue`` answers 404/409/422.

Routes whose handlers live elsewhere may be declared in a table (``declared=``) and keep
plain ``@routes.post(path)`` decorators: the declaration is found by method and path.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import math
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import fastjsonschema
from aiohttp import web

from cmdb.graph import times
from cmdb.server.api.errors import ApiError, parse_json

# a store's integers are 64-bit: anything larger is a client error, not an overflow deep down
INT64_MAX = 2**63 - 1
# documented limits of names and free text (the catalogue's, cmdb.server.catalogue.common)
MAX_NAME_CHARS = 200
MAX_TEXT_CHARS = 10_000
MAX_QUERY_CHARS = 1000  # any query value; a name filter is a name (MAX_NAME_CHARS)
_SURROGATE = re.compile("[\ud800-\udfff]")

Handler = Callable[..., Awaitable[web.StreamResponse]]
ARGS_KEY: web.RequestKey[Args] = web.RequestKey("api_args")


@dataclass(frozen=True)
class Setting:
    """A bound taken from the server's settings (``Settings.<name>``) when the schema is
    compiled for an app or written into its OpenAPI document."""

    name: str


@dataclass(frozen=True)
class Param:
    """A path or query parameter: ``schema`` is the JSON Schema of its typed value
    (``integer``, ``number``, ``boolean`` or ``string``; a ``date-time`` string is handed
    over normalised, ``cmdb.graph.times``)."""

    name: str
    schema: dict[str, Any]
    description: str
    required: bool = False
    default: Any = None
    example: Any = None


@dataclass(frozen=True)
class Body:
    """A request body. ``read=False``: the handler reads and validates it itself (the
    report route: its size limits are counted in its metrics and ``cmdb.server.ingest``
    validates reports against this same schema, section by section)."""

    schema: dict[str, Any]
    description: str
    example: Any = None
    examples: Mapping[str, Any] = field(default_factory=dict)
    media: tuple[str, ...] = ("application/json",)
    read: bool = True
    required: bool = True  # False: no body at all is fine too (the handler gets None)


@dataclass(frozen=True)
class Reply:
    """One success answer: its schema, a sentence, and at least one example."""

    schema: dict[str, Any]
    description: str
    example: Any = None
    examples: Mapping[str, Any] = field(default_factory=dict)
    media: str = "application/json"


@dataclass(frozen=True)
class Declaration:
    method: str
    path: str
    summary: str
    description: str = ""
    roles: tuple[str, ...] | None = None  # None: public (no token)
    guard: Callable[[web.Request], Any] | None = None  # replaces the role check
    path_params: tuple[Param, ...] = ()
    query: tuple[Param, ...] = ()
    extra_query: str | None = None  # routes that take free-form filters say what they are
    body: Body | None = None
    responses: Mapping[int, Reply] = field(default_factory=dict)
    errors: Mapping[int, str] = field(default_factory=dict)  # the route's own error cases
    tags: tuple[str, ...] = ()
    operation_id: str = ""
    documented_only: bool = False  # served by code outside the API tables (/metrics)

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)


@dataclass
class Args:
    """What the edge validated, typed: ``path`` and ``query`` by name (every declared
    query parameter is present, absent ones at their default), ``body`` the parsed JSON,
    ``extra`` the free-form query parameters of a route that takes them, ``principal``
    the caller (None on public routes)."""

    path: dict[str, Any]
    query: dict[str, Any]
    body: Any = None
    extra: dict[str, str] = field(default_factory=dict)
    principal: Any = None
    body_read: bool = False


# every declaration, by (METHOD, path template): the OpenAPI document is built from these
REGISTRY: dict[tuple[str, str], Declaration] = {}


def register(declaration: Declaration) -> Declaration:
    """Add a declaration to the registry (a second one for the same route replaces it: a
    module reloaded in a test declares its routes again)."""
    REGISTRY[declaration.key] = declaration
    return declaration


def declare(method: str, path: str, summary: str, **fields: Any) -> Declaration:
    """A declaration without a handler (for a table given to ``ApiRoutes(declared=...)``)."""
    return _declaration(method.upper(), path, summary, fields)


def _declaration(method: str, path: str, summary: str, fields: dict[str, Any]) -> Declaration:
    for name in ("path_params", "query"):
        if name in fields:
            fields[name] = tuple(fields[name])
    if "roles" in fields and fields["roles"] is not None:
        fields["roles"] = tuple(fields["roles"])
    declared = re.findall(r"{(\w+)}", path)
    given = [p.name for p in fields.get("path_params", ())]
    missing = [n for n in declared if n not in given]
    fields["path_params"] = tuple(fields.get("path_params", ())) + tuple(
        Param(n, {"type": "string", "minLength": 1, "maxLength": 200}, f"the {n}") for n in missing
    )
    return Declaration(method=method, path=path, summary=summary, **fields)


class ApiRoutes(web.RouteTableDef):
    """A route table whose decorators take the route's declaration (see the module)."""

    def __init__(self, declared: Iterable[Declaration] = ()) -> None:
        super().__init__()
        self._declared = {d.key: d for d in declared}

    def route(self, method: str, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        method = method.upper()
        # ``around``: a decorator for the whole route, edge checks included (the report
        # route's metrics count every answer, a refused role or an oversize body too)
        around = kwargs.pop("around", None)
        summary = kwargs.pop("summary", None)
        if summary is not None:
            declaration = _declaration(method, path, summary, kwargs)
            kwargs = {}
        elif (method, path) in self._declared:
            declaration = self._declared[(method, path)]
        else:
            raise TypeError(f"{method} {path}: an API route needs a declaration (summary=...)")
        parent = super().route

        def decorate(handler: Handler) -> Handler:
            if not declaration.operation_id:
                object.__setattr__(declaration, "operation_id", handler.__name__)
            register(declaration)
            wrapped = _validated(declaration, handler)
            parent(method, path, **kwargs)(around(wrapped) if around else wrapped)
            return wrapped

        return decorate


def _validated(declaration: Declaration, handler: Handler) -> Handler:
    """The handler behind the edge checks; it gets (request, args) if it takes two
    parameters, else (request) with the args in ``request[ARGS_KEY]``."""
    takes_args = len(inspect.signature(handler, follow_wrapped=False).parameters) >= 2

    @functools.wraps(handler)
    async def edge(request: web.Request) -> web.StreamResponse:
        args = await validate_request(request, declaration)
        request[ARGS_KEY] = args
        if takes_args:
            return await handler(request, args)
        return await handler(request)

    edge.declaration = declaration  # type: ignore[attr-defined]
    return edge


# ---------------------------------------------------------------- validation
async def validate_request(request: web.Request, declaration: Declaration) -> Args:
    """Check the request against its declaration (see the module for the order); an
    ApiError names what is wrong and what the route takes."""
    from cmdb.server.api.auth import require
    from cmdb.server.api.keys import SETTINGS_KEY

    principal = None
    if declaration.guard is not None:
        principal = declaration.guard(request)
    elif declaration.roles is not None:
        principal = require(request, *declaration.roles)
    compiled = compiled_for(declaration, request.app[SETTINGS_KEY])
    args = Args(
        path=compiled.path_values(request.match_info),
        query={},
        principal=principal,
    )
    args.query, args.extra = compiled.query_values(request.query)
    body = declaration.body
    if body is not None and body.read:
        args.body = compiled.check_body(await _read_body(request, body))
        args.body_read = True
    return args


async def _read_body(request: web.Request, body: Body) -> Any:
    from cmdb.server.api.body import limits_of, read_body
    from cmdb.server.api.keys import SETTINGS_KEY

    raw = await read_body(request, limits_of(request.app[SETTINGS_KEY]))
    if not raw.strip() and not body.required:
        return None
    if not raw.strip():
        raise ApiError(
            400,
            f"the request body is empty; this route takes {' or '.join(body.media)}",
        )
    if request.content_type in _YAML_TYPES and "application/yaml" in body.media:
        return _parse_yaml(raw)
    return parse_json(raw)


_YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})


def _parse_yaml(raw: bytes) -> Any:
    """YAML as the JSON it stands for: no aliases (a few bytes of anchors can stand for
    billions of nodes), keys as text, and the same limits as JSON bodies."""
    import yaml

    class _Loader(yaml.SafeLoader):
        def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
            if self.check_event(yaml.AliasEvent):
                raise ApiError(400, "YAML aliases (*name) are not accepted; write the values out")
            return super().compose_node(parent, index)

    try:
        document = yaml.load(raw, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ApiError(400, f"malformed YAML: {str(exc)[:300]}") from exc
    except (ValueError, OverflowError, RecursionError) as exc:
        raise ApiError(400, f"the YAML holds a value that is not plain data: {exc!s:.200}") from exc
    try:
        text = json.dumps(document, default=str)  # dates become text, keys strings
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, f"the YAML is not a JSON document: {exc!s:.200}") from exc
    return parse_json(text.encode())


# ---------------------------------------------------------------- compiled declarations
def _is_time(value: Any) -> bool:
    if not isinstance(value, str):
        return True  # the type is another keyword's concern
    try:
        times.normalise(value)
    except ValueError:
        return False
    return True


def _is_date(value: Any) -> bool:
    if not isinstance(value, str):
        return True
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


FORMATS = {"date-time": _is_time, "date": _is_date}
_COMPILED: dict[tuple[str, str, tuple[Any, ...]], Compiled] = {}


def resolve(schema: Any, settings: Any) -> Any:
    """``schema`` with every :class:`Setting` replaced by the settings' value."""
    if isinstance(schema, Setting):
        return getattr(settings, schema.name)
    if isinstance(schema, dict):
        return {k: resolve(v, settings) for k, v in schema.items()}
    if isinstance(schema, list | tuple):
        return [resolve(v, settings) for v in schema]
    return schema


def inline(schema: Any, components: Mapping[str, Any] | None = None) -> Any:
    """``schema`` with each ``{"$ref": "#/components/schemas/X"}`` replaced by X (the
    validators compile self-contained schemas)."""
    if components is None:
        from cmdb.server.api.schemas import COMPONENTS

        components = COMPONENTS
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            target = components[ref.rsplit("/", 1)[1]]
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            resolved = inline(target, components)
            return {**resolved, **inline(rest, components)} if rest else resolved
        return {k: inline(v, components) for k, v in schema.items()}
    if isinstance(schema, list):
        return [inline(v, components) for v in schema]
    return schema


_SETTINGS_USED: dict[int, tuple[str, ...]] = {}  # id(declaration) -> the settings it names


def _settings_key(declaration: Declaration, settings: Any) -> tuple[Any, ...]:
    """The values of the settings the declaration's schemas name (walked once per
    declaration: the report route's schema is large and its route is the hot path)."""
    used = _SETTINGS_USED.get(id(declaration))
    if used is None:
        used = _SETTINGS_USED[id(declaration)] = _settings_named(declaration)
    return tuple(getattr(settings, name, None) for name in used)


def _settings_named(declaration: Declaration) -> tuple[str, ...]:
    used: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, Setting):
            used.add(value.name)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list | tuple):
            for v in value:
                walk(v)

    for param in (*declaration.path_params, *declaration.query):
        walk(param.schema)
        walk(param.default)
    if declaration.body is not None:
        walk(declaration.body.schema)
    return tuple(sorted(used))


def compiled_for(declaration: Declaration, settings: Any) -> Compiled:
    """The declaration's validators for these settings, compiled once."""
    key = (declaration.method, declaration.path, _settings_key(declaration, settings))
    compiled = _COMPILED.get(key)
    if compiled is None or compiled.declaration is not declaration:
        compiled = Compiled(declaration, settings)
        _COMPILED[key] = compiled
    return compiled


class Compiled:
    """A declaration's checks with the app's bounds filled in."""

    def __init__(self, declaration: Declaration, settings: Any) -> None:
        self.declaration = declaration
        self.path = [
            (p, resolve(p.schema, settings), _compile(resolve(p.schema, settings)))
            for p in declaration.path_params
        ]
        self.query = {
            p.name: (p, resolve(p.schema, settings), _compile(resolve(p.schema, settings)))
            for p in declaration.query
        }
        self.defaults = {p.name: resolve(p.default, settings) for p in declaration.query}
        body = declaration.body
        self.body = (
            _compile(inline(resolve(body.schema, settings)))
            if body is not None and body.read
            else None
        )

    # ------------------------------------------------------------ path
    def path_values(self, match_info: Mapping[str, str]) -> dict[str, Any]:
        """Typed path parameters; a value that cannot name a resource is a 404."""
        out: dict[str, Any] = {}
        for param, schema, check in self.path:
            raw = match_info.get(param.name, "")
            try:
                value = _coerce(raw, schema, f"path parameter {param.name!r}")
                check(value)
            except (ApiError, fastjsonschema.JsonSchemaValueException) as exc:
                raise ApiError(
                    404,
                    f"no such resource: {_short(raw)} is not {_what(param)}",
                    field=param.name,
                ) from exc
            out[param.name] = value
        return out

    # ------------------------------------------------------------ query
    def query_values(self, query: Any) -> tuple[dict[str, Any], dict[str, str]]:
        """Typed query parameters (absent ones at their default) and, for a route that
        takes free-form filters, the rest as text."""
        names = [name for name, _ in query.items()]  # keys() folds repeated names
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ApiError(
                400,
                f"query parameter {_short(repeated[0])} is given more than once; give it once",
                field=repeated[0][:100],
            )
        extra: dict[str, str] = {}
        unknown = list(dict.fromkeys(n for n in names if n not in self.query))
        if unknown and self.declaration.extra_query is None:
            known = ", ".join(self.query) or "none"
            raise ApiError(
                400,
                f"unknown query parameter{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(_short(u, 40) for u in unknown[:5])}; this route takes {known}",
                field=unknown[0][:100],
            )
        for name in unknown:
            value = query[name]
            _plain_text(name, value)
            extra[name] = value
        out: dict[str, Any] = {}
        for name, (param, schema, check) in self.query.items():
            raw = query.get(name)
            if raw is None or raw == "":
                if param.required:
                    raise ApiError(
                        400,
                        f"query parameter {name!r} is required ({param.description})",
                        field=name,
                    )
                out[name] = self.defaults[name]
                continue
            where = f"query parameter {name!r}"
            value = _coerce(raw, schema, where)
            try:
                check(value)
            except fastjsonschema.JsonSchemaValueException as exc:
                raise ApiError(400, _message(exc, where), field=name) from exc
            if schema.get("format") == "date-time":
                value = times.normalise(value)
            out[name] = value
        return out, extra

    # ------------------------------------------------------------ body
    def check_body(self, body: Any) -> Any:
        if self.body is None or (body is None and not self.declaration.body.required):
            return body
        try:
            self.body(body)
        except fastjsonschema.JsonSchemaValueException as exc:
            exc, where = _in_branch(exc, _json_path(exc.name))
            raise ApiError(400, _message(exc, where), field=_field(exc, where)) from exc
        return body


_JSON_TYPES = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
}


def _in_branch(
    exc: fastjsonschema.JsonSchemaValueException, where: str
) -> tuple[fastjsonschema.JsonSchemaValueException, str]:
    """For a value that fits none of ``anyOf``'s schemas, the error of the one schema of
    its own JSON type (an object given where an id or a reference object is taken is
    judged as the object: ``$.cis[0].class must be one of …``), with its path; else the
    error as it is."""
    if exc.rule != "anyOf" or not isinstance(exc.rule_definition, list):
        return exc, where
    kind = _JSON_TYPES.get(type(exc.value))
    if kind is None:
        return exc, where
    branches = [
        b
        for b in exc.rule_definition
        if isinstance(b, dict)
        and (b.get("type") == kind or (isinstance(b.get("type"), list) and kind in b["type"]))
    ]
    if len(branches) != 1:
        return exc, where
    try:
        _branch_validator(json.dumps(branches[0], sort_keys=True))(exc.value)
    except fastjsonschema.JsonSchemaValueException as inner:
        return _in_branch(inner, where + _json_path(inner.name)[1:])
    return exc, where


@functools.lru_cache(maxsize=64)
def _branch_validator(schema_json: str) -> Callable[[Any], Any]:
    return _compile(json.loads(schema_json))


def _compile(schema: dict[str, Any]) -> Callable[[Any], Any]:
    return fastjsonschema.compile(copy.deepcopy(schema), formats=FORMATS)


def _plain_text(name: str, value: str) -> None:
    if len(value) > MAX_QUERY_CHARS:
        raise ApiError(
            400,
            f"query parameter {_short(name)} has {len(value)} characters; "
            f"at most {MAX_QUERY_CHARS}",
            field=name[:100],
        )
    if _SURROGATE.search(value):
        raise ApiError(400, f"query parameter {_short(name)} is not Unicode text", field=name)


_INT = re.compile(r"-?[0-9]{1,20}")
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _coerce(raw: str, schema: dict[str, Any], where: str) -> Any:
    """Query or path text as the schema's type; 400 saying what was expected."""
    kind = schema.get("type", "string")
    field_name = where.split("'")[1] if "'" in where else where
    _plain_text(field_name, raw)
    if kind == "integer":
        if not _INT.fullmatch(raw.strip()):
            raise ApiError(400, f"{where} must be an integer, not {_short(raw)}", field=field_name)
        return int(raw)
    if kind == "number":
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or len(raw) > 40:
            raise ApiError(400, f"{where} must be a number, not {_short(raw)}", field=field_name)
        return value
    if kind == "boolean":
        value = _BOOLEANS.get(raw.strip().lower())
        if value is None:
            raise ApiError(
                400,
                f"{where} must be true or false (or 1 or 0), not {_short(raw)}",
                field=field_name,
            )
        return value
    return raw


# ---------------------------------------------------------------- messages
def _short(value: Any, limit: int = 60) -> str:
    """The value as written, cut to ``limit``; null, true and false as JSON spells them."""
    text = json.dumps(value) if value is None or isinstance(value, bool) else repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "…" + text[-1]


def _json_path(name: str) -> str:
    """fastjsonschema names the root ``data``; errors speak JSONPath (``$.a[0].b``)."""
    return "$" + name[len("data") :] if name.startswith("data") else name


def _field(exc: fastjsonschema.JsonSchemaValueException, where: str) -> str:
    """The field at fault: for a missing or unknown field, that field, not its object."""
    value = exc.value
    if exc.rule == "required" and isinstance(value, dict):
        missing = [k for k in exc.rule_definition if k not in value]
        if missing:
            return f"{where}.{missing[0]}"
    if exc.rule == "additionalProperties" and isinstance(value, dict):
        known = (exc.definition or {}).get("properties", {})
        extra = sorted(k for k in value if k not in known)
        if extra:
            return f"{where}.{extra[0][:100]}"
    return where


def _what(param: Param) -> str:
    return param.description or f"a valid {param.name}"


_TYPE_WORDS = {
    "object": "a JSON object",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _types(definition: Any) -> str:
    kinds = definition if isinstance(definition, list) else [definition]
    return " or ".join(_TYPE_WORDS.get(k, str(k)) for k in kinds)


def _message(exc: fastjsonschema.JsonSchemaValueException, where: str) -> str:
    """A sentence naming the field, what it takes and what it got."""
    rule, rule_def, value = exc.rule, exc.rule_definition, exc.value
    definition = exc.definition if isinstance(exc.definition, dict) else {}
    hint = definition.get("description")
    got = f", not {_short(value)}" if not isinstance(value, dict | list) else ""
    if rule == "type":
        return f"{where} must be {_types(rule_def)}{got}"
    if rule == "required":
        missing = [k for k in rule_def if not isinstance(value, dict) or k not in value]
        return f"{where}.{missing[0] if missing else '?'} is required" + (
            f" ({definition['properties'][missing[0]].get('description')})"
            if missing
            and isinstance(definition.get("properties"), dict)
            and isinstance(definition["properties"].get(missing[0]), dict)
            and definition["properties"][missing[0]].get("description")
            else ""
        )
    if rule == "additionalProperties":
        known = sorted(definition.get("properties", {}))
        extra = sorted(set(value) - set(known)) if isinstance(value, dict) else []
        takes = f"; it takes {', '.join(known)}" if known else ""
        return f"{where} has unknown field{'s' if len(extra) > 1 else ''} " + (
            f"{', '.join(_short(e, 40) for e in extra[:5])}{takes}"
        )
    if rule in ("enum", "const"):
        options = rule_def if rule == "enum" else [rule_def]
        return f"{where} must be one of {', '.join(str(o) for o in options)}{got}"
    if rule in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        low = definition.get("minimum", definition.get("exclusiveMinimum"))
        high = definition.get("maximum", definition.get("exclusiveMaximum"))
        parts = []
        if low is not None:
            parts.append(f"{'above' if 'exclusiveMinimum' in definition else 'at least'} {low}")
        if high is not None:
            parts.append(f"{'below' if 'exclusiveMaximum' in definition else 'at most'} {high}")
        return f"{where} must be {' and '.join(parts)}{got}"
    if rule == "minLength":
        return (
            f"{where} must not be empty"
            if rule_def == 1
            else (f"{where} must have at least {rule_def} characters{got}")
        )
    if rule == "maxLength":
        return f"{where} has {len(value)} characters; at most {rule_def}"
    if rule == "minItems":
        return f"{where} must list at least {rule_def} item{'s' if rule_def != 1 else ''}"
    if rule == "maxItems":
        return f"{where} lists {len(value)} items; at most {rule_def}"
    if rule in ("minProperties", "maxProperties") and hint:
        return f"{where} must be {hint}"
    if rule == "minProperties":
        return f"{where} must have at least {rule_def} field{'s' if rule_def != 1 else ''}"
    if rule == "maxProperties":
        return f"{where} has {len(value)} fields; at most {rule_def}"
    if rule == "uniqueItems":
        return f"{where} names an item twice"
    if rule == "format":
        if rule_def == "date-time":
            return f"{where} must be an ISO 8601 time such as 2026-11-28T10:00:00Z{got}"
        if rule_def == "date":
            return f"{where} must be a date like 2026-12-31{got}"
        return f"{where} must be {rule_def}{got}"
    if hint:
        return f"{where} must be {hint}{got}"
    if rule == "anyOf" and isinstance(rule_def, list):
        kinds = [
            b.get("description") or _types(b.get("type", "value"))
            for b in rule_def
            if isinstance(b, dict)
        ]
        return f"{where} must be {' or '.join(dict.fromkeys(kinds))}{got}"
    if rule == "pattern":
        return f"{where} must match {rule_def}{got}"
    text = exc.message
    return where + text[len(exc.name) :] if text.startswith(exc.name) else f"{where}: {text}"


# ---------------------------------------------------------------- parameter helpers
def integer(
    name: str,
    description: str,
    default: Any = None,
    minimum: Any = 0,
    maximum: Any = INT64_MAX,
    required: bool = False,
) -> Param:
    schema: dict[str, Any] = {"type": "integer", "minimum": minimum, "maximum": maximum}
    if default is not None:
        schema["default"] = default
    return Param(name, schema, description, required, default)


def text(
    name: str,
    description: str,
    max_length: int = MAX_NAME_CHARS,
    required: bool = False,
    pattern: str | None = None,
    example: Any = None,
) -> Param:
    schema: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": max_length}
    if pattern:
        schema["pattern"] = pattern
    return Param(name, schema, description, required, None, example)


def choice(
    name: str, description: str, choices: Iterable[str], default: str | None = None
) -> Param:
    schema: dict[str, Any] = {"type": "string", "enum": list(choices)}
    if default is not None:
        schema["default"] = default
    return Param(name, schema, description, False, default)


def flag(name: str, description: str) -> Param:
    return Param(name, {"type": "boolean", "default": False}, description, False, False)


def time_param(name: str, description: str, required: bool = False) -> Param:
    """An ISO 8601 time (a date alone is midnight UTC), handed over in the store's form
    (``cmdb.graph.times``): compared as an instant whatever its spelling."""
    return Param(
        name,
        {"type": "string", "format": "date-time", "maxLength": 64},
        description,
        required,
        None,
        "2026-11-28T10:00:00Z",
    )


def page(default: int = 50) -> list[Param]:
    """``limit`` (1 to the server's max_page_size) and ``offset``."""
    return [
        integer("limit", "page size", default, 1, Setting("max_page_size")),
        integer("offset", "items to skip", 0, 0, INT64_MAX),
    ]
