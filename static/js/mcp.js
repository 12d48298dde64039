/* MCP servers page: show the fields of the chosen transport (without JS every field shows, and the server
   ignores the other transport's). */
(function () {
  "use strict";
  function sync(form) {
    var kind = form.querySelector("[data-mcp-type]").value;
    form.querySelectorAll("[data-mcp-fields]").forEach(function (group) {
      group.hidden = (group.dataset.mcpFields === "stdio") !== (kind === "stdio");
    });
  }
  function syncAll(root) { root.querySelectorAll("[data-mcp-form]").forEach(sync); }
  document.addEventListener("change", function (e) {
    if (e.target.matches("[data-mcp-type]")) sync(e.target.form);
  });
  document.addEventListener("htmx:load", function (e) { syncAll(e.target); });
  document.addEventListener("DOMContentLoaded", function () { syncAll(document); });
})();
