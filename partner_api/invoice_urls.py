from django.urls import path

from .endpoints import invoices as api

app_name = "invoicing-api"

urlpatterns = [
    path(
        "bookings/<str:reference>/invoice/",
        api.BookingInvoiceApi.as_view(),
        name="booking-invoice",
    ),
    path(
        "bookings/<str:reference>/invoice/pdf/",
        api.BookingInvoicePdfApi.as_view(),
        name="booking-invoice-pdf",
    ),
]
