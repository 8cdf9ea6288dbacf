// The console's live lists: on each "changed" event from /ui/events, fetch this page's list
// again (server-rendered, escaped HTML, as only this token may see it) and put it in place.
// Never under the user's hand: while the pointer or the focus is in the list, a refresh waits
// (a row moving under a click would put the decision on another action), and for a moment
// after one the buttons do not take clicks. A file, not inline script: the CSP allows 'self'.
(function () {
  "use strict";
  var live = document.body.getAttribute("data-live");
  var target = document.getElementById("live");
  if (!live || !target || !window.EventSource) { return; }
  var busy = false, wanted = false, hovering = false, focused = false;
  target.addEventListener("mouseenter", function () { hovering = true; });
  target.addEventListener("mouseleave", function () { hovering = false; if (wanted) { refresh(); } });
  target.addEventListener("focusin", function () { focused = true; });
  target.addEventListener("focusout", function () { focused = false; if (wanted) { refresh(); } });
  function settle() {
    var buttons = target.querySelectorAll("button");
    Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
    setTimeout(function () {
      Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
    }, 700);
  }
  function refresh() {
    if (hovering || focused) { wanted = true; document.body.setAttribute("data-stale", "1"); return; }
    if (busy) { wanted = true; return; }
    busy = true; wanted = false;
    fetch(live, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        busy = false;
        if (html === null) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").body;
        target.replaceChildren.apply(target, Array.prototype.slice.call(fresh.childNodes));
        settle();
        document.body.removeAttribute("data-stale");
        document.body.setAttribute("data-refreshed", String(Date.now()));
        if (wanted) { refresh(); }
      })
      .catch(function () { busy = false; });
  }
  var events = new EventSource("/ui/events");
  events.addEventListener("changed", refresh);
  events.addEventListener("ready", function () { document.body.setAttribute("data-live-ready", "1"); });
})();
