from django.urls import path

from . import views

app_name = "shop"

urlpatterns = [
    path("", views.event_list, name="event-list"),
    path("e/<slug:slug>/", views.event_detail, name="event-detail"),
]
