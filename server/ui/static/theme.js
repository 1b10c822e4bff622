// Runs before the page paints: the theme the user chose (else the system's), no flash.
(function () {
  var saved = null;
  try { saved = localStorage.getItem("cmdb-theme"); } catch (e) {}
  if (saved === "light" || saved === "dark") document.documentElement.dataset.theme = saved;
})();
