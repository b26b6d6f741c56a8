"""Forget cached platform figures, so that the next sync fetches them again.

python manage.py sync_cache_clear --listing 12 --listing 13
python manage.py sync_cache_clear --platform billetweb
python manage.py sync_cache_clear --all
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from integrations.models import Listing, Platform
from integrations.services import cache as listing_cache


class Command(BaseCommand):
    help = "Forget cached platform figures (per listing, per platform, or all)."

    def add_arguments(self, parser):
        parser.add_argument("--listing", type=int, action="append", default=[])
        parser.add_argument("--platform", choices=Platform.values, action="append")
        parser.add_argument("--all", action="store_true")

    def handle(self, *args, listing, platform, all, **options):
        if not (listing or platform or all):
            raise CommandError(
                "Say what to forget: --listing ID, --platform P or --all"
            )
        if all:
            listing_cache.all_invalidate()
            self.stdout.write("Forgot the cached figures of every listing.")
            return
        for name in platform or ():
            listing_cache.platform_invalidate(name)
            self.stdout.write(f"Forgot the cached figures of {name}.")
        found = Listing.objects.filter(pk__in=listing).select_related("connection")
        missing = set(listing) - {item.pk for item in found}
        for item in found:
            listing_cache.listing_invalidate(item.connection.platform, item.pk)
            self.stdout.write(f"Forgot the cached figures of listing {item.pk}.")
        if missing:
            raise CommandError(f"No listing with id {sorted(missing)}")
