"""Ticket rows: one per attendee of a confirmed booking, with their codes."""
