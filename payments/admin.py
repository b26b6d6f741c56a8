"""Payments in the back office, scoped to the user's organisers.

Provider keys are write-only: the form takes a new value and never shows the stored
one. Refunds are made by adding a Refund (payment, amount, reason), which goes through
`refund_issue`; payments and webhook deliveries are read-only records.
"""

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from bookings.exceptions import BookingError
from bookings.models import Booking
from ticketing.admin_scoping import (
    MANAGER,
    OWNER,
    OrganiserScopedAdmin,
    OrganiserScopedInline,
)
from ticketing.lib.money import Money

from .exceptions import PaymentError, RefundOutcomeUnknown
from .models import (
    Payment,
    PaymentEvent,
    Provider,
    ProviderAccount,
    Refund,
    WebhookDelivery,
)
from .providers.base import ProviderError
from .services import payment_offline_mark_paid, refund_issue, webhook_process

_MONEY_ROLES = (OWNER, MANAGER)
_OFFLINE_FIELDS = (
    "account_holder",
    "bank_name",
    "account_number",
    "bank_code",
    "instructions",
    "payment_days",
)


class ProviderAccountForm(forms.ModelForm):
    secret_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Stored encrypted and never shown again. Leave empty to keep."),
    )
    webhook_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Stripe's whsec_… signing secret. Leave empty to keep."),
    )

    class Meta:
        model = ProviderAccount
        fields = (
            "organiser",
            "provider",
            "is_enabled",
            "public_key",
            *_OFFLINE_FIELDS,
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Card providers have no use for it: left out, the stored value stays.
        self.fields["payment_days"].required = False

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("payment_days") is None:
            cleaned["payment_days"] = self.instance.payment_days
        if cleaned.get("provider") == Provider.OFFLINE and not (
            cleaned.get("account_number") or cleaned.get("instructions")
        ):
            raise forms.ValidationError(
                _(
                    "Bank transfer needs an account number or written instructions "
                    "for the buyer."
                )
            )
        return cleaned

    def save(self, commit=True):
        account = super().save(commit=False)
        if self.cleaned_data.get("secret_key"):
            account.secret_key = self.cleaned_data["secret_key"]
        if self.cleaned_data.get("webhook_secret"):
            account.webhook_secret = self.cleaned_data["webhook_secret"]
        if commit:
            account.save()
        return account


@admin.register(ProviderAccount)
class ProviderAccountAdmin(OrganiserScopedAdmin, admin.ModelAdmin):
    organiser_path = "organiser"
    add_roles = change_roles = delete_roles = _MONEY_ROLES
    form = ProviderAccountForm
    list_display = (
        "organiser",
        "provider",
        "is_enabled",
        "has_secret_key",
        "updated_at",
    )
    list_filter = ("provider", "is_enabled")
    fieldsets = (
        (None, {"fields": ("organiser", "provider", "is_enabled")}),
        (
            _("Stripe / Paystack keys"),
            {"fields": ("public_key", "secret_key", "webhook_secret")},
        ),
        (
            _("Bank transfer / pay later"),
            {
                "fields": _OFFLINE_FIELDS,
                "description": _(
                    "Shown to buyers who choose to pay by transfer; their seats stay "
                    "held for the days given. Mark their payment received from "
                    "Payments with the action “Mark paid (offline)”."
                ),
            },
        ),
    )

    @admin.display(boolean=True, description=_("Secret key set"))
    def has_secret_key(self, account):
        return bool(account.secret_key_encrypted)


class PaymentEventInline(OrganiserScopedInline, admin.TabularInline):
    model = PaymentEvent
    organiser_path = "payment__organiser"
    extra = 0
    can_delete = False
    fields = readonly_fields = ("created_at", "action", "status", "amount_minor")

    def has_add_permission(self, request, obj=None):
        return False


class RefundInline(PaymentEventInline):
    model = Refund
    organiser_path = "organiser"
    fields = readonly_fields = (
        "created_at",
        "amount_minor",
        "status",
        "reason",
        "provider_refund_id",
        "last_error",
    )


@admin.register(Payment)
class PaymentAdmin(OrganiserScopedAdmin, admin.ModelAdmin):
    organiser_path = "organiser"
    add_roles = delete_roles = ()
    list_display = (
        "provider_reference",
        "booking",
        "provider",
        "status",
        "amount_display",
        "refunded_minor",
        "created_at",
    )
    list_filter = ("status", "provider", "created_at")
    list_select_related = ("booking",)
    search_fields = ("provider_reference", "booking__reference", "booking__buyer_email")
    readonly_fields = (
        "booking",
        "organiser",
        "provider",
        "provider_reference",
        "amount_minor",
        "currency",
        "status",
        "refunded_minor",
        "destination_account",
        "application_fee_minor",
        "created_at",
        "updated_at",
        "succeeded_at",
        "raw_state",
        "failure_code",
        "failure_message",
    )
    exclude = ("client_secret", "redirect_url")
    inlines = (RefundInline, PaymentEventInline)
    actions = ("mark_paid_offline",)

    def has_mark_paid_permission(self, request):
        return self._role_allows(request, _MONEY_ROLES)

    @admin.action(description=_("Mark paid (offline)"), permissions=("mark_paid",))
    def mark_paid_offline(self, request, queryset):
        """The organiser received these bank transfers: confirm their bookings as a
        late card payment would be (seats re-taken under the lock, or flagged)."""
        confirmed, flagged = 0, 0
        for payment in queryset.select_related("booking"):
            self.check_organiser(request, payment, _MONEY_ROLES)
            try:
                payment = payment_offline_mark_paid(
                    payment_id=payment.pk, actor=request.user
                )
            except (PaymentError, BookingError) as error:
                self.message_user(
                    request,
                    _("%(reference)s: %(error)s")
                    % {"reference": payment.provider_reference, "error": error.message},
                    level=messages.ERROR,
                )
                continue
            booking = Booking.objects.get(pk=payment.booking_id)
            if booking.status == Booking.Status.CONFIRMED:
                confirmed += 1
            else:
                flagged += 1
        if confirmed:
            self.message_user(
                request,
                _("%(n)d booking(s) confirmed; tickets are on their way.")
                % {"n": confirmed},
            )
        if flagged:
            self.message_user(
                request,
                _(
                    "%(n)d payment(s) recorded, but the seats were gone or the booking "
                    "was closed: the booking is flagged, return the money by hand."
                )
                % {"n": flagged},
                level=messages.WARNING,
            )

    @admin.display(description=_("Amount"), ordering="amount_minor")
    def amount_display(self, payment):
        return Money(payment.amount_minor, payment.currency).format()


class RefundForm(forms.ModelForm):
    amount_minor = forms.IntegerField(
        required=False,
        min_value=1,
        help_text=_("In minor units (cents). Empty: everything not yet refunded."),
    )

    class Meta:
        model = Refund
        fields = ("payment", "amount_minor", "reason")


@admin.register(Refund)
class RefundAdmin(OrganiserScopedAdmin, admin.ModelAdmin):
    organiser_path = "organiser"
    add_roles = _MONEY_ROLES
    change_roles = delete_roles = ()
    list_display = (
        "payment",
        "amount_minor",
        "currency",
        "status",
        "reason",
        "created_by",
        "created_at",
    )
    list_filter = ("status", "created_at")
    search_fields = ("payment__provider_reference", "payment__booking__reference")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = RefundForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return [field.name for field in Refund._meta.fields]

    def save_model(self, request, obj, form, change):
        """Adding a refund asks the provider for it, through the service."""
        self.check_organiser(request, obj.payment, self.add_roles)
        try:
            refund = refund_issue(
                payment_id=obj.payment_id,
                amount_minor=form.cleaned_data.get("amount_minor"),
                reason=form.cleaned_data.get("reason", ""),
                actor=request.user,
            )
        except RefundOutcomeUnknown as error:
            self._refund_error = (error.message, messages.WARNING)
            return
        except (PaymentError, ProviderError) as error:
            text = str(getattr(error, "message", error))
            self._refund_error = (
                _("Refund refused: %(error)s") % {"error": text},
                messages.ERROR,
            )
            return
        for field in Refund._meta.concrete_fields:  # the admin logs and shows `obj`
            setattr(obj, field.attname, getattr(refund, field.attname))
        self._refund_error = None

    def response_add(self, request, obj, post_url_continue=None):
        if getattr(self, "_refund_error", None):
            text, level = self._refund_error
            self.message_user(request, text, level=level)
            return self.response_post_save_add(request, obj)
        return super().response_add(request, obj, post_url_continue)

    def save_related(self, request, form, formsets, change):
        """Nothing related to save: the service wrote every row."""


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(OrganiserScopedAdmin, admin.ModelAdmin):
    organiser_path = "organiser"
    add_roles = delete_roles = ()
    change_roles = _MONEY_ROLES
    list_display = (
        "received_at",
        "provider",
        "event_type",
        "event_id",
        "status",
        "attempts",
        "signature_valid",
        "processed_at",
    )
    list_filter = ("status", "provider", "signature_valid")
    search_fields = ("event_id", "event_type")
    readonly_fields = [field.name for field in WebhookDelivery._meta.fields]
    actions = ("retry_now",)

    @admin.action(description=_("Process again now"))
    def retry_now(self, request, queryset):
        done = sum(
            webhook_process(delivery_id=delivery.pk)
            for delivery in queryset.filter(signature_valid=True)
        )
        self.message_user(request, _("%(n)d delivery(ies) processed.") % {"n": done})


from . import admin_connect  # noqa: E402, F401  (Stripe Connect accounts)
