from django.urls import path

from . import checkout_views, lookup, views

app_name = "shop"

urlpatterns = [
    path("", views.event_list, name="event-list"),
    path("e/<slug:slug>/", views.event_detail, name="event-detail"),
    path("e/<slug:slug>/checkout/", checkout_views.checkout, name="checkout"),
    path("b/lookup/", lookup.booking_lookup, name="booking-lookup"),
]
