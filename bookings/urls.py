from django.urls import path

from . import checkin_views, checkout_views, views

app_name = "shop"

urlpatterns = [
    path("", views.event_list, name="event-list"),
    path("e/<slug:slug>/", views.event_detail, name="event-detail"),
    path("e/<slug:slug>/checkout/", checkout_views.checkout, name="checkout"),
    path("b/lookup/", checkout_views.booking_lookup, name="booking-lookup"),
    path("checkin/", checkin_views.checkin, name="checkin"),
    path("checkin/undo/", checkin_views.checkin_undo, name="checkin-undo"),
]
