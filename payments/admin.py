"""Payments in the back office, scoped to the user's organisers.

Provider keys are write-only: the form takes a new value and never shows the stored
one. Refunds are made from the booking's page ("Refund": everything, some tickets or
an amount, with a reason) or by adding a Refund (payment, amount, reason); both go
through `refund_issue`. Amounts are typed in currency units. Payments and webhook
deliveries are read-only records.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from bookings.admin import BookingAdmin
from bookings.exceptions import BookingError
from bookings.models import Booking, Ticket
from ticketing.admin_localtime import LocalTimeAdminMixin
from ticketing.admin_scoping import (
    MANAGER,
    OWNER,
    OrganiserScopedAdmin,
    OrganiserScopedInline,
)
from ticketing.forms import MoneyField
from ticketing.lib.money import money_display

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
from .services.booking_refunds import (
    booking_refund,
    booking_refundable,
    refunds_total,
    tickets_refund_minor,
)

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
    fields = readonly_fields = ("created_at", "action", "status", "amount")

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description=_("Amount"))
    def amount(self, event):
        if event.amount_minor is None:
            return "—"
        return money_display(event.amount_minor, event.payment.currency)


class RefundInline(PaymentEventInline):
    model = Refund
    organiser_path = "organiser"
    fields = readonly_fields = (
        "created_at",
        "amount",
        "status",
        "reason",
        "provider_refund_id",
        "last_error",
    )

    @admin.display(description=_("Amount"))
    def amount(self, refund):
        return money_display(refund.amount_minor, refund.currency)


@admin.register(Payment)
class PaymentAdmin(LocalTimeAdminMixin, OrganiserScopedAdmin, admin.ModelAdmin):
    organiser_path = "organiser"
    add_roles = delete_roles = ()
    list_display = (
        "provider_reference",
        "booking",
        "provider",
        "status",
        "amount_display",
        "refunded_display",
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
        "amount_display",
        "status",
        "refunded_display",
        "destination_account",
        "application_fee_minor",
        "created_at",
        "updated_at",
        "succeeded_at",
        "raw_state",
        "failure_code",
        "failure_message",
    )
    # Amounts show formatted (amount_display...); as raw fields they would be editable.
    exclude = (
        "client_secret",
        "redirect_url",
        "amount_minor",
        "currency",
        "refunded_minor",
    )
    inlines = (RefundInline, PaymentEventInline)
    actions = ("mark_paid_offline",)

    def admin_zone(self, request, payment):
        return payment.booking.session.tzinfo

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
        return money_display(payment.amount_minor, payment.currency)

    @admin.display(description=_("Refunded"), ordering="refunded_minor")
    def refunded_display(self, payment):
        return money_display(payment.refunded_minor, payment.currency)


class RefundForm(forms.ModelForm):
    amount_minor = MoneyField(
        required=False,
        min_value=1,
        label=_("Amount"),
        help_text=_(
            "In the payment's currency, e.g. 25.00. Empty: everything not yet refunded."
        ),
    )

    class Meta:
        model = Refund
        fields = ("payment", "amount_minor", "reason")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["amount_minor"].currency = self._currency

    def _currency(self) -> str:
        payment_id = (
            self.data.get(self.add_prefix("payment")) if self.is_bound else None
        )
        if not (payment_id and str(payment_id).isdigit()):
            return ""
        return (
            Payment.objects.filter(pk=payment_id)
            .values_list("currency", flat=True)
            .first()
            or ""
        )


@admin.register(Refund)
class RefundAdmin(OrganiserScopedAdmin, admin.ModelAdmin):
    organiser_path = "organiser"
    add_roles = _MONEY_ROLES
    change_roles = delete_roles = ()
    list_display = (
        "payment",
        "amount",
        "status",
        "reason",
        "created_by",
        "created_at",
    )
    list_filter = ("status", "created_at")
    search_fields = ("payment__provider_reference", "payment__booking__reference")

    @admin.display(description=_("Amount"), ordering="amount_minor")
    def amount(self, refund):
        return money_display(refund.amount_minor, refund.currency)

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
            request._refund_error = (error.message, messages.WARNING)
            return
        except (PaymentError, ProviderError) as error:
            text = str(getattr(error, "message", error))
            request._refund_error = (
                _("Refund refused: %(error)s") % {"error": text},
                messages.ERROR,
            )
            return
        for field in Refund._meta.concrete_fields:  # the admin logs and shows `obj`
            setattr(obj, field.attname, getattr(refund, field.attname))
        request._refund_error = None

    def response_add(self, request, obj, post_url_continue=None):
        # Kept on the request: this admin object serves every request at once.
        if getattr(request, "_refund_error", None):
            text, level = request._refund_error
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


# -- "Refund" on the booking's page --------------------------------------------------


class BookingRefundForm(forms.Form):
    FULL, TICKETS, AMOUNT = "full", "tickets", "amount"

    how = forms.ChoiceField(
        label=_("Refund"),
        choices=(
            (FULL, _("Everything not yet refunded")),
            (TICKETS, _("The tickets ticked below (they are voided)")),
            (AMOUNT, _("This amount")),
        ),
        initial=FULL,
        widget=forms.RadioSelect,
    )
    tickets = forms.ModelMultipleChoiceField(
        label=_("Tickets"),
        queryset=Ticket.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    amount = MoneyField(label=_("Amount"), required=False, min_value=1)
    reason = forms.CharField(
        label=_("Reason"),
        max_length=300,
        help_text=_("Kept with the refund and in the audit log."),
    )

    def __init__(self, *args, booking: Booking, refundable_minor: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.booking = booking
        self.refundable_minor = refundable_minor
        tickets = booking.tickets.exclude(status=Ticket.Status.VOID).select_related(
            "attendee", "ticket_type"
        )
        self.fields["tickets"].queryset = tickets
        self.fields["tickets"].label_from_instance = lambda ticket: (
            f"{ticket.code} · {ticket.attendee.name} · {ticket.ticket_type.name}"
        )
        self.fields["amount"].currency = booking.currency

    def clean(self):
        cleaned = super().clean()
        how = cleaned.get("how")
        if how == self.TICKETS:
            if not cleaned.get("tickets"):
                self.add_error("tickets", _("Tick the tickets to refund."))
                return cleaned
            cleaned["amount_minor"] = tickets_refund_minor(
                self.booking, cleaned["tickets"]
            )
        elif how == self.AMOUNT:
            if cleaned.get("amount") is None:
                if "amount" not in self.errors:
                    self.add_error("amount", _("Enter the amount to refund."))
                return cleaned
            cleaned["amount_minor"] = cleaned["amount"]
        else:
            cleaned["amount_minor"] = self.refundable_minor
        amount = cleaned.get("amount_minor")
        if amount is not None and amount > self.refundable_minor:
            raise forms.ValidationError(
                _(
                    "%(amount)s is more than what is left to refund: at most "
                    "%(left)s (paid and not yet refunded)."
                )
                % {
                    "amount": money_display(amount, self.booking.currency),
                    "left": money_display(self.refundable_minor, self.booking.currency),
                },
                code="above_paid",
            )
        if amount is not None and amount <= 0:
            raise forms.ValidationError(_("Nothing is left to refund."))
        return cleaned


class BookingWithRefundsAdmin(BookingAdmin):
    """The bookings admin, with a Refund page (payments sit above bookings and add
    it here, so bookings need not know about payments)."""

    change_form_template = "admin/payments/booking_change_form.html"
    refund_roles = _MONEY_ROLES

    def get_urls(self):
        opts = self.model._meta
        return [
            path(
                "<path:object_id>/refund/",
                self.admin_site.admin_view(self.refund_view),
                name=f"{opts.app_label}_{opts.model_name}_refund",
            ),
            *super().get_urls(),
        ]

    def has_refund_permission(self, request, obj=None) -> bool:
        return self._obj_allows(request, self.refund_roles, obj)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        extra_context = {
            **(extra_context or {}),
            "can_refund": obj is not None
            and self.has_refund_permission(request, obj)
            and bool(booking_refundable(obj.pk)),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def refund_view(self, request, object_id):
        booking = self.get_object(request, unquote(object_id))
        if booking is None:  # another organiser's, or none: the same answer
            raise Http404
        if not self.has_refund_permission(request, booking):
            raise PermissionDenied
        shares = booking_refundable(booking.pk)
        left = sum(share.left_minor for share in shares)
        form = BookingRefundForm(
            request.POST or None, booking=booking, refundable_minor=left
        )
        change_url = reverse(
            f"admin:{booking._meta.app_label}_{booking._meta.model_name}_change",
            args=[booking.pk],
        )
        if request.method == "POST" and form.is_valid():
            if self._refund(request, booking, form.cleaned_data):
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Refund booking %(reference)s")
            % {"reference": booking.reference},
            "subtitle": None,
            "original": booking,
            "form": form,
            "paid": [
                (share.payment, money_display(share.left_minor, booking.currency))
                for share in shares
            ],
            "refundable": money_display(left, booking.currency),
            "change_url": change_url,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/payments/booking_refund.html", context)

    def _refund(self, request, booking, cleaned) -> bool:
        by_ticket = cleaned["how"] == BookingRefundForm.TICKETS
        tickets = (cleaned.get("tickets") or []) if by_ticket else []
        try:
            refunds = booking_refund(
                booking_id=booking.pk,
                amount_minor=cleaned["amount_minor"],
                reason=cleaned["reason"],
                actor=request.user,
                ticket_ids=[ticket.pk for ticket in tickets],
            )
        except RefundOutcomeUnknown as error:
            self.message_user(request, error.message, level=messages.WARNING)
            return True
        except (PaymentError, ProviderError) as error:
            text = str(getattr(error, "message", error))
            self.message_user(
                request,
                _("Refund refused: %(error)s") % {"error": text},
                level=messages.ERROR,
            )
            return False
        self.message_user(
            request,
            _("Refund of %(amount)s asked for; its status shows below.")
            % {"amount": refunds_total(refunds)},
        )
        return True


admin.site.unregister(Booking)
admin.site.register(Booking, BookingWithRefundsAdmin)

from . import admin_connect  # noqa: E402, F401  (Stripe Connect accounts)
