"""Report pages under the admin (`/admin/reports/...`), scoped like the dashboard."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from events.models import Event, Session

from . import channels
from .reports.filters import Filters, default_period
from .reports.payouts import payouts_report
from .reports.sales import GROUPS, sales_report
from .reports.sync_history import sync_history_report
from .scope import Scope, scope_for

REPORTS = {
    "sales": _lazy("Sales"),
    "payouts": _lazy("Payouts to be"),
    "sync-history": _lazy("External platform sales history"),
}


class ReportFilterForm(forms.Form):
    start = forms.DateField(
        label=_lazy("From"), required=False, widget=forms.DateInput({"type": "date"})
    )
    end = forms.DateField(
        label=_lazy("To"), required=False, widget=forms.DateInput({"type": "date"})
    )
    event = forms.ModelChoiceField(
        queryset=Event.objects.none(), required=False, label=_lazy("Event")
    )
    session = forms.ModelChoiceField(
        queryset=Session.objects.none(), required=False, label=_lazy("Date")
    )
    channel = forms.ChoiceField(required=False, label=_lazy("Channel"))
    group = forms.ChoiceField(
        required=False, label=_lazy("Group by"), choices=GROUPS.items()
    )

    def __init__(self, *args, scope: Scope, **kwargs):
        super().__init__(*args, **kwargs)
        self.scope = scope
        self.fields["event"].queryset = scope.filter(
            Event.objects.order_by("title"), "organiser_id"
        )
        self.fields["session"].queryset = scope.filter(
            Session.objects.select_related("event", "venue").order_by("starts_at"),
            "event__organiser_id",
        )
        self.fields["channel"].choices = [("", _("All channels"))] + [
            (key, label) for key, label in channels.LABELS.items()
        ]

    def filters(self) -> Filters:
        """The filters asked for, each one that is valid. A page shows the errors
        of the others (`ignored`); an export refuses them (`refusal`)."""
        tz = self.scope.tzinfo
        first, last = default_period(tz)
        data = {}
        if self.is_bound:
            self.is_valid()
            data = self.cleaned_data  # the valid fields only

        first = data.get("start") or first
        last = data.get("end") or last
        return Filters(
            start=dt.datetime.combine(first, dt.time.min, tzinfo=tz),
            end=dt.datetime.combine(
                last + dt.timedelta(days=1), dt.time.min, tzinfo=tz
            ),
            event_id=data["event"].pk if data.get("event") else None,
            session_id=data["session"].pk if data.get("session") else None,
            channel=data.get("channel") or "",
        )

    def refusal(self) -> HttpResponseBadRequest | None:
        """A 400 naming the invalid filters, for an export: a download must hold
        what was asked for, never more."""
        if not self.errors:
            return None
        lines = [_("These filters are not valid; nothing was exported:")]
        for name, errors in self.errors.items():
            label = self.fields[name].label if name in self.fields else name
            lines.append(f"{label}: {' '.join(errors)}")
        return HttpResponseBadRequest(
            "\n".join(str(line) for line in lines),
            content_type="text/plain; charset=utf-8",
        )


def report_table(request, kind: str):
    """The scope, the bound filter form and the report's table for `kind`."""
    scope = scope_for(request)
    if not request.user.is_superuser and not scope.organisers:
        raise PermissionDenied
    form = ReportFilterForm(request.GET or None, scope=scope)
    filters = form.filters()
    if kind == "sales":
        group = request.GET.get("group") or "event"
        if group not in GROUPS:
            group = "event"
        table = sales_report(scope, filters, group)
    elif kind == "payouts":
        table = payouts_report(scope, filters)
    elif kind == "sync-history":
        table = sync_history_report(scope, filters)
    else:
        raise Http404
    return scope, form, filters, table


def report_view(request, kind: str):
    if kind not in REPORTS:
        raise Http404
    scope, form, filters, table = report_table(request, kind)
    export = request.GET.get("format")
    if export:
        from .exports import table_response

        if refused := form.refusal():
            return refused

        return table_response(table, export, f"{kind}-{filters.start:%Y%m%d}")
    query = request.GET.copy()
    query.pop("format", None)
    context = {
        **admin.site.each_context(request),
        "title": table.title,
        "table": table,
        "form": form,
        "organiser": scope.selected,
        "kind": kind,
        "reports": [
            (
                key,
                label,
                reverse("backoffice:report", args=[key])
                + (f"?organiser={scope.selected.pk}" if scope.selected else ""),
            )
            for key, label in REPORTS.items()
        ],
        "query": query.urlencode(),
        "period": (filters.start.date(), (filters.end - dt.timedelta(days=1)).date()),
    }
    return TemplateResponse(request, "backoffice/report.html", context)


def list_export(request, kind: str):
    """`/admin/reports/export/<bookings|attendees>/?format=csv|xlsx&filters`."""
    from .exports import table_response
    from .lists import attendees_table, bookings_table

    builders = {"bookings": bookings_table, "attendees": attendees_table}
    if kind not in builders:
        raise Http404
    scope = scope_for(request)
    if not request.user.is_superuser and not scope.organisers:
        raise PermissionDenied
    form = ReportFilterForm(request.GET or None, scope=scope)
    filters = form.filters()
    if refused := form.refusal():
        return refused
    table = builders[kind](scope, filters)
    return table_response(
        table, request.GET.get("format", "csv"), f"{kind}-{filters.start:%Y%m%d}"
    )


def door_list(request, session_id: int):
    """A session's door list: `?format=csv`, or by default a printable PDF."""
    from django.shortcuts import get_object_or_404
    from django.template.loader import render_to_string
    from django.utils import timezone

    from .exports import table_response
    from .lists import door_list_table

    scope = scope_for(request)
    session = get_object_or_404(
        scope.filter(
            Session.objects.select_related("event", "venue"), "event__organiser_id"
        ),
        pk=session_id,
    )
    table = door_list_table(session)
    name = f"door-list-{session.event.slug}-{session.starts_at:%Y%m%d-%H%M}"
    fmt = request.GET.get("format", "pdf")
    if fmt != "pdf":
        return table_response(table, fmt, name)
    from django.contrib.staticfiles import finders
    from django.http import HttpResponse
    from weasyprint import CSS, HTML

    with timezone.override(session.event.tzinfo):
        html = render_to_string(
            "backoffice/door_list_pdf.html",
            {"session": session, "table": table, "printed_at": timezone.now()},
        )
    # The style is a file, not inline: templates stay free of inline style (CSP).
    style = CSS(filename=finders.find("backoffice/door_list.css"))
    pdf = HTML(string=html).write_pdf(stylesheets=[style])
    response = HttpResponse(pdf, "application/pdf")
    response["Content-Disposition"] = f'inline; filename="{name}.pdf"'
    return response
