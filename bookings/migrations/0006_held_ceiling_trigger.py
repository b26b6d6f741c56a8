"""Keep `events_session.held_ceiling` at or above the seats its unexpired holds take.

A trigger rather than the selling service: then no writer of pending bookings (a
service, a data migration, a test factory, a hand-run UPDATE) can slip a hold past the
ceiling, and a sale that trusts the ceiling can never oversell. It only ever raises the
ceiling; `bookings.locks` lowers it to the exact count under the session lock.

PostgreSQL only: the SQLite demo has no row locks, and its sales always count.
"""

from django.db import migrations

CREATE = [
    """
CREATE FUNCTION bookings_hold_raises_held_ceiling() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Raising too often is harmless (the next exact count lowers it); missing one
    -- hold could sell its seats twice, so any change that may add held seats raises.
    IF NEW.status = 'pending' AND (
        TG_OP = 'INSERT'
        OR OLD.status <> 'pending'
        OR OLD.session_id <> NEW.session_id
        OR NEW.quantity > OLD.quantity
        OR NEW.expires_at > OLD.expires_at
        OR OLD.expires_at IS NULL
    ) THEN
        UPDATE events_session SET held_ceiling = held_ceiling + NEW.quantity
        WHERE id = NEW.session_id;
    END IF;
    RETURN NULL;
END
$$
""",
    """
CREATE TRIGGER booking_hold_raises_held_ceiling
AFTER INSERT OR UPDATE OF status, session_id, quantity, expires_at
ON bookings_booking
FOR EACH ROW EXECUTE FUNCTION bookings_hold_raises_held_ceiling()
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
    "DROP TRIGGER IF EXISTS booking_hold_raises_held_ceiling ON bookings_booking",
    "DROP FUNCTION IF EXISTS bookings_hold_raises_held_ceiling()",
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
