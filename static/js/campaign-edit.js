// Campaign editor: live preview of the unsaved form and the SMS counter.
// The page works without it (save, then preview on the campaign page).
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

  // SMS: characters and segments (GSM-7: 160 / 153 per part; otherwise UCS-2: 70 / 67).
  var sms = form.querySelector("textarea[data-sms]");
  var counter = document.getElementById("sms-counter");
  var gsm = /^[A-Za-z0-9 @£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ!"#¤%&'()*+,\-./:;<=>?¡ÄÖÑÜ§¿äöñüà^{}\\\[~\]|€]*$/;
  function count() {
    var text = sms.value;
    var single = gsm.test(text) ? 160 : 70;
    var multi = gsm.test(text) ? 153 : 67;
    var parts = text.length <= single ? (text.length ? 1 : 0) : Math.ceil(text.length / multi);
    counter.textContent = text.length + " / " + single + " · " + parts + " SMS";
  }
  if (sms && counter) {
    sms.addEventListener("input", count);
    count();
  }
  if (target && form.querySelector("[name^=content_]")) refresh();
})();
