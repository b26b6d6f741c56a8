from django.urls import path

from . import views

app_name = "xero"

urlpatterns = [
    path("webhooks/xero/", views.xero_webhook, name="webhook"),
]
