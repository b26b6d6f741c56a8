"""Paystack over its REST API (https://api.paystack.co), through the shared HTTP
client (`ticketing.lib.http`).

Wire facts this module relies on (see docs/specs external-apis.md section 5):

- Every answer is an envelope `{"status": true, "message": "...", "data": {...}}`;
  errors carry `"status": false` and a `message`. An answer that is not this
  envelope, or lacks a field we use, raises a typed ProviderError, never KeyError.
- Amounts are integer subunits (kobo, pesewas, cents): the same integer as our minor
  units, so nothing is converted. Paystack sometimes sends amounts as digit strings;
  both are accepted on the way in, ints are always sent.
- There is no Idempotency-Key: a transaction's `reference` is unique per integration
  and is our idempotency (`PaymentRequest.attempt_reference`). Initializing a
  reference twice answers 400 "Duplicate Transaction Reference".
- There is no cancel for a transaction: an unpaid one is marked "abandoned" and
  simply never completes once the checkout page expires.
- Webhooks carry `x-paystack-signature`: lower-case hex HMAC-SHA512 of the raw body
  keyed with the secret API key (there is no separate webhook secret), no timestamp
  and no event id.

Calls go through the shared client (`ticketing.lib.http.ExternalApi`): the
`(connect, read)` timeout from `settings.PAYMENT_HTTP_TIMEOUT`, the circuit breaker
for "paystack", one log line per call without the key. No method retries, not even
a GET (these run inside buyers' requests; tasks retry). Keys are never logged or put
in error messages.

One module per concern, imported directly (this package re-exports nothing):
`provider` (`PaystackProvider`: payments and refunds), `client` (the HTTP call and
its envelope), `webhooks` (signature check and event mapping), `mapping` (reading
Paystack's fields and statuses into ours).
"""
