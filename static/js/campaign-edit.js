// Campaign editor: live preview of the unsaved form (the SMS counter is
// sms-counter.js). The page works without it (save, then preview on the campaign page).
(function () {
  "use strict";
  var form = document.getElementById("campaign-form");
  if (!form) return;
  var target = document.getElementById("preview");
  var button = document.getElementById("preview-button");
  var timer = null;

  function refresh() {
    var data = new FormData(form);
    fetch(form.dataset.previewUrl + "?fragment=1", {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch" }
    })
      .then(function (r) { return r.text(); })
      .then(function (html) { target.innerHTML = html; })
      .catch(function () { /* keep the last preview */ });
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 600);
  }

  if (button) button.addEventListener("click", refresh);
  form.querySelectorAll("[name^=content_], #preview-profile").forEach(function (el) {
    el.addEventListener("input", later);
  });

  if (target && form.querySelector("[name^=content_]")) refresh();
})();
