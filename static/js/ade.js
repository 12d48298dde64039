/* Engram ADE: the little behaviour htmx does not give us. No framework; every handler is delegated. */
(function () {
  "use strict";

  /* 4xx responses carry inline errors, so swap them; 5xx never replaces a region (a toast says what happened). */
  htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "4..", swap: true },
    { code: "5..", swap: false, error: true },
    { code: "...", swap: false },
  ];

  function toast(text, kind) {
    var box = document.querySelector(".messages");
    if (!box) {
      box = document.createElement("div");
      box.className = "messages";
      box.setAttribute("role", "status");
      document.body.appendChild(box);
    }
    var note = document.createElement("div");
    note.className = "notice notice-" + (kind || "error");
    note.textContent = text;
    box.appendChild(note);
    setTimeout(function () { note.remove(); }, 6000);
  }

  /* A 5xx that carries its own inline error (header X-Inline-Error: a chat send the task queue refused) is swapped,
     still as an error (the composer keeps its text), and gets no toast. */
  function inlineError(xhr) { return xhr.status >= 500 && xhr.getResponseHeader("X-Inline-Error") === "1"; }
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (inlineError(e.detail.xhr)) e.detail.shouldSwap = true;
  });
  document.addEventListener("htmx:responseError", function (e) {
    var xhr = e.detail.xhr;
    if (xhr.status >= 500 && !inlineError(xhr)) toast("The server hit an error (" + xhr.status + "). Nothing was changed; please try again.");
  });
  document.addEventListener("htmx:sendError", function () { toast("Cannot reach the server. Check your connection."); });

  /* Live pushes never create a second element with an id that already exists (a turn can arrive both in the
     HTTP response and over the websocket), and never overwrite a block editor someone is typing in. */
  document.addEventListener("htmx:oobBeforeSwap", function (e) {
    var d = e.detail;
    var incoming = d.fragment && d.fragment.firstElementChild;
    if (!incoming || !incoming.id) return;
    var existing = document.getElementById(incoming.id);
    if (existing && existing !== d.target) { d.shouldSwap = false; return; }
    if (existing && (isOlder(incoming, existing, "at") || isOlder(incoming, existing, "version"))) {
      d.shouldSwap = false;  /* rendered before what is on screen: stale */
      return;
    }
    if (existing && existing.matches(".block-editor") && keepsSavedNote(existing, incoming)) {
      d.shouldSwap = false;  /* the push of the version just saved: keep "Saved" on screen */
      return;
    }
    if (existing && existing.matches(".block-editor") && isDirty(existing)) {
      d.shouldSwap = false;
      markRemoteChange(existing, incoming);
      return;
    }
    if (!existing) return;
    /* a region re-render keeps what someone is typing or choosing (block editors, forms), and the sections
       they had open; a form it cannot match by id holds the whole region back until the next push */
    existing.querySelectorAll(".block-editor[data-dirty='1']").forEach(function (editor) {
      var fresh = incoming.querySelector("#" + CSS.escape(editor.id));
      if (fresh) {
        if (fresh.dataset.version !== editor.dataset.version) markRemoteChange(editor, fresh);
        fresh.replaceWith(editor);
      }
    });
    existing.querySelectorAll(".block-editor").forEach(function (editor) {
      var fresh = incoming.querySelector("#" + CSS.escape(editor.id));
      if (fresh && keepsSavedNote(editor, fresh)) fresh.replaceWith(editor);
    });
    var held = false;
    existing.querySelectorAll("form[data-dirty='1']").forEach(function (form) {
      if (form.closest(".block-editor")) return;
      var fresh = form.id && incoming.querySelector("#" + CSS.escape(form.id));
      if (fresh) fresh.replaceWith(form); else held = true;
    });
    if (held) { d.shouldSwap = false; return; }
    existing.querySelectorAll("details[id][open]").forEach(function (open) {
      var fresh = incoming.querySelector("#" + CSS.escape(open.id));
      if (fresh) fresh.open = true;
    });
  });

  function keepsSavedNote(editor, fresh) {
    var note = editor.querySelector("[data-saved-note]");
    return !!note && note.style.visibility !== "hidden" && fresh.dataset.version === editor.dataset.version;
  }

  function isOlder(incoming, existing, key) {
    var a = Number(incoming.dataset[key]), b = Number(existing.dataset[key]);
    return a > 0 && b > 0 && a < b;
  }

  /* ---- core memory editors ---- */
  function isDirty(editor) { return editor.dataset.dirty === "1"; }

  function markRemoteChange(editor, incoming) {
    editor.classList.add("has-remote-change");
    var note = editor.querySelector(".remote-note");
    if (note) {
      note.hidden = false;
      note.textContent = (incoming.dataset.updatedBy || "Someone") + " saved version " + incoming.dataset.version +
        " while you were editing. Saving will show both versions so nothing is lost.";
    }
  }

  function updateCounter(textarea) {
    var counter = document.getElementById(textarea.dataset.counter);
    if (!counter) return;
    var limit = parseInt(textarea.dataset.limit, 10);
    var n = textarea.value.length;
    counter.textContent = n.toLocaleString("en-US") + " / " + limit.toLocaleString("en-US");
    counter.classList.toggle("over", n > limit);
    counter.title = n > limit ? "Past the limit: saving will be refused" : "";
  }

  function markDirty(e) {
    var t = e.target;
    var editor = t.closest && t.closest(".block-editor");
    if (editor) editor.dataset.dirty = "1";
    if (t.form && !t.closest(".composer")) t.form.dataset.dirty = "1";
    var note = t.form && t.form.querySelector("[data-saved-note]");
    if (note) note.style.visibility = "hidden";  /* "Saved" no longer describes what is on screen */
  }
  document.addEventListener("input", function (e) {
    var t = e.target;
    if (t.matches("textarea[data-limit]")) updateCounter(t);
    if (t.matches(".composer textarea")) autosize(t);
    markDirty(e);
  });
  document.addEventListener("change", markDirty);

  /* ---- composer: Enter sends, Shift+Enter is a new line ---- */
  function autosize(t) { t.style.height = "auto"; t.style.height = Math.min(t.scrollHeight, 180) + "px"; }
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && t.matches(".composer textarea")) {
      e.preventDefault();
      var send = t.form.querySelector("button[type=submit]");
      if (t.value.trim() && !(send && send.disabled)) htmx.trigger(t.form, "submit");
    }
    if ((e.ctrlKey || e.metaKey) && e.key === "s" && t.closest && t.closest(".block-editor form")) {
      e.preventDefault();
      htmx.trigger(t.closest("form"), "submit");
    }
  });

  /* ---- copy to clipboard ---- */
  document.addEventListener("click", function (e) {
    var btn = e.target.closest("[data-copy]");
    if (btn) {
      var src = document.querySelector(btn.dataset.copy);
      var text = src ? (src.value !== undefined && src.tagName !== "CODE" ? src.value : src.textContent) : "";
      var done = function () { btn.textContent = "Copied"; setTimeout(function () { btn.textContent = "Copy"; }, 1500); };
      if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done);
      else {
        var range = document.createRange(); range.selectNodeContents(src);
        var sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
        document.execCommand("copy"); done();
      }
    }
    var closer = e.target.closest("[data-close]");
    if (closer && closer.closest("dialog")) { e.preventDefault(); closer.closest("dialog").close(); }
    var toggle = e.target.closest("[data-theme-toggle]");
    if (toggle) {
      var root = document.documentElement;
      var dark = root.dataset.theme ? root.dataset.theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
      root.dataset.theme = dark ? "light" : "dark";
      try { localStorage.setItem("engram-theme", root.dataset.theme); } catch (err) { /* private mode */ }
    }
    var menu = document.querySelector("details.menu[open]");
    if (menu && !menu.contains(e.target)) menu.removeAttribute("open");
  });

  /* ---- the modal dialog: anything swapped into #modal opens it ---- */
  document.addEventListener("htmx:afterSwap", function (e) {
    var target = e.detail.target;
    if (target && target.id === "modal" && !target.open) {
      target.showModal();
      var first = target.querySelector("[autofocus], input:not([type=hidden]), textarea, select, button");
      if (first) first.focus();
    }
  });
  document.addEventListener("htmx:beforeRequest", function (e) {
    /* a request from inside the dialog that swaps elsewhere (e.g. undo) closes it once done */
    var dlg = e.detail.elt.closest && e.detail.elt.closest("dialog[open]");
    if (dlg && e.detail.elt.hasAttribute("data-close-after")) {
      e.detail.elt.addEventListener("htmx:afterRequest", function () { dlg.close(); }, { once: true });
    }
  });

  /* ---- chat: keep the newest content in view unless the reader scrolled up ---- */
  function chatLog() { return document.getElementById("chat-log"); }
  var stickToBottom = true;
  document.addEventListener("scroll", function (e) {
    var log = chatLog();
    if (e.target === log) stickToBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  }, true);
  function scrollChat() { var log = chatLog(); if (log && stickToBottom) log.scrollTop = log.scrollHeight; }
  document.addEventListener("htmx:wsAfterMessage", scrollChat);
  document.addEventListener("htmx:afterSettle", scrollChat);

  /* one turn at a time: Send waits while the agent is still answering */
  function syncComposer() {
    var button = document.querySelector("#composer-form button[type=submit]");
    if (!button) return;
    var busy = !!document.querySelector("#chat-inner .thinking");
    button.disabled = busy;
    button.title = busy ? "The agent is still answering: wait, or cancel the turn" : "";
  }
  document.addEventListener("htmx:wsAfterMessage", syncComposer);
  document.addEventListener("htmx:afterSettle", syncComposer);
  document.addEventListener("DOMContentLoaded", syncComposer);
  document.addEventListener("DOMContentLoaded", function () {
    scrollChat();
    document.querySelectorAll("textarea[data-limit]").forEach(updateCounter);
  });
  /* A search box that narrows a <select>'s options (e.g. the tool picker), hiding empty groups. */
  document.addEventListener("input", function (e) {
    var select = e.target.matches("[data-filter-options]") && document.querySelector(e.target.dataset.filterOptions);
    if (!select) return;
    var words = e.target.value.trim().toLowerCase();
    var first = null;
    select.querySelectorAll("option").forEach(function (option) {
      var group = option.parentElement.label || "";
      option.hidden = words && (option.textContent + " " + group).toLowerCase().indexOf(words) < 0;
      if (!option.hidden && !first) first = option;
    });
    select.querySelectorAll("optgroup").forEach(function (g) {
      g.hidden = !g.querySelector("option:not([hidden])");
    });
    if (first && select.selectedOptions[0] && select.selectedOptions[0].hidden) select.value = first.value;
  });

  document.addEventListener("htmx:load", function (e) {
    var el = e.detail.elt;
    if (el.querySelectorAll) el.querySelectorAll("textarea[data-limit]").forEach(updateCounter);
  });

  /* the composer clears once the server accepted the message */
  document.addEventListener("htmx:afterRequest", function (e) {
    var form = e.detail.elt;
    if (form.matches && form.matches(".composer form") && e.detail.successful) {
      form.reset();
      var t = form.querySelector("textarea"); if (t) { autosize(t); t.focus(); }
      stickToBottom = true;
    }
  });

  /* An answered approval stays answered: its buttons never come back for a second click. */
  document.addEventListener("click", function (e) {
    var button = e.target.closest(".approval-form button[type=submit]");
    if (button) button.form.dataset.choice = button.value === "1" ? "Approved" : "Denied";
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    var form = e.detail.elt;
    if (!(form.matches && form.matches(".approval-form")) || !e.detail.successful) return;
    var note = document.createElement("div");
    note.className = "small muted approval-sent";
    note.setAttribute("role", "status");
    note.textContent = (form.dataset.choice || "Answered") + " · the agent continues";
    form.replaceWith(note);
  });

  /* The agent's name and existence arrive live: the tab title and the composer follow a rename, and a page whose
     agent was deleted in another tab stops taking edits. */
  function syncAgent() {
    var title = document.getElementById("agent-title");
    var composer = document.getElementById("composer-text");
    if (title && document.querySelector(".workspace")) {
      var name = title.textContent.trim();
      document.title = name + " · Engram ADE";
      if (composer) composer.placeholder = "Message " + name + "…";
    }
    if (document.getElementById("agent-gone")) {
      document.querySelectorAll(".workspace input, .workspace textarea, .workspace select, .workspace button, .topbar form button")
        .forEach(function (el) { if (!el.closest("[data-mobile-tab]")) el.disabled = true; });
      document.querySelectorAll(".workspace [hx-post], .topbar [hx-get*='/delete/']").forEach(function (el) {
        el.removeAttribute("hx-post"); el.removeAttribute("hx-get"); el.setAttribute("aria-disabled", "true");
        htmx.process(el);
      });
      var ws = document.querySelector(".workspace");
      if (ws) ws.dataset.gone = "1";
    }
  }
  document.addEventListener("htmx:wsAfterMessage", syncAgent);

  /* a finished import opens its agent */
  document.addEventListener("htmx:wsAfterMessage", function () {
    var go = document.querySelector("#import-progress[data-state='import_done'] [data-go]");
    if (go) location.assign(go.href);
  });

  /* ---- phones: one section of the workspace at a time (Chat / Memory / Context / Settings) ---- */
  document.addEventListener("click", function (e) {
    var tab = e.target.closest("[data-mobile-tab]");
    if (!tab) return;
    var workspace = tab.closest(".workspace");
    workspace.dataset.mobile = tab.dataset.mobileTab;
    tab.parentElement.querySelectorAll("[data-mobile-tab]").forEach(function (t) {
      t.setAttribute("aria-selected", t === tab ? "true" : "false");
    });
    if (tab.dataset.mobileTab === "chat") scrollChat();
  });

  /* ---- the left panel's tab, told to the agent socket: its pushes refresh only the regions this page shows ---- */
  var leftSocket = null, leftSent = null;
  function reportLeft() {
    var panel = document.getElementById("left-panel");
    if (!leftSocket || !panel || panel.dataset.left === leftSent) return;
    leftSent = panel.dataset.left;
    leftSocket.send(JSON.stringify({ left: leftSent }));
  }
  document.addEventListener("htmx:wsOpen", function (e) {
    if (!e.detail.elt.dataset.agent) return;
    leftSocket = e.detail.socketWrapper;
    leftSent = null;
    reportLeft();
  });
  document.addEventListener("htmx:wsClose", function () { leftSocket = null; });
  document.addEventListener("htmx:afterSettle", reportLeft);

  /* ---- websocket status dot ---- */
  function wsStatus(cls, title) {
    var el = document.getElementById("ws-status");
    if (!el) return;
    el.className = "ws-status " + cls;
    el.title = title;
    el.querySelector("span").textContent = cls === "live" ? "Live" : "Reconnecting…";
  }
  var wsWasDown = false;
  document.addEventListener("htmx:wsOpen", function (e) {
    wsStatus("live", "Live updates are on");
    e.detail.elt.classList.add("ws-live");
    if (wsWasDown && e.detail.elt.dataset.agent) {  /* events sent while we were away are gone: fetch the conversation and context afresh */
      var base = "/agents/" + e.detail.elt.dataset.agent + "/";
      htmx.ajax("GET", base + "chat/", { target: "#chat-inner", swap: "outerHTML" });
      htmx.ajax("GET", base + "context/", { target: "#context-window", swap: "outerHTML" });
    }
    wsWasDown = false;
  });
  document.addEventListener("htmx:wsClose", function () {
    wsWasDown = true;
    wsStatus("down", "Live updates paused; reconnecting");
  });

  /* ---- upload progress bars (folders) ---- */
  document.addEventListener("htmx:xhr:progress", function (e) {
    var bar = e.detail.elt.querySelector && e.detail.elt.querySelector("[data-upload-progress]");
    if (bar && e.detail.lengthComputable) {
      bar.parentElement.hidden = false;
      var percent = Math.round((e.detail.loaded / e.detail.total) * 100) + "%";
      bar.style.width = percent;
      var label = e.detail.elt.querySelector("[data-upload-percent]");
      if (label) { label.hidden = false; label.textContent = "Uploading " + percent; }
    }
  });

  /* A link to a closed <details> on the page opens it (no inline handlers: the Content-Security-Policy forbids them). */
  document.addEventListener("click", function (e) {
    var link = e.target.closest('a[href^="#"]');
    var target = link && link.getAttribute("href").length > 1 && document.getElementById(link.getAttribute("href").slice(1));
    if (target && target.tagName === "DETAILS") target.open = true;
  });

  /* The tool-rule editor shows the fields its rule type needs (agents/pages/rules_editor.py). */
  function ruleFields(root) {
    var form = (root || document).querySelector ? (root || document).querySelector("#rule-form") : null;
    if (!form) return;
    var kind = form.querySelector('select[name="type"]').value;
    form.querySelectorAll(".rule-extra").forEach(function (field) {
      var wanted = field.dataset.for.split(" ");
      field.hidden = wanted.indexOf(kind) < 0 && wanted.indexOf("always") < 0;
    });
  }
  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches('#rule-form select[name="type"]')) ruleFields(document);
  });
  document.addEventListener("htmx:afterSettle", function () { ruleFields(document); });
  document.addEventListener("DOMContentLoaded", function () { ruleFields(document); });

  /* ---- the tool code editor: CodeMirror (vendored), the schema regenerated as you type, errors at their line ---- */
  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { return ""; }
  }
  function showSchema(cm, data) {
    var pre = document.getElementById("tool-schema"), box = document.getElementById("tool-schema-error");
    cm.clearGutter("tool-errors");
    (cm._errorLines || []).forEach(function (h) { cm.removeLineClass(h, "background", "cm-error-line"); });
    cm._errorLines = [];
    if (data.schema) {
      if (pre) pre.textContent = JSON.stringify(data.schema, null, 2);
      if (box) box.hidden = true;
      return;
    }
    if (box) { box.hidden = false; box.textContent = data.error || "The schema could not be generated."; }
    if (data.line && data.line <= cm.lineCount()) {
      var marker = document.createElement("span");
      marker.className = "cm-error-marker"; marker.textContent = "●"; marker.title = data.error;
      cm.setGutterMarker(data.line - 1, "tool-errors", marker);
      cm._errorLines.push(cm.addLineClass(data.line - 1, "background", "cm-error-line"));
    }
  }
  function refreshSchema(ta, cm) {
    clearTimeout(ta._schemaTimer);
    ta._schemaTimer = setTimeout(function () {
      var body = new FormData();
      body.append("source_code", cm.getValue());
      fetch(ta.dataset.schemaUrl, { method: "POST", body: body, credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() } })
        .then(function (r) { return r.json(); })
        .then(function (data) { showSchema(cm, data); })
        .catch(function () { /* offline for a moment: the next keystroke tries again */ });
    }, 300);
  }
  function codeEditors(root) {
    if (!window.CodeMirror || !root.querySelectorAll) return;
    root.querySelectorAll("textarea[data-code]").forEach(function (ta) {
      if (ta._cm) return;
      var cm = CodeMirror.fromTextArea(ta, {
        mode: "python", lineNumbers: true, indentUnit: 4, tabSize: 4, indentWithTabs: false, matchBrackets: true,
        readOnly: ta.hasAttribute("readonly"), gutters: ["tool-errors", "CodeMirror-linenumbers"], viewportMargin: Infinity,
        extraKeys: {
          Tab: function (cm) { if (cm.somethingSelected()) cm.indentSelection("add"); else cm.replaceSelection("    "); },
          "Shift-Tab": "indentLess"
        }
      });
      ta._cm = cm;
      cm.getWrapperElement().dataset.editorFor = ta.id;
      cm.on("change", function () { cm.save(); if (ta.dataset.schemaUrl) refreshSchema(ta, cm); });
      if (ta.dataset.schemaUrl) refreshSchema(ta, cm);
    });
  }
  /* the whole document: after an outerHTML swap the event's target is the element that was replaced */
  document.addEventListener("htmx:afterSettle", function () { codeEditors(document); });
  document.addEventListener("DOMContentLoaded", function () { codeEditors(document); });
})();
