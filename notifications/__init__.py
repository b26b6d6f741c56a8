"""Emails and SMS to buyers: an outbox of `Notification` rows sent by Celery tasks.

- `services`: queue (inside the caller's transaction), send, delivery reports, retries;
  one module each (`queueing`, `sending`, `channels`, `delivery_reports`).
- `receivers`: booking signals queue confirmations, cancellations and refunds;
  anymail's `tracking` signal records email delivery.
- `views`: Twilio's SMS status callback at `/webhooks/twilio/status/`.
"""
