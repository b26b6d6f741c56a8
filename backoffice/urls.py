from django.contrib import admin
from django.urls import path

from . import views

app_name = "backoffice"

urlpatterns = [
    path("<slug:kind>/", admin.site.admin_view(views.report_view), name="report"),
]
