/* The checkout: only improvements, the form works without it. A file rather than
   an inline script: the Content-Security-Policy allows scripts from this site only.
   - The error summary takes focus on load, so a screen reader reads it and a phone
     shows it (the GOV.UK pattern); its links focus the field and bring its label
     into view, not just the input.
   - Choosing another date refreshes prices and seats left ("Update"). */
(function () {
  "use strict";

  function errorSummary() {
    var summary = document.querySelector("[data-error-summary]");
    if (!summary) { return; }
    summary.focus();
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      if (!link) { return; }
      var input = document.getElementById(link.getAttribute("href").slice(1));
      if (!input) { return; }
      event.preventDefault();
      var label = document.querySelector("label[for='" + input.id + "']");
      (label || input).scrollIntoView();
      input.focus({preventScroll: true});
    });
  }

  function refreshOnSessionChange() {
    var select = document.querySelector(".checkout select[name=session]");
    var update = document.querySelector(".checkout [data-update]");
    if (!select || !update) { return; }
    select.addEventListener("change", function () { update.click(); });
  }

  errorSummary();
  refreshOnSessionChange();
})();
