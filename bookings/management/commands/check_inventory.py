from django.core.management.base import BaseCommand

from bookings.services.inventory import inventory_check


class Command(BaseCommand):
    help = (
        "Recompute each session's sold counter from its confirmed bookings, check "
        "its held ceiling against its unexpired holds, and print any drift; --fix "
        "corrects it under the session lock."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--fix", action="store_true", help="reset drifting counters (audited)"
        )
        parser.add_argument(
            "--session",
            type=int,
            action="append",
            dest="sessions",
            help="only this session id (repeatable)",
        )

    def handle(self, *args, fix: bool, sessions, **options):
        drifts = inventory_check(fix=fix, session_ids=sessions, actor="check_inventory")
        if not drifts:
            self.stdout.write(
                self.style.SUCCESS(
                    "No drift: every sold counter matches its confirmed bookings "
                    "and no held ceiling is below its holds."
                )
            )
            return
        for drift in drifts:
            state = "fixed" if drift.fixed else "not fixed"
            self.stdout.write(
                f"session {drift.session_id} ({drift.label}): {drift.counter} "
                f"{drift.counted}, "
                f"bookings say {drift.recomputed} ({drift.difference:+d}), {state}"
            )
        if not fix:
            self.stdout.write(
                self.style.WARNING(
                    f"{len(drifts)} session(s) drift; run with --fix to correct them."
                )
            )
            raise SystemExit(1)
