"""The door's check-in page: scan or type a ticket, read the answer from afar.

Staff only (the admin login); the user checks in tickets of the organisers where
their role is owner, manager or staff. A QR scanner acting as a keyboard types the
secret and Enter into the autofocused field, so the page works without JavaScript.
"""

from __future__ import annotations

from django import forms
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from events.models import Organiser
from ticketing.admin_scoping import is_superuser, user_organiser_ids

from .checkin import (
    CHECK_IN_ROLES,
    CheckInResult,
    CheckInUndoRefused,
    ticket_check_in,
    ticket_check_in_undo,
)

TEMPLATE = "admission/checkin.html"


class CheckInForm(forms.Form):
    token = forms.CharField(max_length=100, strip=True)


class CheckInUndoForm(forms.Form):
    ticket = forms.IntegerField(min_value=1)


def _organiser_ids(request) -> list[int]:
    if is_superuser(request):
        return list(Organiser.objects.values_list("pk", flat=True))
    organiser_ids = user_organiser_ids(request, CHECK_IN_ROLES)
    if not organiser_ids:
        raise PermissionDenied
    return organiser_ids


def _render(request, *, result: CheckInResult | None = None, undo=None, status=200):
    session = result.session if result else None
    tzinfo = session.tzinfo if session else None
    used_at = (
        timezone.localtime(result.used_at, tzinfo)
        if result and result.used_at
        else None
    )
    context = {
        "form": CheckInForm(),
        "result": result,
        "session_starts_at": timezone.localtime(session.starts_at, tzinfo)
        if session
        else None,
        "used_at": used_at,
        "used_today": used_at is not None
        and used_at.date() == timezone.localtime(timezone=tzinfo).date(),
        # Times read in the session's (venue's) zone, like the tickets.
        "event_timezone": tzinfo,
        "undo": undo,
    }
    return render(request, TEMPLATE, context, status=status)


@staff_member_required
@require_http_methods(["GET", "POST"])
def checkin(request):
    organiser_ids = _organiser_ids(request)
    if request.method == "GET":
        return _render(request)
    form = CheckInForm(request.POST)
    if not form.is_valid():
        return _render(request, status=400)
    result = ticket_check_in(
        token=form.cleaned_data["token"],
        organiser_ids=organiser_ids,
        actor=request.user,
    )
    return _render(request, result=result)


@staff_member_required
@require_POST
def checkin_undo(request):
    organiser_ids = _organiser_ids(request)
    form = CheckInUndoForm(request.POST)
    if not form.is_valid():
        return _render(request, status=400)
    try:
        ticket = ticket_check_in_undo(
            ticket_id=form.cleaned_data["ticket"],
            organiser_ids=organiser_ids,
            actor=request.user,
        )
    except CheckInUndoRefused as error:
        return _render(request, undo={"ok": False, "message": error.message})
    return _render(request, undo={"ok": True, "ticket": ticket})
