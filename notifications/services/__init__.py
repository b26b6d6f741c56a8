"""Emails and SMS to buyers through an outbox.

`notification_queue` writes `Notification` rows, and one outbox row each
(`ticketing.outbox`, kind `notifications.send`), in the caller's transaction;
the outbox dispatches them after commit (and every 30 s from beat, for kicks that
were lost), retrying temporary failures with `SEND_POLICY`. `notification_send`
claims a row, renders it in the buyer's language and hands it to the email or SMS
backend; `notification_status_update` records what the provider reports afterwards.
Brevo and Twilio take no idempotency key: a worker killed between their accept and
our mark sends the message again (at least once; see docs/operations.md).

Statuses: queued → sending → sent → delivered | bounced | failed, or skipped when no
provider is configured (console backends, missing keys). A failed row with an empty
`provider_message_id` is a send that can be retried; one with an id was refused by
the recipient's side and is not retried; one whose `last_error` starts with
`REJECTED_PREFIX` was refused by the provider (4xx) and is not retried either.

One module per step of a row's life, imported directly (this package re-exports
nothing): `queueing` writes rows and their outbox entries, `sending` claims a row
and records the outcome, `channels` renders it and hands it to the email or SMS
provider, `delivery_reports` applies what the provider reports later.
"""
