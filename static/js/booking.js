/* The booking page: the hold's countdown, and Stripe's card form when offered.
   A file rather than an inline script: the Content-Security-Policy allows scripts
   from this site (and js.stripe.com on this page) only. */
(function () {
  "use strict";

  function countdown() {
    var el = document.querySelector("[data-expires-at]");
    if (!el) { return; }
    var end = new Date(el.dataset.expiresAt).getTime();
    function tick() {
      var left = Math.max(0, Math.round((end - Date.now()) / 1000));
      el.textContent = "(" + Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0") + ")";
      if (left > 0) { setTimeout(tick, 1000); } else { location.reload(); }
    }
    tick();
  }

  function stripeForm() {
    var form = document.getElementById("stripe-form");
    if (!form) { return; }
    if (typeof Stripe === "undefined") {
      form.querySelector("[data-stripe-loading]").textContent = form.dataset.unavailable;
      return;
    }
    form.querySelector("button").disabled = false;
    form.querySelector("[data-stripe-loading]").remove();
    var stripe = Stripe(form.dataset.publishableKey);
    var elements = stripe.elements({clientSecret: form.dataset.clientSecret});
    elements.create("payment").mount("#payment-element");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      stripe.confirmPayment({elements: elements, confirmParams: {return_url: form.dataset.returnUrl}})
        .then(function (result) {
          if (!result.error) { return; }
          var intent = result.error.payment_intent;
          if (result.error.type === "card_error" && intent && intent.id) {
            // Declined: the server checks with Stripe, gives the seats back and
            // shows the reason with a way to book again (as the return page does).
            var url = new URL(form.dataset.returnUrl, location.href);
            url.searchParams.set("payment_intent", intent.id);
            url.searchParams.set("redirect_status", "failed");
            location.assign(url.toString());
            return;
          }
          document.getElementById("payment-message").textContent = result.error.message;
        });
    });
  }

  stripeForm();
  countdown();
})();
