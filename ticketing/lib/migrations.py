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
