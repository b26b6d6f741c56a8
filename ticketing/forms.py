"""Form field cleaning shared by the buyer's pages.

Django's CharField already refuses NUL; other control characters (and lone
surrogates, which psycopg cannot encode) would be stored as typed and break emails,
PDFs and CSV exports, or fail in the database. A form using `CleanTextMixin` gives
every text field a validator that refuses them with a message next to the field.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from ticketing.lib.hostile import text_problem


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
