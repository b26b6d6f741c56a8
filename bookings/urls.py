from django.urls import path

from . import checkout_views, views

app_name = "shop"

urlpatterns = [
    path("", views.event_list, name="event-list"),
    path("e/<slug:slug>/", views.event_detail, name="event-detail"),
    path("e/<slug:slug>/checkout/", checkout_views.checkout, name="checkout"),
    path("b/lookup/", checkout_views.booking_lookup, name="booking-lookup"),
]
