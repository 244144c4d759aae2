// "Insert an image" beside each HTML body field: a dialog lists the image
// library (/images/picker/) and a click inserts an <img> with the image's
// public address at the cursor. Progressive enhancement: without JavaScript
// the library page gives the same addresses to copy.
(function () {
  "use strict";
  var tpl = document.getElementById("image-picker");
  if (!tpl || !window.HTMLDialogElement) return;

  function imgTag(button) {
    var width = parseInt(button.dataset.width, 10) || 600;
    var alt = (button.dataset.alt || "").replace(/\.[a-z0-9]+$/i, "").replace(/"/g, "&quot;");
    return '<img src="' + button.dataset.url + '" alt="' + alt + '" width="' + Math.min(width, 600) +
      '" style="display:block;max-width:100%;height:auto;border:0">';
  }

  function insert(textarea, text) {
    var start = textarea.selectionStart || 0, end = textarea.selectionEnd || 0;
    textarea.value = textarea.value.slice(0, start) + text + textarea.value.slice(end);
    textarea.selectionStart = textarea.selectionEnd = start + text.length;
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
    textarea.focus();
  }

  document.querySelectorAll('textarea[name="content_html"]').forEach(function (textarea) {
    var parts = tpl.content.cloneNode(true);
    var button = parts.querySelector(".insert-image");
    var dialog = parts.querySelector("dialog");
    var body = dialog.querySelector(".picker-body");
    textarea.parentNode.insertBefore(button, textarea);
    document.body.appendChild(dialog);
    dialog.querySelector(".close").addEventListener("click", function () { dialog.close(); });
    body.addEventListener("click", function (event) {
      var pick = event.target.closest("button.pick");
      if (!pick) return;
      dialog.close();
      insert(textarea, imgTag(pick));
    });
    button.addEventListener("click", function () {
      fetch(tpl.dataset.list, { credentials: "same-origin" })
        .then(function (r) { return r.text(); })
        .then(function (html) {
          body.innerHTML = html;
          dialog.showModal();
        });
    });
  });
})();
