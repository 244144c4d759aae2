// Buttons with data-confirm ask before submitting (no inline onclick: the
// Content-Security-Policy allows scripts from our static files only).
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
  });
})();
