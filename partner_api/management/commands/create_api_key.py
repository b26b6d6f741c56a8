from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from events.models import Organiser
from partner_api.api_keys import SCOPES, ApiKey
from ticketing.audit import audit_log


class Command(BaseCommand):
    help = (
        "Create a partner API key for an organiser. The key is printed once, alone "
        "on the last line, and never stored in clear."
    )

    def add_arguments(self, parser):
        parser.add_argument("organiser", help="the organiser's slug")
        parser.add_argument(
            "--scopes",
            default="read",
            help=f"comma-separated, among {', '.join(SCOPES)}",
        )
        parser.add_argument("--name", default="", help="a name to recognise the key")

    def handle(self, *args, organiser: str, scopes: str, name: str, **options):
        try:
            owner = Organiser.objects.get(slug=organiser)
        except Organiser.DoesNotExist:
            raise CommandError(f"No organiser with slug {organiser!r}.") from None
        wanted = [scope.strip() for scope in scopes.split(",") if scope.strip()]
        unknown = sorted(set(wanted) - set(SCOPES))
        if unknown or not wanted:
            raise CommandError(
                f"Scopes must be among {', '.join(SCOPES)}; "
                f"got {', '.join(unknown) or 'none'}."
            )
        with transaction.atomic():
            key, plain = ApiKey.generate(
                organiser=owner, name=name or "command line", scopes=wanted
            )
            key.save()
            audit_log(
                action="events.api_key.created",
                obj=key,
                organiser_id=owner.pk,
                actor="create_api_key",
                data={"name": key.name, "scopes": key.scopes, "prefix": key.prefix},
            )
        self.stderr.write(
            f"Created key {key.prefix} for {owner.slug} with scopes "
            f"{', '.join(key.scopes)}. It is shown once:"
        )
        self.stdout.write(plain)
