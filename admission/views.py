"""The door's check-in page: pick the sessions, scan or type a ticket, read the
answer from afar, and watch the count of who is in.

Staff only (the admin login); the user checks in tickets of the organisers where
their role is owner, manager or staff. The sessions being checked in are chosen
first and remembered in the user's Django session. A QR scanner acting as a keyboard
types the secret and Enter into the autofocused field, so the page works without
JavaScript; static/js/checkin.js adds the camera and the live counter.
"""

from __future__ import annotations

from django import forms
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from events.models import Organiser
from ticketing.admin_scoping import is_superuser, user_organiser_ids

from .checkin import (
    CHECK_IN_ROLES,
    CheckInResult,
    CheckInUndoRefused,
    ticket_check_in,
    ticket_check_in_undo,
)
from .door import door_count, door_sessions, session_label, sessions_by_id

TEMPLATE = "admission/checkin.html"
# Where the choice of sessions is kept, in the user's Django session.
CHOSEN_SESSIONS_KEY = "admission.checkin.session_ids"


class CheckInForm(forms.Form):
    token = forms.CharField(max_length=100, strip=True)


class CheckInUndoForm(forms.Form):
    ticket = forms.IntegerField(min_value=1)


class ChooseSessionsForm(forms.Form):
    sessions = forms.TypedMultipleChoiceField(
        coerce=int,
        error_messages={"required": _("Choose at least one session.")},
    )

    def __init__(self, *args, choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sessions"].choices = [(s.pk, session_label(s)) for s in choices]


def _organiser_ids(request) -> list[int]:
    if is_superuser(request):
        return list(Organiser.objects.values_list("pk", flat=True))
    organiser_ids = user_organiser_ids(request, CHECK_IN_ROLES)
    if not organiser_ids:
        raise PermissionDenied
    return organiser_ids


def _chosen_sessions(request, organiser_ids):
    """The remembered sessions the user may still check in."""
    remembered = request.session.get(CHOSEN_SESSIONS_KEY) or []
    return sessions_by_id(remembered, organiser_ids) if remembered else []


def _render(
    request,
    organiser_ids,
    *,
    result: CheckInResult | None = None,
    undo=None,
    choice_form=None,
    needs_choice=False,
    status=200,
):
    session = result.session if result else None
    tzinfo = session.tzinfo if session else None
    used_at = (
        timezone.localtime(result.used_at, tzinfo)
        if result and result.used_at
        else None
    )
    chosen = _chosen_sessions(request, organiser_ids)
    offered = door_sessions(organiser_ids)
    context = {
        "form": CheckInForm(),
        "result": result,
        "session_label": session_label(session) if session else "",
        "used_at": used_at,
        "used_today": used_at is not None
        and used_at.date() == timezone.localtime(timezone=tzinfo).date(),
        # Times read in the session's (venue's) zone, like the tickets.
        "event_timezone": tzinfo,
        "undo": undo,
        "chosen": [(s, session_label(s)) for s in chosen],
        "chosen_ids": {s.pk for s in chosen},
        "upcoming": [(s, session_label(s)) for s in offered.upcoming],
        "past": [(s, session_label(s)) for s in offered.past],
        "choice_form": choice_form,
        "needs_choice": needs_choice,
        "count": door_count([s.pk for s in chosen]) if chosen else None,
    }
    return render(request, TEMPLATE, context, status=status)


@never_cache
@staff_member_required
@require_http_methods(["GET", "POST"])
def checkin(request):
    organiser_ids = _organiser_ids(request)
    if request.method == "GET":
        return _render(request, organiser_ids)
    chosen = _chosen_sessions(request, organiser_ids)
    if not chosen:
        return _render(request, organiser_ids, needs_choice=True, status=400)
    form = CheckInForm(request.POST)
    if not form.is_valid():
        return _render(request, organiser_ids, status=400)
    result = ticket_check_in(
        token=form.cleaned_data["token"],
        organiser_ids=organiser_ids,
        actor=request.user,
        session_ids=[s.pk for s in chosen],
    )
    return _render(request, organiser_ids, result=result)


@staff_member_required
@require_POST
def checkin_sessions(request):
    """Remember the sessions this user checks in (only theirs to check in)."""
    organiser_ids = _organiser_ids(request)
    form = ChooseSessionsForm(request.POST, choices=door_sessions(organiser_ids).all)
    if not form.is_valid():
        return _render(request, organiser_ids, choice_form=form, status=400)
    request.session[CHOSEN_SESSIONS_KEY] = form.cleaned_data["sessions"]
    return redirect("admission:checkin")


@never_cache
@staff_member_required
@require_GET
def checkin_count(request):
    """The live counter for the chosen sessions, polled by the page."""
    chosen = _chosen_sessions(request, _organiser_ids(request))
    count = door_count([s.pk for s in chosen])
    return JsonResponse({"sessions": [s.pk for s in chosen], **count.as_json()})


@staff_member_required
@require_POST
def checkin_undo(request):
    organiser_ids = _organiser_ids(request)
    form = CheckInUndoForm(request.POST)
    if not form.is_valid():
        return _render(request, organiser_ids, status=400)
    try:
        ticket = ticket_check_in_undo(
            ticket_id=form.cleaned_data["ticket"],
            organiser_ids=organiser_ids,
            actor=request.user,
        )
    except CheckInUndoRefused as error:
        return _render(
            request, organiser_ids, undo={"ok": False, "message": error.message}
        )
    return _render(request, organiser_ids, undo={"ok": True, "ticket": ticket})
