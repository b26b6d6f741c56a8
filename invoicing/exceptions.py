from django.utils.translation import gettext_lazy as _


class InvoiceError(Exception):
    code = "invoice_error"
    default_message = _("This invoice cannot be changed that way.")

    def __init__(self, message=None):
        self.message = str(message or self.default_message)
        super().__init__(self.message)


class InvoiceNotEditable(InvoiceError):
    code = "invoice_not_editable"
    default_message = _("An issued invoice is never edited: credit it instead.")
