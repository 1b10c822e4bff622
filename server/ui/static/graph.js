// Draws a CI's neighbourhood (or impact paths) with cytoscape and a layered dagre layout.
// Nodes are coloured by class; groups ("812 Software") stand for many CIs of one class and
// can be drawn member by member; a click on a CI adds its neighbours. The drawn graph is
// also listed as links under the drawing, for keyboards and screen readers.
(function () {
  "use strict";
  var SHAPES = { Service: "round-rectangle", RedundancyGroup: "diamond", Host: "ellipse",
    NetworkDevice: "hexagon", Software: "round-tag", Endpoint: "triangle", Change: "star" };

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
  }

  // Labels sit under their node on a backdrop of the page colour, cut with "…" at
  // LABEL_WIDTH px (the full name is in the side panel and the list under the drawing);
  // the layout counts them in each node's size, so neighbours' labels never run together.
  var LABEL_WIDTH = 110;

  function groupWidth(n) {
    // a group's label ("859 Software") is drawn inside its box: the box grows to fit it
    return Math.max(44, 6.2 * String(n.data("label") || "").length + 16);
  }

  function style(colours) {
    return [
      { selector: "node", style: {
        "background-color": function (n) { return colours[n.data("cls")] || "#475569"; },
        "shape": function (n) { return n.data("group") ? "round-rectangle" : (SHAPES[n.data("cls")] || "ellipse"); },
        "label": "data(label)", "font-size": 10, "color": css("--fg"),
        "text-valign": "bottom", "text-halign": "center", "text-margin-y": 4, "width": 22, "height": 22,
        "text-max-width": LABEL_WIDTH, "text-wrap": "ellipsis",
        "text-background-color": css("--bg"), "text-background-opacity": 0.9,
        "text-background-padding": 2, "text-background-shape": "round-rectangle",
        "border-width": 1, "border-color": css("--bg") } },
      { selector: "node[?root]", style: { "width": 32, "height": 32, "border-width": 3, "border-color": css("--fg") } },
      { selector: "node[?group]", style: { "width": groupWidth, "height": 26, "border-style": "dashed",
        "border-width": 2, "border-color": css("--fg"), "font-weight": "bold",
        "text-valign": "center", "text-margin-y": 0, "text-max-width": 400,
        "color": "#fff", "text-background-opacity": 0, "text-outline-width": 2,
        "text-outline-color": function (n) { return colours[n.data("cls")] || "#475569"; } } },
      { selector: "node[status = 'stale']", style: { "border-style": "dashed", "border-width": 2, "border-color": "#b45309" } },
      { selector: "node[status = 'retired']", style: { "opacity": 0.45 } },
      { selector: "node[state = 'down']", style: { "background-color": "#dc2626", "border-color": "#7f1d1d", "border-width": 3 } },
      { selector: "node[state = 'degraded']", style: { "background-color": "#f59e0b", "border-color": "#78350f", "border-width": 3 } },
      { selector: "node[state = 'failed']", style: { "background-color": "#111827", "border-color": "#dc2626", "border-width": 4 } },
      { selector: "node:selected", style: { "overlay-color": css("--accent"), "overlay-opacity": 0.25 } },
      { selector: "edge", style: { "width": 1.5, "curve-style": "bezier", "target-arrow-shape": "triangle",
        "arrow-scale": 0.8, "line-color": css("--edge"), "target-arrow-color": css("--edge"),
        "label": function (e) { return e.data("count") > 1 ? e.data("type") + " ×" + e.data("count") : ""; },
        // along the edge: labels of edges converging on one node do not stack up
        "text-rotation": "autorotate",
        "font-size": 8, "color": css("--muted"), "text-background-color": css("--bg"),
        "text-background-opacity": 0.9, "text-background-padding": 1 } },
      { selector: "edge[effect = 'fails'], edge[effect = 'down']", style: { "line-color": "#dc2626", "target-arrow-color": "#dc2626", "width": 2 } },
      { selector: "edge[effect = 'degrades'], edge[effect = 'degraded']", style: { "line-color": "#d97706", "target-arrow-color": "#d97706", "line-style": "dashed", "width": 2 } },
      { selector: "edge[effect = 'contains']", style: { "line-style": "dotted" } },
      { selector: "edge[effect = 'none']", style: { "opacity": 0.55 } }
    ];
  }

  function layout(cy) {
    // sizes include labels (nodeDimensionsIncludeLabels), so nodeSep is the gap between
    // the edges of two labels, not between two 22 px dots
    cy.layout({ name: "dagre", rankDir: "TB", nodeSep: 24, rankSep: 70, edgeSep: 10,
      nodeDimensionsIncludeLabels: true, animate: false, fit: true, padding: 24 }).run();
  }

  function esc(text) {
    var d = document.createElement("div"); d.textContent = text == null ? "" : String(text); return d.innerHTML;
  }

  function listing(cy) {
    var box = document.getElementById("graph-list");
    var stats = document.getElementById("graph-stats");
    var el = document.getElementById("graph");
    el.dataset.nodes = cy.nodes().length;
    el.dataset.edges = cy.edges().length;
    if (stats) stats.textContent = cy.nodes().length + " nodes, " + cy.edges().length + " edges drawn";
    if (!box) return;
    var items = cy.nodes().map(function (n) {
      var d = n.data();
      if (d.group) return "<li>" + esc(d.label) + " (group)</li>";
      return '<li><a href="/ui/cis/' + encodeURIComponent(d.id) + '">' + esc(d.label) + "</a> <small>" + esc(d.cls) + "</small></li>";
    });
    box.innerHTML = items.join("");
  }

  function detail(cy, node, expandUrl) {
    var box = document.getElementById("graph-detail");
    if (!box) return;
    var d = node.data();
    if (d.group) {
      var html = "<p><strong>" + esc(d.label) + "</strong> by " + esc(d.rel) + "</p>" +
        '<p><button type="button" id="draw-members">Draw ' + Math.min(d.members.length, 300) + " members</button></p><ul class=\"rel-list\">";
      d.members.forEach(function (m) {
        html += '<li><a href="/ui/cis/' + encodeURIComponent(m.id) + '">' + esc(m.label) + "</a></li>";
      });
      box.innerHTML = html + "</ul>";
      document.getElementById("draw-members").addEventListener("click", function () {
        var parent = cy.edges('[target = "' + d.id + '"], [source = "' + d.id + '"]').first();
        var add = [];
        d.members.forEach(function (m) {
          if (cy.getElementById(m.id).length) return;
          add.push({ group: "nodes", data: { id: m.id, label: m.label, cls: d.cls, status: m.status } });
          if (parent.length) {
            var fromGroup = parent.data("source") === d.id;
            add.push({ group: "edges", data: { id: "x:" + m.id, type: parent.data("type"), effect: parent.data("effect"),
              source: fromGroup ? m.id : parent.data("source"), target: fromGroup ? parent.data("target") : m.id } });
          }
        });
        node.remove();
        cy.add(add);
        layout(cy);
        listing(cy);
      });
      return;
    }
    box.innerHTML = "<p><strong>" + esc(d.label) + "</strong> <small>" + esc(d.cls) + "</small> " +
      (d.status ? '<span class="badge s-' + esc(d.status) + '">' + esc(d.status) + "</span>" : "") + "</p>" +
      '<p><a href="/ui/cis/' + encodeURIComponent(d.id) + '">Open its page</a> · <a href="/ui/impact?ci=' +
      encodeURIComponent(d.id) + '">Impact if it fails</a></p>';
    if (!expandUrl || node.data("expanded")) return;
    node.data("expanded", true);
    fetch(expandUrl.replace("{id}", encodeURIComponent(d.id)), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        var add = [];
        data.elements.nodes.forEach(function (n) { if (!cy.getElementById(n.data.id).length) { n.data.root = false; add.push(n); } });
        data.elements.edges.forEach(function (e) { if (!cy.getElementById(e.data.id).length) add.push(e); });
        if (add.length) {
          cy.add(add.filter(function (x) { return !x.data.source; }));
          cy.add(add.filter(function (x) { return x.data.source && cy.getElementById(x.data.source).length && cy.getElementById(x.data.target).length; }));
          layout(cy);
          listing(cy);
        }
      });
  }

  function draw(el, elements, expandUrl) {
    var colours = JSON.parse(el.dataset.colours || "{}");
    var cy = cytoscape({ container: el, elements: elements, style: style(colours),
      wheelSensitivity: 0.3, minZoom: 0.05, maxZoom: 3 });
    window.cmdbGraph = cy;
    layout(cy);
    listing(cy);
    cy.on("tap", "node", function (evt) { detail(cy, evt.target, expandUrl); });
    cy.on("dbltap", "node", function (evt) {
      if (!evt.target.data("group")) window.location.href = "/ui/cis/" + encodeURIComponent(evt.target.id());
    });
    el.dataset.ready = "1";
    return cy;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var el = document.getElementById("graph");
    if (!el || typeof cytoscape === "undefined") return;
    if (typeof cytoscapeDagre !== "undefined") cytoscape.use(cytoscapeDagre);
    var embedded = document.getElementById("graph-data");
    if (embedded) {
      draw(el, JSON.parse(embedded.textContent).elements, null);
      return;
    }
    fetch(el.dataset.src, { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (data) {
        draw(el, data.elements, el.dataset.expand);
        var stats = document.getElementById("graph-stats");
        if (stats) stats.textContent += " (" + data.walked.nodes + " CIs walked, " + data.drawn.groups + " groups" +
          (data.truncated ? "; cut to the nearest" : "") + ")";
      })
      .catch(function (err) { el.textContent = "Could not load the graph: " + err.message; });
  });
})();
