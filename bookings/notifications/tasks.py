"""Celery tasks of this package (registered through bookings/tasks.py)."""
