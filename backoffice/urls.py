from django.contrib import admin
from django.urls import path

from . import views

app_name = "backoffice"

urlpatterns = [
    path(
        "export/<slug:kind>/",
        admin.site.admin_view(views.list_export),
        name="list-export",
    ),
    path(
        "door-list/<int:session_id>/",
        admin.site.admin_view(views.door_list),
        name="door-list",
    ),
    path("<slug:kind>/", admin.site.admin_view(views.report_view), name="report"),
]
