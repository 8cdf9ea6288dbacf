// The console's live lists: on each "changed" event from /ui/events, fetch this page's list
// again (server-rendered, escaped HTML, as only this token may see it) and put it in place.
// A file, not inline script: the Content-Security-Policy allows scripts from 'self' only.
(function () {
  "use strict";
  var live = document.body.getAttribute("data-live");
  var target = document.getElementById("live");
  if (!live || !target || !window.EventSource) { return; }
  var pending = false;
  function refresh() {
    if (pending) { return; }
    pending = true;
    fetch(live, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        pending = false;
        if (html === null) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.body;
        target.replaceChildren.apply(target, Array.prototype.slice.call(fresh.childNodes));
        document.body.setAttribute("data-refreshed", String(Date.now()));
      })
      .catch(function () { pending = false; });
  }
  var events = new EventSource("/ui/events");
  events.addEventListener("changed", refresh);
  events.addEventListener("ready", function () { document.body.setAttribute("data-live-ready", "1"); });
})();
