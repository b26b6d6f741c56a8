"""Outbound webhooks to organisers' partners: signed JSON POSTs of booking and
check-in events, retried with backoff (see docs/partner-webhooks.md)."""
