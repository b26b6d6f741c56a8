"""`python manage.py seed_demo`: a demo worth looking at, and the logins to look at it.

With DEBUG on (the demo), the logins have fixed, printed passwords and the partner API
key is fixed. With DEBUG off there are no default credentials: every password and the
API key are drawn at random on each run and printed once, and `--no-input` is needed
to confirm that this is meant (it writes a superuser into that database).
Lives in `partner_api`, the highest app it needs: the catalogue comes from
`events.demo`, the sales from `integrations.demo` and the API key from
`partner_api.demo`.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from events.demo import DemoCatalogue, Login
from integrations.demo import seed_sales
from partner_api.demo import demo_api_key

DEMO_PASSWORDS = {
    "admin": "admin",
    "paris-manager": "paris-demo-2026",
    "lagos-manager": "lagos-demo-2026",
    "paris-door": "door-demo-2026",
}


class Command(BaseCommand):
    help = (
        "Create (or refresh) the demo: two organisers with events, sessions and ticket "
        "types, bookings on every channel, external platform sales, a superuser, "
        "managers, door staff and a partner API key."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-input",
            action="store_true",
            help="With DEBUG off: confirm that a demo with random logins is meant.",
        )

    def handle(self, *args, **options):
        demo = settings.DEBUG
        if not demo and not options["no_input"]:
            raise CommandError(
                "DEBUG is off: seed_demo would write a superuser into this database. "
                "It refuses to use demo passwords there; run it with --no-input to "
                "create the demo with random passwords, printed once."
            )
        passwords = (
            DEMO_PASSWORDS
            if demo
            else {name: secrets.token_urlsafe(18) for name in DEMO_PASSWORDS}
        )
        builder = DemoCatalogue(passwords)
        with transaction.atomic():
            catalogue, logins = builder.build()
            api_key = demo_api_key(catalogue.paris, secret=None if demo else "")
        sales = seed_sales(catalogue)
        self._report(logins, api_key, sales, demo)

    def _report(self, logins: list[Login], api_key: str, sales, demo: bool) -> None:
        site = settings.SITE_URL
        write = self.stdout.write
        write(self.style.SUCCESS(
            f"Demo data ready: {sales.bookings} bookings, {sales.external_orders} "
            f"external orders, {sales.checked_in} tickets checked in."
        ))
        write(f"  Shop:      {site}/")
        write(f"  Admin:     {site}/admin/")
        write(f"  Check-in:  {site}/checkin/")
        write(f"  API docs:  {site}/api/docs/")
        write("Logins (username / password):")
        width = max(len(login.username) for login in logins)
        for login in logins:
            write(f"  {login.username:<{width}}  /  {login.password:<24}  {login.role}")
        write(f"Partner API key (Paris Masterclass): {api_key}")
        write(f"  curl -H 'Authorization: Bearer {api_key}' {site}/api/v1/events/")
        if not demo:
            write(self.style.WARNING(
                "DEBUG is off: these passwords and this key are shown once. Change "
                "or remove these users before going live."
            ))
