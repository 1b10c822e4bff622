// Small behaviours of every page: theme switch, "/" to search, relationship filters,
// the CSRF header on htmx requests, tree state for screen readers.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.getElementById("theme-toggle");
    if (toggle) {
      toggle.addEventListener("click", function () {
        var root = document.documentElement;
        var dark = root.dataset.theme ? root.dataset.theme === "dark"
          : window.matchMedia("(prefers-color-scheme: dark)").matches;
        root.dataset.theme = dark ? "light" : "dark";
        try { localStorage.setItem("cmdb-theme", root.dataset.theme); } catch (e) {}
      });
    }
    document.querySelectorAll("input[data-filter]").forEach(function (input) {
      var list = document.getElementById(input.dataset.filter);
      input.addEventListener("input", function () {
        var text = input.value.trim().toLowerCase();
        list.querySelectorAll("li").forEach(function (li) {
          li.hidden = text !== "" && (li.dataset.name || "").indexOf(text) < 0;
        });
      });
    });
    document.querySelectorAll('[role="treeitem"] > details').forEach(function (d) {
      d.addEventListener("toggle", function () {
        d.parentElement.setAttribute("aria-expanded", d.open ? "true" : "false");
      });
    });
  });
  document.addEventListener("keydown", function (e) {
    var tag = (e.target.tagName || "").toLowerCase();
    if (e.key === "/" && tag !== "input" && tag !== "textarea" && tag !== "select") {
      var box = document.getElementById("q") || document.getElementById("quick-q");
      if (box) { e.preventDefault(); box.focus(); box.select(); }
    }
  });
  document.addEventListener("htmx:configRequest", function (e) {
    e.detail.headers["X-CSRF-Token"] = document.body.dataset.csrf || "";
  });
})();
