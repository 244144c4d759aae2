// "Copy" buttons for ready-to-copy blocks (the trigger request of an
// API-triggered campaign). Progressive enhancement: the buttons stay hidden
// without JavaScript or without the Clipboard API, the text stays selectable.
(function () {
  "use strict";
  if (!navigator.clipboard) return;
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.dataset.copy);
    if (!source) return;
    var label = button.textContent;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.textContent).then(function () {
        button.textContent = button.dataset.copied || label;
        window.setTimeout(function () { button.textContent = label; }, 2000);
      });
    });
  });
})();
