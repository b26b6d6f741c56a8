from django.contrib import admin
from django.urls import path

from . import views
from .invoice_export import invoice_list_export

app_name = "backoffice"

urlpatterns = [
    path(
        "export/<slug:kind>/",
        admin.site.admin_view(views.list_export),
        name="list-export",
    ),
    path(
        "invoices/export/",
        admin.site.admin_view(invoice_list_export),
        name="invoice-export",
    ),
    path(
        "door-list/<int:session_id>/",
        admin.site.admin_view(views.door_list),
        name="door-list",
    ),
    path("<slug:kind>/", admin.site.admin_view(views.report_view), name="report"),
]
