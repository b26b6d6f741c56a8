"""The back office's forms for drafts typed by an organiser: the document (type,
recipient picked from the organiser's parties or typed, currency, terms) and its
lines (amounts in currency units, e.g. 90.00). Issued documents get no form: they
are read-only (credit them instead)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.utils.translation import gettext_lazy as _

from events.models import validate_currency
from ticketing.forms import CleanTextMixin, LocalisedModelForm

from .models import Invoice, InvoiceLine

# What an organiser may draft by hand (credit notes come from crediting).
DRAFT_TYPES = (Invoice.Type.SALES, Invoice.Type.BILL, Invoice.Type.DEPOSIT)
DRAFT_FIELDS = (
    "organiser",
    "type",
    "party",
    "recipient_name",
    "recipient_address",
    "recipient_email",
    "recipient_tax_id",
    "language",
    "currency",
    "tax_treatment",
    "due_on",
    "event",
    "deposit_percent",
    "deposit_minor",
    "deposit_due_on",
    "notes",
)
RECIPIENT_FROM_PARTY = {
    "recipient_name": "name",
    "recipient_address": "address",
    "recipient_email": "email",
    "recipient_tax_id": "tax_id",
}


def _organiser_id(form) -> int | None:
    organiser = form.cleaned_data.get("organiser")
    if organiser is not None:
        return organiser.pk
    return form.instance.organiser_id


class InvoiceDraftForm(CleanTextMixin, LocalisedModelForm):
    money_fields = ("deposit_minor",)

    class Meta:
        model = Invoice
        fields = DRAFT_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["type"].choices = [
            (value, label)
            for value, label in Invoice.Type.choices
            if value in DRAFT_TYPES
        ]
        self.fields["language"] = forms.ChoiceField(
            label=_("Language"), choices=settings.LANGUAGES, initial="en"
        )
        self.fields["recipient_name"].required = False
        self.fields["recipient_name"].help_text = _(
            "Leave empty to take the party's details."
        )

    def money_currency(self) -> str:
        return (self.posted("currency") or self.instance.currency or "").upper()

    def clean_currency(self) -> str:
        currency = self.cleaned_data["currency"].upper()
        validate_currency(currency)
        return currency

    def clean(self):
        data = super().clean()
        organiser_id = _organiser_id(self)
        party, event = data.get("party"), data.get("event")
        if party is not None and party.organiser_id != organiser_id:
            self.add_error("party", _("This party belongs to another organiser."))
        if event is not None and event.organiser_id != organiser_id:
            self.add_error("event", _("This event belongs to another organiser."))
        if data.get("type") == Invoice.Type.BILL and party is None:
            self.add_error(
                "party",
                _("A bill is addressed to a performer or promoter: choose one."),
            )
        if party is not None:
            for field, attribute in RECIPIENT_FROM_PARTY.items():
                if field in data and not data[field]:
                    data[field] = getattr(party, attribute)
                    setattr(self.instance, field, data[field])
        if not data.get("recipient_name") and "recipient_name" not in self.errors:
            self.add_error(
                "recipient_name", _("Choose a party or type the recipient's name.")
            )
        if data.get("deposit_percent") is not None and data.get("deposit_minor"):
            self.add_error(
                "deposit_minor",
                _("Ask for a deposit amount or a percentage, not both."),
            )
        return data


class InvoiceLineForm(CleanTextMixin, LocalisedModelForm):
    money_fields = ("unit_price_minor",)

    class Meta:
        model = InvoiceLine
        fields = (
            "description",
            "quantity",
            "unit_price_minor",
            "tax_rate",
            "account_code",
        )

    def money_currency(self) -> str:
        # The document's form is posted with its lines (no prefix): a new draft's
        # currency is known only from there.
        if self.is_bound and self.data.get("currency"):
            return str(self.data["currency"]).upper()
        try:
            return self.instance.invoice.currency
        except ObjectDoesNotExist:
            return ""


class InvoiceLineFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        kept = [
            form
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        if not kept:
            raise forms.ValidationError(_("Add at least one line."))
        organiser_id = self.instance.organiser_id
        for form in kept:
            rate = form.cleaned_data.get("tax_rate")
            if rate is not None and rate.organiser_id != organiser_id:
                form.add_error(
                    "tax_rate", _("This tax rate belongs to another organiser.")
                )
