"""Keep `events_session.held_ceiling` at or above the seats its unexpired holds take.

A trigger rather than the selling service: then no writer of pending bookings (a
service, a data migration, a test factory, a hand-run UPDATE) can slip a hold past the
ceiling, and a sale that trusts the ceiling can never oversell. It only ever raises the
ceiling; `bookings.locks` lowers it to the exact count under the session lock.

PostgreSQL only: the SQLite demo has no row locks, and its sales always count.
"""

from django.db import migrations

# Statement-level triggers over transition tables: one UPDATE per session per
# statement. A row-level trigger updated the session once per row, and a bulk insert
# of holds in one transaction got slower with every row (20,000 rows took 5 s).
CREATE = [
    """
CREATE FUNCTION bookings_holds_raise_held_ceiling() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Raising too often is harmless (the next exact count lowers it); missing one
    -- hold could sell its seats twice, so any change that may add held seats raises.
    IF TG_OP = 'INSERT' THEN
        UPDATE events_session s SET held_ceiling = s.held_ceiling + added.seats
        FROM (
            SELECT session_id, SUM(quantity) AS seats FROM new_rows
            WHERE status = 'pending' GROUP BY session_id
        ) added
        WHERE s.id = added.session_id;
    ELSE
        UPDATE events_session s SET held_ceiling = s.held_ceiling + added.seats
        FROM (
            SELECT n.session_id, SUM(n.quantity) AS seats
            FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE n.status = 'pending' AND (
                o.status <> 'pending'
                OR o.session_id <> n.session_id
                OR n.quantity > o.quantity
                OR n.expires_at > o.expires_at
                OR o.expires_at IS NULL
            )
            GROUP BY n.session_id
        ) added
        WHERE s.id = added.session_id;
    END IF;
    RETURN NULL;
END
$$
""",
    """
CREATE TRIGGER bookings_inserted_raise_held_ceiling
AFTER INSERT ON bookings_booking REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION bookings_holds_raise_held_ceiling()
""",
    """
CREATE TRIGGER bookings_updated_raise_held_ceiling
AFTER UPDATE ON bookings_booking
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION bookings_holds_raise_held_ceiling()
""",
]

# Holds made before the trigger existed: counted while inserts wait, so that none is
# neither counted here nor seen by the trigger.
BACKFILL = [
    "LOCK TABLE bookings_booking IN SHARE ROW EXCLUSIVE MODE",
    """
UPDATE events_session s SET held_ceiling = held.seats
FROM (
    SELECT session_id, SUM(quantity) AS seats FROM bookings_booking
    WHERE status = 'pending' AND expires_at > now()
    GROUP BY session_id
) held
WHERE held.session_id = s.id
""",
]

DROP = [
    "DROP TRIGGER IF EXISTS bookings_inserted_raise_held_ceiling ON bookings_booking",
    "DROP TRIGGER IF EXISTS bookings_updated_raise_held_ceiling ON bookings_booking",
    "DROP FUNCTION IF EXISTS bookings_holds_raise_held_ceiling()",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("bookings", "0005_held_seats_covering_index"),
        ("events", "0006_session_held_ceiling"),
    ]

    operations = [migrations.RunPython(_run(CREATE + BACKFILL), _run(DROP))]
