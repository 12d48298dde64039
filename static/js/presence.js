/* Presence on an agent page: tell the page's socket which block this tab is editing (focus inside a block editor),
   and show the other people's avatars on the blocks they edit (from the #presence bar the server pushes). */
(function () {
  "use strict";
  var socket = null;
  var current = "";

  function send() {
    if (!socket) return;
    socket.send(JSON.stringify(current ? { presence: "editing", block_id: current } : { presence: "idle" }));
  }

  function editedBlock() {
    var el = document.activeElement;
    var editor = el && el.closest ? el.closest(".block-editor") : null;
    return editor && !document.querySelector("main[data-readonly]") ? editor.id : "";
  }

  function track() {
    var id = editedBlock();
    if (id !== current) {
      current = id;
      send();
    }
  }

  function decorate() {
    document.querySelectorAll(".presence-badge").forEach(function (badge) { badge.remove(); });
    document.querySelectorAll("#presence .avatar[data-block]").forEach(function (avatar) {
      var blockId = avatar.getAttribute("data-block");
      var head = blockId && document.querySelector('[id="' + blockId + '"] .block-head');
      if (!head) return;
      var badge = avatar.cloneNode(true);
      badge.classList.add("presence-badge");
      badge.removeAttribute("data-user");
      head.insertBefore(badge, head.querySelector(".grow"));
    });
  }

  /* A page its user may only read: every control that would write is disabled (the server refuses it anyway),
     except the chat box when the role may chat. */
  function lockReadOnly() {
    var main = document.querySelector("main[data-readonly]");
    if (!main) return;
    var chat = main.hasAttribute("data-can-chat");
    main.querySelectorAll("form").forEach(function (form) {
      var writes = (form.getAttribute("method") || "").toLowerCase() === "post" || form.hasAttribute("hx-post");
      if (!writes || (chat && form.closest("#composer-form, .composer, .approval"))) return;
      form.querySelectorAll("input, textarea, select, button").forEach(function (control) {
        if (control.tagName === "TEXTAREA") control.readOnly = true;
        else if (control.type !== "hidden") control.disabled = true;
      });
    });
    main.querySelectorAll("button[hx-post], a[hx-post]").forEach(function (control) {
      control.setAttribute("disabled", "");
      control.removeAttribute("hx-post");
    });
  }

  document.addEventListener("DOMContentLoaded", lockReadOnly);
  document.addEventListener("htmx:afterSwap", lockReadOnly);
  document.addEventListener("htmx:wsAfterMessage", function () { setTimeout(lockReadOnly, 0); });
  document.addEventListener("htmx:wsOpen", function (event) {
    socket = event.detail.socketWrapper;
    if (current) send();
  });
  document.addEventListener("htmx:wsClose", function () { socket = null; });
  document.addEventListener("focusin", track);
  document.addEventListener("focusout", function () { setTimeout(track, 0); });
  document.addEventListener("htmx:wsAfterMessage", function () { setTimeout(decorate, 0); });
  document.addEventListener("htmx:afterSwap", decorate);
})();
