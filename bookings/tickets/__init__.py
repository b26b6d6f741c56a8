"""Tickets: one row per attendee of a confirmed booking, their QR codes and the
booking's PDF (rendered after commit, stored under a key nobody can guess)."""
