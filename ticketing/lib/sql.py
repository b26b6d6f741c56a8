"""Model instances from one hand-written SELECT that joins several tables.

For the few statements on the hottest paths (the session lock of every sale), where
building the query through the ORM costs more CPU than running it: `QuerySet.raw()`
gives one model per row, this gives a tuple of models per row, each column passed
through the same converters the ORM would apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from django.db import connections
from django.db.models import Model


@cache
def columns(model: type[Model], alias: str) -> str:
    """`alias."col", ...` for each concrete field, in the order select_models reads."""
    return ", ".join(
        f'{alias}."{field.column}"' for field in model._meta.concrete_fields
    )


@cache
def _layout(model: type[Model], using: str):
    """Field attnames, and for each column that has them, the converters to apply."""
    connection = connections[using]
    fields = model._meta.concrete_fields
    converters = []
    for index, field in enumerate(fields):
        column = field.get_col(model._meta.db_table)
        chain = connection.ops.get_db_converters(column) + field.get_db_converters(
            connection
        )
        if chain:
            converters.append((index, column, chain))
    return [field.attname for field in fields], converters


def select_models(
    sql: str,
    params: Sequence,
    models: Sequence[type[Model]],
    *,
    using: str = "default",
) -> list[tuple]:
    """Run `sql`, whose select list is `columns(model, alias)` of each of `models`
    in turn, then any extra columns, and build one instance of each model per row.
    Each result is the instances followed by the extra values, as they came."""
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    result = []
    for row in rows:
        instances = []
        start = 0
        for model in models:
            attnames, converters = _layout(model, using)
            values = list(row[start : start + len(attnames)])
            start += len(attnames)
            for index, column, chain in converters:
                for converter in chain:
                    values[index] = converter(values[index], column, connection)
            instances.append(model.from_db(using, attnames, values))
        result.append((*instances, *row[start:]))
    return result
