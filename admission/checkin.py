"""Checking tickets in at the door, and undoing the last check-in.

The results are the partner API's (`POST /checkins/`): ``ok``, ``already_used``,
``void``, ``wrong_session`` and ``unknown``. A ticket of an organiser the caller does
not act for is ``unknown``, exactly like a token that matches nothing, so nothing
leaks. A ticket of the caller's organiser for a session other than the ones being
checked in is ``wrong_session`` (its session is named) and stays as it was.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bookings.exceptions import BookingError
from bookings.models import Ticket
from events.models import Session
from ticketing.admin_scoping import MANAGER, OWNER, STAFF
from ticketing.audit import actor_fields, audit_log

from .models import CheckIn

# Membership roles that may check tickets in (viewers only look).
CHECK_IN_ROLES: tuple[str, ...] = (OWNER, MANAGER, STAFF)

OK = "ok"
ALREADY_USED = "already_used"
VOID = "void"
WRONG_SESSION = "wrong_session"
UNKNOWN = "unknown"

# Longer input is neither a secret (43 characters) nor a code: don't query for it.
_MAX_TOKEN_LENGTH = 100
_CODE_NOISE = re.compile(r"[\s\-]+")


class CheckInUndoRefused(BookingError):
    code = "check_in_undo_refused"
    default_message = _("This check-in cannot be undone.")


class CheckInUndoTicketUnknown(CheckInUndoRefused):
    code = "unknown"
    default_message = _("Unknown ticket.")


class CheckInUndoTicketVoid(CheckInUndoRefused):
    code = "void"
    default_message = _("This ticket is void; its check-in cannot be undone.")


class CheckInUndoNotCheckedIn(CheckInUndoRefused):
    code = "not_checked_in"
    default_message = _("This ticket is not checked in.")


@dataclass(frozen=True)
class CheckInResult:
    result: str  # OK, ALREADY_USED, VOID, WRONG_SESSION or UNKNOWN
    ticket: Ticket | None = None
    attendee_name: str = ""
    ticket_type: str = ""
    session: Session | None = None
    # For ALREADY_USED: when the ticket was used, and by whom (user or API key label).
    used_at: dt.datetime | None = None
    used_by: str = ""


def _code_candidates(token: str) -> set[str]:
    """The ways a typed human code may be stored: upper case, with its dash."""
    bare = _CODE_NOISE.sub("", token).upper()
    candidates = {bare, token.upper()}
    if len(bare) == 8:
        candidates.add(f"{bare[:4]}-{bare[4:]}")
    return candidates


def _tickets_of(organiser_ids: Collection[int]):
    return Ticket.objects.filter(organiser_id__in=list(organiser_ids)).select_related(
        "attendee", "ticket_type", "session__event", "session__venue"
    )


def ticket_find(*, token: str, organiser_ids: Collection[int]) -> Ticket | None:
    """The ticket whose secret (exact) or human code (any case, dash optional) is
    `token`, among the given organisers' tickets; None otherwise."""
    token = (token or "").strip()
    if not token or len(token) > _MAX_TOKEN_LENGTH or not organiser_ids:
        return None
    return (
        _tickets_of(organiser_ids)
        .filter(Q(secret=token) | Q(code__in=_code_candidates(token)))
        .first()
    )


def _last_check_in(ticket: Ticket) -> CheckIn | None:
    return (
        CheckIn.objects.filter(ticket=ticket, action=CheckIn.Action.CHECK_IN)
        .select_related("actor")
        .first()
    )


def _result(result: str, ticket: Ticket, **extra: Any) -> CheckInResult:
    return CheckInResult(
        result=result,
        ticket=ticket,
        attendee_name=ticket.attendee.name,
        ticket_type=ticket.ticket_type.name,
        session=ticket.session,
        **extra,
    )


def _user_or_none(actor: Any):
    return actor if getattr(actor, "is_authenticated", False) else None


def ticket_check_in(
    *,
    token: str,
    organiser_ids: Collection[int],
    actor: Any,
    session_ids: Collection[int] | None = None,
) -> CheckInResult:
    """Check in the ticket that `token` names (see `ticket_find`).

    `session_ids` are the sessions being checked in (None: any session of the
    organisers; empty: none). A ticket of another session is ``wrong_session``
    and is not touched, whatever its status: the door turns it away either way.

    Exactly one of any number of simultaneous scans of a ticket gets ``ok``: the
    change is one conditional UPDATE (``status = 'valid'``), which PostgreSQL
    re-evaluates after a concurrent writer commits; the others then read the used
    ticket and get ``already_used``. The CheckIn row and the audit row are written
    in the same transaction. `actor` is a user or a label (an API key's name).
    """
    ticket = ticket_find(token=token, organiser_ids=organiser_ids)
    if ticket is None:
        return CheckInResult(result=UNKNOWN)
    scope = {}
    if session_ids is not None:
        scope["session_id__in"] = list(session_ids)
        if ticket.session_id not in scope["session_id__in"]:
            return _result(WRONG_SESSION, ticket)

    now = timezone.now()
    with transaction.atomic(durable=True):
        # The session is in the condition too, should the ticket move meanwhile.
        updated = Ticket.objects.filter(
            pk=ticket.pk, status=Ticket.Status.VALID, **scope
        ).update(
            status=Ticket.Status.USED,
            checked_in_at=now,
            checked_in_by=_user_or_none(actor),
        )
        if updated:
            CheckIn.objects.create(
                ticket=ticket, action=CheckIn.Action.CHECK_IN, **actor_fields(actor)
            )
            audit_log(
                action="bookings.ticket.checked_in",
                obj=ticket,
                organiser_id=ticket.organiser_id,
                actor=actor,
                data={"code": ticket.code, "session_id": ticket.session_id},
            )

    ticket.refresh_from_db(fields=["status", "checked_in_at", "checked_in_by"])
    if updated:
        return _result(OK, ticket)
    if ticket.status == Ticket.Status.VOID:
        return _result(VOID, ticket)
    if ticket.status == Ticket.Status.USED:
        last = _last_check_in(ticket)
        if last is not None:
            used_by = last.actor_label
        elif ticket.checked_in_by is not None:
            used_by = ticket.checked_in_by.get_username()
        else:
            used_by = ""
        return _result(
            ALREADY_USED, ticket, used_at=ticket.checked_in_at, used_by=used_by
        )
    # Valid again (an undo landed between our UPDATE and this read), or moved to
    # another session meanwhile: scan again.
    return ticket_check_in(
        token=token, organiser_ids=organiser_ids, actor=actor, session_ids=session_ids
    )


def ticket_check_in_undo(
    *,
    ticket_id: int | None = None,
    token: str | None = None,
    organiser_ids: Collection[int],
    actor: Any,
) -> Ticket:
    """Undo the last check-in of a ticket (by id or token): it is valid again.

    Writes a CheckIn ``undo`` row and an audit row in one transaction. Raises
    `CheckInUndoTicketUnknown` for a ticket outside `organiser_ids` (or none),
    `CheckInUndoTicketVoid` for a void ticket and `CheckInUndoNotCheckedIn` when
    there is nothing to undo (so a double click undoes once).
    """
    if (ticket_id is None) == (token is None):
        raise TypeError("Pass exactly one of ticket_id and token")
    if token is not None:
        ticket = ticket_find(token=token, organiser_ids=organiser_ids)
    else:
        ticket = _tickets_of(organiser_ids).filter(pk=ticket_id).first()
    if ticket is None:
        raise CheckInUndoTicketUnknown

    with transaction.atomic(durable=True):
        updated = Ticket.objects.filter(pk=ticket.pk, status=Ticket.Status.USED).update(
            status=Ticket.Status.VALID, checked_in_at=None, checked_in_by=None
        )
        if updated:
            CheckIn.objects.create(
                ticket=ticket, action=CheckIn.Action.UNDO, **actor_fields(actor)
            )
            audit_log(
                action="bookings.ticket.check_in_undone",
                obj=ticket,
                organiser_id=ticket.organiser_id,
                actor=actor,
                data={"code": ticket.code, "session_id": ticket.session_id},
            )

    ticket.refresh_from_db(fields=["status", "checked_in_at", "checked_in_by"])
    if updated:
        return ticket
    if ticket.status == Ticket.Status.VOID:
        raise CheckInUndoTicketVoid
    raise CheckInUndoNotCheckedIn
