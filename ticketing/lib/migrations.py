"""Helpers for migrations that move models between apps.

A model moved with `SeparateDatabaseAndState` keeps its table, but its content type
still says the old app: audit entries, admin log entries and permissions point at
that row. `content_types_move` relabels it in the same migration, so they follow.
"""

from __future__ import annotations

from django.db import migrations


def content_types_move(
    models: tuple[str, ...], *, from_app: str, to_app: str
) -> migrations.RunPython:
    """A reversible operation relabelling the content types of `models` (lower-case
    model names). A type already created under the new label (a database that ran
    the new code before this migration) is left alone, with the old one."""

    def relabel(source: str, target: str):
        def run(apps, schema_editor):
            ContentType = apps.get_model("contenttypes", "ContentType")
            db = schema_editor.connection.alias
            for model in models:
                if ContentType.objects.using(db).filter(
                    app_label=target, model=model
                ).exists():
                    continue
                ContentType.objects.using(db).filter(
                    app_label=source, model=model
                ).update(app_label=target)
            from django.contrib.contenttypes.models import ContentType as Live

            Live.objects.clear_cache()

        return run

    return migrations.RunPython(
        relabel(from_app, to_app), relabel(to_app, from_app), elidable=False
    )


def outbox_rows_create(apps, *, kind: str, key_prefix: str, field: str, rows) -> int:
    """Write a pending outbox row of `kind` for each (id, organiser_id, due) of
    `rows` (work that an older loop found by status and the outbox must now carry),
    payload `{field: id}`, key `<key_prefix>:<id>`; a row already pending for a key
    is kept. Returns how many were written."""
    from django.utils import timezone

    OutboxMessage = apps.get_model("ticketing", "OutboxMessage")
    now = timezone.now()
    created = OutboxMessage.objects.bulk_create(
        [
            OutboxMessage(
                kind=kind,
                key=f"{key_prefix}:{pk}",
                payload={field: pk},
                organiser_id=organiser_id,
                next_attempt_at=max(due or now, now),
            )
            for pk, organiser_id, due in rows
        ],
        batch_size=500,
        ignore_conflicts=True,
    )
    return len(created)
