// Live character and segment counter for SMS text areas (GSM-7: 160/153, UCS-2: 70/67).
(function () {
  "use strict";
  var GSM = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXT = "^{}\\[~]|€\f";
  function count(text) {
    var gsm = true, units = 0, i, c;
    for (i = 0; i < text.length; i++) {
      c = text.charAt(i);
      if (GSM.indexOf(c) >= 0) { units += 1; } else if (EXT.indexOf(c) >= 0) { units += 2; } else { gsm = false; break; }
    }
    if (!gsm) { units = Array.from(text).length; }
    var single = gsm ? 160 : 70, multi = gsm ? 153 : 67;
    var segments = units === 0 ? 0 : (units <= single ? 1 : Math.ceil(units / multi));
    return { chars: text.length, segments: segments, encoding: gsm ? "GSM-7" : "UCS-2" };
  }
  document.querySelectorAll("textarea[data-sms-counter]").forEach(function (area) {
    var out = document.getElementById("sms-counter");
    if (!out) { return; }
    function update() {
      var r = count(area.value);
      out.textContent = (out.dataset.format || "%(chars)s · %(segments)s · %(encoding)s")
        .replace("%(chars)s", r.chars).replace("%(segments)s", r.segments)
        .replace("%(encoding)s", r.encoding);
    }
    area.addEventListener("input", update);
    update();
  });
})();
