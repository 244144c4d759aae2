// The one SMS counter (GSM-7: 160 / 153 units per part, UCS-2: 70 / 67), for
// every page with a <textarea data-sms-counter> and an #sms-counter output.
// It counts like the server's audiences.channel_facts.sms_segments; both are
// tested against tests/fixtures/sms_segments.json.
(function (root) {
  "use strict";
  var GSM_BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var GSM_EXTENSION = "^{}\\[~]|€\f"; // an escape and the character: 2 units each
  var LIMITS = { "GSM-7": [160, 153], "UCS-2": [70, 67] };

  function count(text) {
    var gsm = true, septets = 0, i, c;
    for (i = 0; i < text.length; i++) {
      c = text.charAt(i);
      if (GSM_BASIC.indexOf(c) >= 0) { septets += 1; }
      else if (GSM_EXTENSION.indexOf(c) >= 0) { septets += 2; }
      else { gsm = false; break; }
    }
    var encoding = gsm ? "GSM-7" : "UCS-2";
    // UCS-2 counts UTF-16 units: an emoji (a surrogate pair) is 2, as JS's length.
    var units = gsm ? septets : text.length;
    var single = LIMITS[encoding][0], multi = LIMITS[encoding][1];
    var segments = units === 0 ? 0 : (units <= single ? 1 : Math.ceil(units / multi));
    return {
      characters: Array.from(text).length,
      units: units,
      encoding: encoding,
      segments: segments
    };
  }

  if (typeof module !== "undefined" && module.exports) { module.exports = { count: count }; }
  root.VolleySms = { count: count };
  if (!root.document) { return; }
  root.document.querySelectorAll("textarea[data-sms-counter]").forEach(function (area) {
    var out = root.document.getElementById("sms-counter");
    if (!out) { return; }
    function update() {
      var r = count(area.value);
      out.textContent = (out.dataset.format || "%(chars)s · %(segments)s · %(encoding)s")
        .replace("%(chars)s", r.characters).replace("%(segments)s", r.segments)
        .replace("%(encoding)s", r.encoding);
    }
    area.addEventListener("input", update);
    update();
  });
})(typeof window !== "undefined" ? window : globalThis);
