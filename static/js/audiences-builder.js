// Rule builder: live size preview while the conditions are edited. The page
// works without it (the "Preview size" button posts the same form).
(function () {
  "use strict";
  var form = document.getElementById("rule-builder");
  if (!form) return;
  var output = document.getElementById("preview-size");
  var timer = null;
  var sequence = 0;

  function refresh() {
    var mine = ++sequence;
    fetch(form.dataset.previewUrl, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch" },
    })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        if (mine !== sequence) return; // a newer request is on its way
        output.textContent = data.label;
        output.classList.toggle("errorlist", data.size === null);
      })
      .catch(function () { /* keep the last answer; the button still works */ });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 400);
  }

  // What the value takes, from the kind of the chosen field (data-kind).
  var conditions = document.getElementById("conditions");
  function hint(select) {
    var row = select.closest(".condition");
    var value = row && row.querySelector(".rule-value");
    if (!value || !conditions) return;
    var option = select.options[select.selectedIndex];
    var kind = option ? option.getAttribute("data-kind") : null;
    var key = kind ? "hint" + kind.charAt(0).toUpperCase() + kind.slice(1) : "";
    value.placeholder = (key && conditions.dataset[key]) || "";
  }
  form.querySelectorAll("select.rule-field").forEach(function (select) {
    hint(select);
    select.addEventListener("change", function () { hint(select); });
  });

  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
  refresh();
})();
