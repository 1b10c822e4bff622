"""Impact: pick CIs (from a CI page, a search, or the picker here) and see which services
go down or degrade, why (paths, drawn as a graph), and every affected CI by class.

The answer is ``cmdb.server.catalogue.impact.impact``, the function ``POST /api/v1/impact``
calls, with the same checks on its input (``resolve_ids``)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from aiohttp import web

from cmdb.graph.search import search
from cmdb.server.catalogue.common import check_id, resolve_ids
from cmdb.server.catalogue.impact import impact
from cmdb.server.ui.render import page
from cmdb.server.ui.views.common import int_query, settings_of, store_of

routes = web.RouteTableDef()

MAX_START = 50


def _steps(path: Any, info: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """A path as a list of steps (id, class, name, state, via) whatever shape it came in."""
    if isinstance(path, dict):
        return list(path.get("steps", []))
    return [info.get(ci_id, {"id": ci_id, "class": "", "name": ci_id}) for ci_id in path]


def impact_graph(answer: dict[str, Any], paths: dict[str, list[list[dict]]]) -> dict:
    """Cytoscape elements: the failed CIs, every CI on a path, the services reached."""
    nodes: dict[str, dict[str, Any]] = {}
    edges: dict[tuple[str, str], dict[str, Any]] = {}
    failed = set(answer.get("start", []))
    for steps in (p for service_paths in paths.values() for p in service_paths):
        for i, step in enumerate(steps):
            nodes.setdefault(
                step["id"],
                {
                    "data": {
                        "id": step["id"],
                        "label": step.get("name") or step["id"][:8],
                        "cls": step.get("class", ""),
                        "state": "failed" if step["id"] in failed else step.get("state", ""),
                    }
                },
            )
            if i:
                key = (steps[i - 1]["id"], step["id"])
                edges.setdefault(
                    key,
                    {
                        "data": {
                            "id": f"p:{key[0]}:{key[1]}",
                            "source": key[0],
                            "target": key[1],
                            "type": step.get("via") or "",
                            "effect": step.get("state", ""),
                        }
                    },
                )
    for ref in answer.get("failed", []):
        nodes.setdefault(
            ref["id"],
            {
                "data": {
                    "id": ref["id"],
                    "label": ref.get("name") or ref["id"][:8],
                    "cls": ref.get("class", ""),
                    "state": "failed",
                }
            },
        )
    return {"nodes": list(nodes.values()), "edges": list(edges.values())}


@routes.get("/ui/impact")
async def impact_page(request: web.Request) -> web.Response:
    store = store_of(request)
    max_depth = settings_of(request).max_depth
    depth = int_query(request, "depth", max_depth, 1, max_depth)
    ids = list(dict.fromkeys(request.query.getall("ci", [])))[:MAX_START]
    q = request.query.get("q", "").strip()
    candidates = await search(store, q) if q else None
    picked = []
    answer = None
    paths: dict[str, list[list[dict]]] = {}
    by_class: dict[str, list[dict]] = defaultdict(list)
    if ids:
        refs = [(f"ci[{i}]", check_id(c, f"ci[{i}]")) for i, c in enumerate(ids)]
        picked = list((await resolve_ids(store, refs)).values())
        answer = await impact(store, ids, depth)
        info = {c["id"]: c for c in answer.get("cis", [])}
        for service in answer["services"]:
            paths[service["id"]] = [_steps(p, info) for p in service.get("paths", [])]
        for ci in answer.get("cis", []):
            by_class[ci["class"]].append(ci)
    graph = impact_graph(answer, paths) if answer else None
    return page(
        request,
        "impact.html",
        {
            "ids": ids,
            "picked": picked,
            "depth": depth,
            "max_depth": max_depth,
            "q": q,
            "candidates": candidates,
            "answer": answer,
            "paths": paths,
            "by_class": dict(sorted(by_class.items())),
            "graph": graph,
        },
    )
