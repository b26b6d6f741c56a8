-- bench/pg/hold.sql's hold as one server-side function: the same statements, run
-- inside PostgreSQL, so the session row is locked only while they execute (no client
-- round trip inside the lock). Not used by the product: it measures what moving the
-- sale into one statement would buy (bench/README.md, "Holds").
CREATE OR REPLACE FUNCTION bench_hold_once(
    p_session bigint, p_ticket_type bigint, p_organiser bigint, p_event bigint,
    p_content_type integer
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    locked record;
    booking_id bigint;
BEGIN
    PERFORM set_config('lock_timeout', '3000ms', true);
    SELECT s.capacity, s.sold_count, s.external_sold_count, s.held_ceiling, e.status,
           o.reference_prefix
      INTO locked
      FROM events_session s
      JOIN events_event e ON e.id = s.event_id
      JOIN events_organiser o ON o.id = e.organiser_id
     WHERE s.id = p_session
       FOR NO KEY UPDATE OF s;
    PERFORM 1 FROM events_tickettype WHERE id = p_ticket_type FOR SHARE;
    IF locked.capacity - locked.sold_count - locked.external_sold_count
       - locked.held_ceiling < 1 THEN
        RETURN NULL;
    END IF;
    WITH new_booking AS (
        INSERT INTO bookings_booking (
            organiser_id, event_id, session_id, reference, status, channel, quantity,
            currency, subtotal_minor, discount_minor, total_minor, buyer_name,
            buyer_email, buyer_phone, idempotency_key, needs_attention, expires_at,
            created_at, confirmed_at, language, is_complimentary)
        VALUES (p_organiser, p_event, p_session,
                'PGF-' || substr(md5(random()::text), 1, 12), 'pending', 'web', 1,
                'EUR', 4500, 0, 4500, 'Bench Buyer', 'buyer@example.org', '', NULL,
                false, now() + interval '15 minutes', now(), NULL, 'en', false)
        RETURNING id
    ), new_line AS (
        INSERT INTO bookings_bookingline (booking_id, ticket_type_id, quantity,
            unit_price_minor, subtotal_minor, discount_minor, total_minor, price_rule)
        SELECT id, p_ticket_type, 1, 4500, 4500, 0, 4500, 'regular' FROM new_booking
        RETURNING id
    ), new_attendee AS (
        INSERT INTO bookings_attendee (booking_id, line_id, name, email)
        SELECT new_booking.id, new_line.id, 'Guest', '' FROM new_booking, new_line
    ), new_audit AS (
        INSERT INTO ticketing_auditentry (organiser_id, actor_id, actor_label, action,
            content_type_id, object_id, data, created_at)
        SELECT p_organiser, NULL, 'system', 'bookings.booking.held', p_content_type,
               id::text, '{}'::jsonb, now() FROM new_booking
    )
    SELECT id INTO booking_id FROM new_booking;
    RETURN booking_id;
END
$$;
