-- The same hold as bookings.services.booking_create, written as plain SQL for pgbench:
-- lock the session, share-lock its ticket type, then write the booking, its line, its
-- attendee and its audit row in one statement (the trigger of migration bookings/0006
-- raises the session's held_ceiling), and commit. The bench sessions are far from
-- full, so, like the service, it does not sum the holds: the ceiling leaves room.
-- Variables (pgbench -D): session_id, ticket_type_id, organiser_id, event_id, content_type_id.
BEGIN;
SET LOCAL lock_timeout = '3000ms';
SELECT s.capacity, s.sold_count, s.external_sold_count, s.held_ceiling, e.status,
       o.reference_prefix
  FROM events_session s
  JOIN events_event e ON e.id = s.event_id
  JOIN events_organiser o ON o.id = e.organiser_id
 WHERE s.id = :session_id
   FOR NO KEY UPDATE OF s;
SELECT * FROM events_tickettype WHERE id = ANY(ARRAY[:ticket_type_id]) ORDER BY id FOR SHARE;
WITH new_booking AS (
    INSERT INTO bookings_booking (
        organiser_id, event_id, session_id, reference, status, channel, quantity,
        currency, subtotal_minor, discount_minor, total_minor, buyer_name,
        buyer_email, buyer_phone, idempotency_key, needs_attention, expires_at,
        created_at, confirmed_at, language, is_complimentary)
    VALUES (:organiser_id, :event_id, :session_id,
            'PGB-' || substr(md5(random()::text), 1, 12), 'pending', 'web', 1, 'EUR',
            4500, 0, 4500, 'Bench Buyer', 'buyer@example.org', '', NULL, false,
            now() + interval '15 minutes', now(), NULL, 'en', false)
    RETURNING id
), new_line AS (
    INSERT INTO bookings_bookingline (booking_id, ticket_type_id, quantity,
        unit_price_minor, subtotal_minor, discount_minor, total_minor, price_rule)
    SELECT id, :ticket_type_id, 1, 4500, 4500, 0, 4500, 'regular' FROM new_booking
    RETURNING id
), new_attendee AS (
    INSERT INTO bookings_attendee (booking_id, line_id, name, email)
    SELECT new_booking.id, new_line.id, 'Guest', '' FROM new_booking, new_line
), new_audit AS (
    INSERT INTO ticketing_auditentry (organiser_id, actor_id, actor_label, action,
        content_type_id, object_id, data, created_at)
    SELECT :organiser_id, NULL, 'system', 'bookings.booking.held', :content_type_id,
           id::text, '{}'::jsonb, now() FROM new_booking
)
SELECT id FROM new_booking;
COMMIT;
