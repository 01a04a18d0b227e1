// The simulated phone reads downwards, newest at the bottom: keep it scrolled to the end when
// it opens and whenever polling brings a new message (not on every identical refresh, so an
// operator scrolling back up is left alone).
(function () {
  function count(body) { return body.querySelectorAll("[data-testid=phone-message]").length; }
  function toEnd(body) { body.scrollTop = body.scrollHeight; }
  document.addEventListener("DOMContentLoaded", function () {
    var body = document.getElementById("phone-messages");
    if (!body) return;
    var seen = count(body);
    toEnd(body);
    body.addEventListener("htmx:afterSwap", function () {
      var now = count(body);
      if (now !== seen) { seen = now; toEnd(body); }
    });
  });
})();
