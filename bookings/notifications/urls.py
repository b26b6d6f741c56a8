"""Provider callbacks for notifications (delivery status)."""

app_name = "notifications"

urlpatterns: list = []
