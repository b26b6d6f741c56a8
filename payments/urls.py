from django.urls import path

from . import pages, views

app_name = "payments"

urlpatterns = [
    path("webhooks/stripe/", views.stripe_webhook, name="stripe-webhook"),
    path(
        "webhooks/stripe/connect/",
        views.stripe_connect_webhook,
        name="stripe-connect-webhook",
    ),
    path("webhooks/paystack/", views.paystack_webhook, name="paystack-webhook"),
    path("payments/paystack/return/", views.paystack_return, name="paystack-return"),
    path("b/<str:reference>/", pages.booking_page, name="booking"),
    path(
        "b/<str:reference>/pay/paystack/",
        pages.booking_pay_paystack,
        name="booking-pay-paystack",
    ),
    path(
        "b/<str:reference>/pay/offline/",
        pages.booking_pay_offline,
        name="booking-pay-offline",
    ),
    path(
        "b/<str:reference>/cancel/",
        pages.booking_cancel_by_buyer,
        name="booking-cancel",
    ),
]
