// noarkpipe review desk: one keystroke per decision. The forms work without this file.
(function () {
  "use strict";
  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }
  function go(selector) {
    var link = document.querySelector(selector);
    if (link && link.href) { window.location.assign(link.href); }
  }
  function focus(id) {
    var field = document.getElementById(id);
    if (field) { field.focus(); if (field.select) { field.select(); } }
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    switch (event.key) {
      case "a": {
        var approve = document.getElementById("approve");
        if (approve) { event.preventDefault(); approve.click(); }
        break;
      }
      case "n": case "j": event.preventDefault(); go("#next"); break;
      case "p": case "k": event.preventDefault(); go("#previous"); break;
      case "r": event.preventDefault(); focus("reject-reason"); break;
      case "t": event.preventDefault(); focus("saksnummer"); break;
      case "c": event.preventDefault(); focus("klasse-select"); break;
      case "q": event.preventDefault(); go(".steps a:last-child"); break;
      case "e": {
        var edit = document.getElementById("edit");
        if (edit) { event.preventDefault(); edit.open = true; focus("edit-tittel"); }
        break;
      }
      default: break;
    }
  });
  // A decision is sent once: a second press while the first is on its way does nothing.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.sent) { event.preventDefault(); return; }
    form.dataset.sent = "1";
  });
})();
