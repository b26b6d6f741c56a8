-- bench/pg/hold.sql's hold as one call of bench_hold_once (bench/pg/hold_function.sql):
-- one statement, so one round trip, and autocommit ends it. Variables as hold.sql's.
SELECT bench_hold_once(:session_id, :ticket_type_id, :organiser_id, :event_id, :content_type_id);
