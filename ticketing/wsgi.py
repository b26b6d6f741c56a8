import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings")

application = get_wsgi_application()

# Web requests get statement and lock timeouts; workers and commands do not.
from ticketing.db import web_timeouts_enable  # noqa: E402

web_timeouts_enable()
