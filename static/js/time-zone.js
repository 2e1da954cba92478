// Tells Steward the browser's time zone, so that pages show event times in it to people who
// are not signed in (the server takes only an IANA name from this cookie).
(function () {
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone && document.cookie.indexOf("steward_tz=" + encodeURIComponent(zone)) === -1) {
    document.cookie = "steward_tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; SameSite=Lax";
  }
})();
