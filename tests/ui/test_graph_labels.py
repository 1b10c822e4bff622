"""The graph page keeps every label readable on a crowded host (a Java server with many
listening ports, a service, a redundancy group and a change around it): no two nodes'
boxes, labels included, overlap, and groups hold their own label. Screenshots go to
``.cache/ui-screenshots`` (``graph-crowded*.png``)."""

from __future__ import annotations

import pytest

from tests.processes import create_token
from tests.reports import agent_report, nic
from tests.ui.seed import api, post_report, screenshots_dir

pytestmark = pytest.mark.e2e

# the overlap the trial saw: "tcp/7476 (java)" beside "tcp/7475 (java)", etc.
PORTS = [7473, 7474, 7475, 7476, 7477, 7687, 8080, 8443, 9090, 9100, 5432, 22]

OVERLAPS = """(cy) => {
  const boxes = cy.nodes().map(n => ({label: n.data('label'),
    b: n.boundingBox({includeLabels: true, includeOverlays: false})}));
  const out = [];
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i].b, b = boxes[j].b;
    if (a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2)
      out.push([boxes[i].label, boxes[j].label]);
  }
  return out;
}"""


@pytest.fixture(scope="module")
def crowded(estate):
    """Host ``app7`` with a dozen Java/other ports, in a service and a change."""
    token = create_token(estate.data_dir, "agent")
    listening = [
        {"protocol": "tcp", "address": "0.0.0.0", "port": p, "pid": 900 + i,
         "process": "java" if 7000 < p < 8000 else "node_exporter" if p == 9100 else "nginx"}
        for i, p in enumerate(PORTS)
    ]  # fmt: skip
    report = agent_report(
        hostname="app7",
        system_uuid="4c4c4544-0042-3510-8057-b4c04f4a4d77",
        machine_id="5f2d0c7a9b1e4d3c8a6f0e1d2c3b4a77",
        serial="SRV77X",
        interfaces=[nic("eth0", "52:54:00:12:34:77", [("10.20.0.77", 24)])],
        packages=859,
        listening=listening,
    )
    post_report(estate.url, token, report)
    host = api(estate.url, estate.editor_token, "GET", "/api/v1/cis?class=Host&q=app7")
    host_id = host["items"][0]["id"]
    body = {"name": "monitoring", "kind": "technical", "owner": "ops", "depends_on": [
        {"group": {"name": "pg-cluster", "min": 1, "members": [host_id]}}]}  # fmt: skip
    api(estate.url, estate.editor_token, "POST", "/api/v1/services", body)
    window = {"start": "2026-12-01T10:00:00Z", "end": "2026-12-01T12:00:00Z"}
    change = {"title": "upgrade java on app7", "cis": [host_id], "window": window}
    api(estate.url, estate.editor_token, "POST", "/api/v1/changes", change)
    return host_id


@pytest.mark.parametrize("direction", ["down", "up", "both"])
def test_graph_labels_do_not_overlap(signed_in, estate, crowded, direction):
    page = signed_in("ada")
    page.goto(f"{estate.url}/ui/cis/{crowded}/graph?direction={direction}&depth=2")
    page.wait_for_selector("#graph[data-ready='1']", timeout=20_000)
    if direction == "down":
        # draw the dozen endpoints one by one, as a user does from the side panel
        page.evaluate("window.cmdbGraph.nodes('[?group][cls = \"Endpoint\"]').emit('tap')")
        page.click("#draw-members")
    labels = page.evaluate("window.cmdbGraph.nodes().map(n => n.data('label'))")
    page.screenshot(path=str(screenshots_dir() / f"graph-crowded-{direction}.png"))
    if direction == "down":
        assert "tcp/7476 (java)" in labels and "859 Software" in labels, labels
    else:
        assert {"app7", "pg-cluster", "monitoring"} <= set(labels), labels
    assert page.evaluate(f"({OVERLAPS})(window.cmdbGraph)") == []
    # a group's box holds its label (text width as cytoscape measured it, plus outline)
    widths = page.evaluate(
        "window.cmdbGraph.nodes('[?group]').map(n => [n.width(), n._private.rstyle.labelWidth])"
    )
    assert (direction == "up" or widths) and all(box >= text + 4 for box, text in widths), widths
