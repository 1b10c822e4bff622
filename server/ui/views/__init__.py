"""Route tables of the web UI, one module per area."""

from __future__ import annotations

from cmdb.server.ui.views import assets, browse, changes, discovery, graph, impact, services, signin

ROUTE_TABLES = [
    signin.routes,
    browse.routes,
    graph.routes,
    impact.routes,
    services.routes,
    changes.routes,
    assets.routes,
    discovery.routes,
]
