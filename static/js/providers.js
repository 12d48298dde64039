/* Model providers page: the base URL field shows the chosen type's public address as its placeholder and says
   whether it may stay empty; the API version shows for Azure only (without JS every field shows). */
(function () {
  "use strict";
  function sync(form) {
    var option = form.querySelector("[data-provider-type]").selectedOptions[0];
    var url = form.querySelector("[name=base_url]");
    url.placeholder = option.dataset.base || "required, e.g. http://localhost:11434";
    url.required = !option.dataset.base;
    form.querySelector("[data-azure-only]").hidden = option.value !== "azure";
    form.querySelector("[data-key-hint]").textContent = option.dataset.key === "1" ? "" : "(optional for this type)";
  }
  function syncAll(root) { root.querySelectorAll("[data-provider-form]").forEach(sync); }
  document.addEventListener("change", function (e) {
    if (e.target.matches("[data-provider-type]")) sync(e.target.form);
  });
  document.addEventListener("htmx:load", function (e) { syncAll(e.target); });
  document.addEventListener("DOMContentLoaded", function () { syncAll(document); });
})();
