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
    return editor && !editor.hasAttribute("data-readonly") ? editor.id : "";
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
