"""Check-ins at the door and the booking's tickets PDF.

The tables keep their names from `bookings`, where these models began (see the
migration `0001_from_bookings`).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from bookings.models import Booking, Ticket


class CheckIn(models.Model):
    """Every scan that changed a ticket, so the last one can be undone and the door
    can say when and by whom a ticket was used."""

    class Action(models.TextChoices):
        CHECK_IN = "check_in", _("Checked in")
        UNDO = "undo", _("Undone")

    ticket = models.ForeignKey(
        Ticket,
        on_delete=models.CASCADE,
        related_name="check_ins",
        verbose_name=_("ticket"),
    )
    action = models.CharField(
        max_length=10, choices=Action.choices, verbose_name=_("action")
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("actor"),
    )
    actor_label = models.CharField(
        max_length=100, blank=True, verbose_name=_("actor label")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("check in")
        verbose_name_plural = _("check ins")
        db_table = "bookings_checkin"  # kept from bookings, where it began
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.ticket_id}"


class BookingDocument(models.Model):
    """A booking's PDF of tickets in file storage, under a key nobody can guess."""

    booking = models.OneToOneField(
        Booking,
        on_delete=models.CASCADE,
        related_name="document",
        verbose_name=_("booking"),
    )
    pdf = models.FileField(upload_to="tickets/", max_length=300, verbose_name=_("pdf"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("booking document")
        verbose_name_plural = _("booking documents")
        db_table = "bookings_bookingdocument"  # kept from bookings, where it began

    def __str__(self) -> str:
        return self.pdf.name
