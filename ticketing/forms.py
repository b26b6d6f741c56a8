"""Form fields and mixins shared by the buyer's pages and the back office.

Django's CharField already refuses NUL; other control characters (and lone
surrogates, which psycopg cannot encode) would be stored as typed and break emails,
PDFs and CSV exports, or fail in the database. A form using `CleanTextMixin` gives
every text field a validator that refuses them with a message next to the field.

`MoneyField` shows the currency beside the box, takes "90.00", "90,00" or "1 500"
and gives minor units (see `ticketing.lib.money.parse_amount`). `ZonedDateTimeField`
and `ZonedSplitDateTimeField` read and show a datetime on a given zone's clock
instead of the current one (UTC on this server), so an organiser types the start
time as it is at the venue and the database keeps UTC.

Both ask the form for their currency or zone when they need it (a callable), not when
they are built: an admin inline learns its parent object only after the form is made,
and an add form learns the venue or event only from what is posted.

`LocalisedModelForm` applies them to a model form's `*_minor` and datetime fields,
keeping the admin's widgets, labels and required flags.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django import forms
from django.contrib.admin import widgets as admin_widgets
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ticketing.lib.hostile import text_problem
from ticketing.lib.localtime import zone_label
from ticketing.lib.money import (
    AmountError,
    amount_text,
    currency_exponent,
    parse_amount,
)

# -- text --------------------------------------------------------------------------


def refuse_control_characters(value) -> None:
    if isinstance(value, str) and text_problem(value):
        raise ValidationError(
            _("Remove the control characters from this field."),
            code="control_characters",
        )


class CleanTextMixin:
    """Adds `refuse_control_characters` to every CharField (email, URL, hidden...),
    fields added in a subclass's `__init__` included: it runs when the form cleans.

    A hidden field's error would be invisible next to an invisible field, and the
    buyer could not fix it anyway: it is said at the top of the form instead."""

    def full_clean(self):
        for field in self.fields.values():
            if (
                isinstance(field, forms.CharField)
                and refuse_control_characters not in field.validators
            ):
                field.validators.append(refuse_control_characters)
        super().full_clean()
        if any(self[name].is_hidden for name in self.errors if name in self.fields):
            self.add_error(
                None,
                _(
                    "This form was changed on its way to us. Reload the page and "
                    "try again."
                ),
            )


# -- money ------------------------------------------------------------------------


class MoneyInput(forms.TextInput):
    template_name = "ticketing/widgets/money_input.html"
    currency_getter: Callable[[], str] | None = None

    def __init__(self, attrs=None):
        super().__init__({"inputmode": "decimal", "size": 10, **(attrs or {})})

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        currency = self.currency_getter() if self.currency_getter else ""
        context["widget"]["currency"] = currency
        context["widget"]["currency_label"] = currency or _("currency")
        return context


class MoneyField(forms.Field):
    """Minor units in, minor units out; currency units on the screen."""

    widget = MoneyInput
    default_error_messages = {
        "min_value": _("The amount cannot be below %(limit)s."),
        "no_currency": _("Choose what this amount belongs to first."),
        "invalid": _("Enter an amount such as 90.00."),
        "grouping": _("Enter an amount such as 1,500.00."),
        "no_decimals": _("%(currency)s amounts have no decimals."),
        "too_many_decimals": _("%(currency)s amounts have at most %(n)d decimals."),
    }

    def __init__(self, *, currency: str | Callable[[], str] = "", min_value=0, **kw):
        kw.pop("max_value", None)
        kw.pop("step_size", None)
        super().__init__(**kw)
        self.min_value = min_value
        self.currency = currency

    @property
    def currency(self) -> str:
        return (self._currency() if callable(self._currency) else self._currency) or ""

    @currency.setter
    def currency(self, value) -> None:
        self._currency = value
        self.widget.currency_getter = lambda: self.currency

    def __deepcopy__(self, memo):
        result = super().__deepcopy__(memo)
        result.currency = self._currency  # re-binds the copied widget to the copy
        return result

    def prepare_value(self, value):
        if isinstance(value, int) and not isinstance(value, bool) and self.currency:
            return amount_text(value, self.currency)
        return value

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        currency = self.currency
        if not currency:
            raise ValidationError(self.error_messages["no_currency"], "no_currency")
        try:
            return parse_amount(str(value), currency)
        except AmountError as error:
            raise ValidationError(
                self.error_messages[error.code],
                code=error.code,
                params={"currency": currency, "n": currency_exponent(currency)},
            ) from None

    def validate(self, value):
        super().validate(value)
        if value is not None and self.min_value is not None and value < self.min_value:
            raise ValidationError(
                self.error_messages["min_value"],
                code="min_value",
                params={"limit": amount_text(self.min_value, self.currency or "EUR")},
            )

    def has_changed(self, initial, data):
        try:
            return self.to_python(data) != initial
        except ValidationError:
            return True


# -- local time --------------------------------------------------------------------


class _Zoned:
    zone_getter: Callable[[], dt.tzinfo | None] | None = None

    def zone(self) -> dt.tzinfo:
        if self.zone_getter is not None:
            # Unknown (nothing chosen yet): UTC, only ever for a form that is
            # refused anyway for the missing venue or event.
            return self.zone_getter() or dt.UTC
        return timezone.get_current_timezone()


class ZonedDateTimeField(_Zoned, forms.DateTimeField):
    """A datetime typed and shown on `zone()`'s clock. A local time that does not
    exist or happens twice (a DST change) is refused, as Django does."""

    def prepare_value(self, value):
        with timezone.override(self.zone()):
            return super().prepare_value(value)

    def to_python(self, value):
        with timezone.override(self.zone()):
            return super().to_python(value)


class ZonedSplitDateTimeField(_Zoned, forms.SplitDateTimeField):
    """The admin's date + time pair, on `zone()`'s clock."""

    def prepare_value(self, value):
        if isinstance(value, dt.datetime) and timezone.is_aware(value):
            # Naive local time: the split widget leaves naive values as they are.
            return timezone.make_naive(value, self.zone())
        return value

    def compress(self, data_list):
        with timezone.override(self.zone()):
            return super().compress(data_list)

    def has_changed(self, initial, data):
        with timezone.override(self.zone()):
            return super().has_changed(initial, data)


class ZonedAdminSplitDateTime(admin_widgets.AdminSplitDateTime):
    """The admin's date and time boxes, with the zone they are read in beneath."""

    template_name = "ticketing/widgets/zoned_split_datetime.html"
    zone_getter: Callable[[], dt.tzinfo | None] | None = None
    unknown_label = _("Local time where it happens")

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        zone = self.zone_getter() if self.zone_getter else None
        if zone is None:  # a new row: the venue or event is not chosen yet
            context["widget"]["zone_name"] = ""
            context["widget"]["zone_label"] = self.unknown_label
            return context
        at = None
        if isinstance(value, dt.datetime):
            at = value if timezone.is_aware(value) else _aware(value, zone)
        context["widget"]["zone_name"] = getattr(zone, "key", str(zone))
        context["widget"]["zone_label"] = _("Local time: %(zone)s") % {
            "zone": zone_label(zone, at)
        }
        return context


def _aware(value: dt.datetime, zone: dt.tzinfo) -> dt.datetime | None:
    try:
        return timezone.make_aware(value, zone)
    except (ValueError, OverflowError):
        return None


# -- model forms ---------------------------------------------------------------------


class LocalisedModelForm(forms.ModelForm):
    """A model form whose datetime fields read the clock of `local_zone()` and whose
    `money_fields` (minor units) are typed in `money_currency()`'s units.

    Subclasses say where the zone and the currency come from; both may depend on
    what is posted (a venue or an event chosen in the same form): `posted(name)`
    gives a field's raw posted value.
    """

    money_fields: tuple[str, ...] = ()
    unknown_zone_label = _("Local time where it happens")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if name in self.money_fields:
                self.fields[name] = self._money_field(field)
            elif isinstance(field, forms.SplitDateTimeField):
                # Same field, label, widget and required flag: only the clock changes.
                field.__class__ = ZonedSplitDateTimeField
                if type(field.widget) is admin_widgets.AdminSplitDateTime:
                    field.widget.__class__ = ZonedAdminSplitDateTime
                    field.widget.zone_getter = self.local_zone
                    field.widget.unknown_label = self.unknown_zone_label
                field.zone_getter = self.local_zone
            elif isinstance(field, forms.DateTimeField):
                field.__class__ = ZonedDateTimeField
                field.zone_getter = self.local_zone

    def _money_field(self, field: forms.Field) -> MoneyField:
        label = str(field.label or "")
        for suffix in (" minor", " (minor units)"):
            label = label.removesuffix(suffix)
        return MoneyField(
            currency=self.money_currency,
            required=field.required,
            label=label,
            help_text=_("In %(what)s, e.g. 90.00 (or 1500 for yen).")
            % {"what": _("currency units")},
            disabled=field.disabled,
        )

    def posted(self, name: str):
        if not self.is_bound or name not in self.fields:
            return None
        return self.data.get(self.add_prefix(name)) or None

    def local_zone(self) -> dt.tzinfo | None:
        """The clock of this form's datetimes; None while it cannot be known."""
        return timezone.get_current_timezone()

    def money_currency(self) -> str:
        return ""
