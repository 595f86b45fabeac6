-- A write plan applied in one statement (src/store/postgres/apply.rs builds its JSON), so a
-- webhook costs two round trips to the database (its lookup and this) instead of a dozen.
-- Every write is conditional on what the plan was decided from, as before: a row's `rev`,
-- or an insert that must be the first. When one finds nothing to change, the whole plan is
-- undone by raising SQLSTATE 40001, which Ringback reads as a conflict (decide again); the
-- one-pending-callback-per-customer index raises 23505, read the same way.
--
-- Times arrive as RFC 3339 text with microseconds; `body` as base64.
CREATE FUNCTION ringback_apply(p jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    c jsonb;
    item jsonb;
    touched bigint;
    pending_now text;
BEGIN
    -- The customer's row first: plans about one customer queue on its lock.
    c := p->'customer';
    IF c IS NOT NULL THEN
        IF (c->>'rev')::bigint = 0 THEN
            INSERT INTO customers (number, last_answered_at, rev)
            VALUES (c->>'number', (c->>'last_answered_at')::timestamptz, 1)
            ON CONFLICT (number) DO NOTHING;
        ELSE
            UPDATE customers SET rev = rev + 1,
                last_answered_at = COALESCE((c->>'last_answered_at')::timestamptz, last_answered_at)
            WHERE number = c->>'number' AND rev = (c->>'rev')::bigint;
        END IF;
        GET DIAGNOSTICS touched = ROW_COUNT;
        IF touched <> 1 THEN
            RAISE EXCEPTION 'ringback: the customer changed' USING ERRCODE = '40001';
        END IF;
        -- With the customer's row locked, their pending callback is the one decided from.
        SELECT id INTO pending_now FROM callbacks WHERE customer = c->>'number' AND pending;
        IF pending_now IS DISTINCT FROM (c->>'pending') THEN
            RAISE EXCEPTION 'ringback: the pending callback changed' USING ERRCODE = '40001';
        END IF;
    END IF;

    c := p->'call';
    IF c IS NOT NULL THEN
        IF c->'rev' IS NULL THEN
            INSERT INTO calls (call_id, newest_event, rev, data)
            VALUES (c->>'call_id', c->>'newest', 1, c->'data')
            ON CONFLICT (call_id) DO NOTHING;
        ELSE
            UPDATE calls SET newest_event = c->>'newest', data = c->'data', rev = rev + 1
            WHERE call_id = c->>'call_id' AND rev = (c->>'rev')::bigint;
        END IF;
        GET DIAGNOSTICS touched = ROW_COUNT;
        IF touched <> 1 THEN
            RAISE EXCEPTION 'ringback: the call changed' USING ERRCODE = '40001';
        END IF;
    END IF;

    c := p->'dedup';
    IF c IS NOT NULL THEN
        INSERT INTO event_dedup (trigger, call_id, leg, event_id)
        VALUES (c->>'trigger', c->>'call_id', c->>'leg', c->>'event_id')
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS touched = ROW_COUNT;
        IF touched <> 1 THEN
            RAISE EXCEPTION 'ringback: the event was stored meanwhile' USING ERRCODE = '40001';
        END IF;
    END IF;

    FOR item IN SELECT * FROM jsonb_array_elements(COALESCE(p->'callbacks', '[]'::jsonb)) LOOP
        IF item->'rev' IS NULL THEN
            INSERT INTO callbacks (id, customer, pending, first_missed_at, resolved_at, next_wake, rev, data)
            VALUES (item->>'id', item->>'customer', (item->>'pending')::boolean,
                    (item->>'first_missed_at')::timestamptz, (item->>'resolved_at')::timestamptz,
                    (item->>'next_wake')::timestamptz, 1, item->'data')
            ON CONFLICT (id) DO NOTHING;
        ELSE
            UPDATE callbacks SET customer = item->>'customer', pending = (item->>'pending')::boolean,
                first_missed_at = (item->>'first_missed_at')::timestamptz,
                resolved_at = (item->>'resolved_at')::timestamptz,
                next_wake = (item->>'next_wake')::timestamptz, data = item->'data', rev = rev + 1
            WHERE id = item->>'id' AND rev = (item->>'rev')::bigint;
        END IF;
        GET DIAGNOSTICS touched = ROW_COUNT;
        IF touched <> 1 THEN
            RAISE EXCEPTION 'ringback: the callback changed' USING ERRCODE = '40001';
        END IF;
        IF item->'timeline' IS NOT NULL THEN
            INSERT INTO timeline (callback_id, entries) VALUES (item->>'id', item->'timeline');
        END IF;
    END LOOP;

    INSERT INTO outbox (id, takeable_at, next_attempt_at, rev, data)
    SELECT d->>'id', (d->>'at')::timestamptz, (d->>'at')::timestamptz, 1, d->'data'
    FROM jsonb_array_elements(COALESCE(p->'deliveries', '[]'::jsonb)) AS d;

    c := p->'settle';
    IF c IS NOT NULL THEN
        IF c->'keep' IS NULL THEN
            DELETE FROM outbox WHERE id = c->>'id' AND rev = (c->>'rev')::bigint;
        ELSE
            UPDATE outbox SET takeable_at = (c->'keep'->>'at')::timestamptz,
                next_attempt_at = (c->'keep'->>'at')::timestamptz,
                lease_owner = NULL, lease_until = NULL, data = c->'keep'->'data', rev = rev + 1
            WHERE id = c->>'id' AND rev = (c->>'rev')::bigint;
        END IF;
        GET DIAGNOSTICS touched = ROW_COUNT;
        IF touched <> 1 THEN
            RAISE EXCEPTION 'ringback: the delivery changed' USING ERRCODE = '40001';
        END IF;
    END IF;

    c := p->'event';
    IF c IS NOT NULL THEN
        INSERT INTO events (id, received_at, record, body)
        VALUES (c->>'id', (c->>'received_at')::timestamptz, c->'record', decode(c->>'body', 'base64'));
    END IF;

    c := p->'digest';
    IF c IS NOT NULL THEN
        INSERT INTO digests (schedule, occurrence, claim)
        VALUES (c->>'schedule', (c->>'occurrence')::timestamptz, c->'claim')
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS touched = ROW_COUNT;
        IF touched <> 1 THEN
            RAISE EXCEPTION 'ringback: the digest was claimed meanwhile' USING ERRCODE = '40001';
        END IF;
    END IF;
END
$$;
