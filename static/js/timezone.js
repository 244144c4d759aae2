// Tell the server the browser's time zone (IANA name), so pages can show times
// in the reader's zone when they chose none in their settings (issue 12 #7).
(function () {
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {
    return;
  }
  if (!zone) return;
  var current = document.cookie.match(/(?:^|; )volley_tz=([^;]*)/);
  if (current && decodeURIComponent(current[1]) === zone) return;
  var year = 60 * 60 * 24 * 365;
  var secure = window.location.protocol === "https:" ? "; Secure" : "";
  document.cookie =
    "volley_tz=" + encodeURIComponent(zone) + "; path=/; max-age=" + year + "; SameSite=Lax" + secure;
})();
