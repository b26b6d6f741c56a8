"""Domain errors of selling, each with a stable `code` and a user-safe message."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


class BookingError(Exception):
    code = "booking_error"
    default_message = _("This booking could not be made.")

    def __init__(self, message: str | None = None) -> None:
        self.message = str(message or self.default_message)
        super().__init__(self.message)


class BasketInvalid(BookingError):
    """Bad input: field errors keyed by path (`lines.0.quantity`, `buyer.email`)."""

    code = "validation_error"
    default_message = _("Please correct the errors below.")

    def __init__(
        self, fields: dict[str, list[str]], message: str | None = None
    ) -> None:
        self.fields = {
            key: [str(m) for m in messages] for key, messages in fields.items()
        }
        super().__init__(message)


class NotOnSale(BookingError):
    code = "not_on_sale"
    default_message = _("Tickets for this session are not on sale.")


class SalesClosed(NotOnSale):
    """The session's own sales window is over (its `sales_close_at`, by default its
    start): it may still be listed, but it no longer sells or quotes."""

    code = "sales_closed"
    default_message = _("Sales for this session have closed.")


class HoldLimitReached(BookingError):
    """One buyer email or client address would hold more of a session than its
    share (see `bookings.services.holds`). Carries the seats it may still add."""

    code = "hold_limit"
    default_message = _(
        "You already hold as many seats for this date as one buyer may. Pay for or "
        "let go of the seats you hold first."
    )

    def __init__(self, *, seats_left: int, message: str | None = None) -> None:
        self.seats_left = seats_left
        super().__init__(message)


class DiscountCodeUsedUp(BookingError):
    """A discount code has no uses left (in all, or for this buyer email)."""

    code = "code_used_up"
    default_message = _("This code has been used as many times as it may be.")


class SoldOut(BookingError):
    """Not enough seats; carries what is still available so the buyer can adjust."""

    code = "sold_out"
    default_message = _("Not enough seats left for this order.")

    def __init__(
        self, *, session_available: int, ticket_types_available: dict[int, int]
    ) -> None:
        self.session_available = session_available
        self.ticket_types_available = ticket_types_available
        super().__init__()


class InventoryBusy(BookingError):
    code = "busy"
    default_message = _("We're busy, please try again in a moment.")
    retry_after_seconds = 2


class InvalidTransition(BookingError):
    code = "invalid_state"
    default_message = _("This booking cannot change that way.")
