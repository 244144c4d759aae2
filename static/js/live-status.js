// Work the cluster is doing for this page (a proof, a test message) carries
// data-live-url: that fragment is fetched again every 2 s and put in its place
// until the server's answer no longer carries data-live-url (sent or failed).
// The page works without it: reloading shows the same fragment.
(function () {
  "use strict";
  var DELAY = 2000;
  var MAX_POLLS = 300; // 10 minutes: a dead worker's lease ends long before

  function poll(element, count) {
    if (count >= MAX_POLLS) return;
    window.setTimeout(function () {
      fetch(element.dataset.liveUrl, {
        credentials: "same-origin",
        headers: { "X-Requested-With": "fetch" }
      })
        .then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          return response.text();
        })
        .then(function (html) {
          var template = document.createElement("template");
          template.innerHTML = html.trim();
          var fresh = template.content.firstElementChild;
          if (!fresh) return;
          element.replaceWith(fresh);
          if (fresh.dataset.liveUrl) poll(fresh, count + 1);
        })
        .catch(function () { poll(element, count + 1); });
    }, DELAY);
  }

  document.querySelectorAll("[data-live-url]").forEach(function (element) {
    poll(element, 0);
  });
})();
