-- A batch of write plans as sets (src/store/postgres/columns.rs lays them out): each kind of
-- row arrives as parallel arrays, one element per row, and is written by one statement for
-- the whole batch, instead of `ringback_apply` running some eight statements per plan, each
-- plan in its own subtransaction. Profiled at 32 concurrent webhooks on one replica, the
-- per-plan way spent its database time starting statements and parsing the batch's JSON.
--
-- Every write is conditional exactly as in `ringback_apply` (0003): a row's `rev`, or an
-- insert that must be the first. Here the check is a count: each statement must change as
-- many rows as the batch has of that kind. When one does not (a revision moved, two plans in
-- the batch about the same row, an index refusing a second pending callback), the whole batch
-- is undone — SQLSTATE 40001 or the index's 23505 — and Ringback applies its plans again one
-- by one with `ringback_apply_many`, which tells which of them conflicted. Conflicts are rare
-- (two decisions about one customer in the same instant), so the common batch pays for no
-- subtransaction at all.
--
-- Arrays of one kind have one length; absent values are NULL elements.
--
-- Planning: the function's statements are planned once per connection (a generic plan),
-- when the tables may be empty, and an array's length is unknown then; left to itself the
-- planner chose to read all of `customers` and `callbacks` and hash-join them with the
-- arrays, and kept that plan as the tables grew (measured: a sequential scan of each per
-- batch, 0.57 x the throughput of the per-plan function). A batch is a few dozen rows
-- found by key, so the function plans as a key lookup per row: index scans in nested loops.
CREATE FUNCTION ringback_apply_batch(
    cu_number text[], cu_rev bigint[], cu_last timestamptz[], cu_pending text[],
    ca_id text[], ca_newest text[], ca_rev bigint[], ca_data jsonb[],
    dd_trigger text[], dd_call text[], dd_leg text[], dd_event text[],
    cb_id text[], cb_customer text[], cb_pending boolean[], cb_first timestamptz[],
    cb_resolved timestamptz[], cb_wake timestamptz[], cb_rev bigint[], cb_data jsonb[],
    cb_timeline jsonb[],
    ou_id text[], ou_at timestamptz[], ou_data jsonb[],
    se_id text[], se_rev bigint[], se_keep boolean[], se_at timestamptz[], se_data jsonb[],
    ev_id text[], ev_at timestamptz[], ev_record jsonb[], ev_body bytea[],
    dg_schedule text[], dg_occurrence timestamptz[], dg_claim jsonb[]
) RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off
AS $$
DECLARE
    -- How many rows of a kind are new (to insert) and how many the batch has: counted with
    -- array functions, which cost nothing like a statement does, so that a statement runs
    -- only when the batch has rows for it (a batch of a few plans is the common one, and
    -- with two replicas the batches are smaller still).
    fresh int;
    n int;
    touched bigint := 0;
    more bigint := 0;
BEGIN
    n := cardinality(cu_number);
    IF n > 0 THEN
        fresh := cardinality(array_positions(cu_rev, 0::bigint));
        IF n - fresh > 1 THEN
            -- The customers' rows first, locked in one order (by number), so that two
            -- batches about the same customers queue instead of deadlocking; plans about one
            -- customer queue on its row, as with `ringback_apply`.
            PERFORM 1 FROM customers WHERE number = ANY (cu_number) ORDER BY number FOR UPDATE;
        END IF;
        IF n > fresh THEN
            UPDATE customers u SET rev = u.rev + 1, last_answered_at = COALESCE(x.last, u.last_answered_at)
            FROM unnest(cu_number, cu_rev, cu_last) AS x(number, rev, last)
            WHERE x.rev <> 0 AND u.number = x.number AND u.rev = x.rev;
            GET DIAGNOSTICS touched = ROW_COUNT;
        END IF;
        IF fresh > 0 THEN
            INSERT INTO customers (number, last_answered_at, rev)
            SELECT x.number, x.last, 1 FROM unnest(cu_number, cu_rev, cu_last) AS x(number, rev, last)
            WHERE x.rev = 0 ORDER BY x.number
            ON CONFLICT (number) DO NOTHING;
            GET DIAGNOSTICS more = ROW_COUNT;
        END IF;
        IF touched + more <> n THEN
            RAISE EXCEPTION 'ringback: a customer changed' USING ERRCODE = '40001';
        END IF;
        -- With their rows locked, each customer's pending callback is the one decided from.
        IF EXISTS (
            SELECT 1 FROM unnest(cu_number, cu_pending) AS x(number, pending)
            WHERE (SELECT b.id FROM callbacks b WHERE b.customer = x.number AND b.pending)
                  IS DISTINCT FROM x.pending
        ) THEN
            RAISE EXCEPTION 'ringback: a pending callback changed' USING ERRCODE = '40001';
        END IF;
    END IF;

    n := cardinality(ca_id);
    IF n > 0 THEN
        fresh := cardinality(array_positions(ca_rev, NULL));
        touched := 0;
        more := 0;
        IF n > fresh THEN
            UPDATE calls c SET newest_event = x.newest, data = x.data, rev = c.rev + 1
            FROM unnest(ca_id, ca_newest, ca_rev, ca_data) AS x(id, newest, rev, data)
            WHERE x.rev IS NOT NULL AND c.call_id = x.id AND c.rev = x.rev;
            GET DIAGNOSTICS touched = ROW_COUNT;
        END IF;
        IF fresh > 0 THEN
            INSERT INTO calls (call_id, newest_event, rev, data)
            SELECT x.id, x.newest, 1, x.data
            FROM unnest(ca_id, ca_newest, ca_rev, ca_data) AS x(id, newest, rev, data)
            WHERE x.rev IS NULL
            ON CONFLICT (call_id) DO NOTHING;
            GET DIAGNOSTICS more = ROW_COUNT;
        END IF;
        IF touched + more <> n THEN
            RAISE EXCEPTION 'ringback: a call changed' USING ERRCODE = '40001';
        END IF;
    END IF;

    IF cardinality(dd_trigger) > 0 THEN
        INSERT INTO event_dedup (trigger, call_id, leg, event_id)
        SELECT * FROM unnest(dd_trigger, dd_call, dd_leg, dd_event)
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS touched = ROW_COUNT;
        IF touched <> cardinality(dd_trigger) THEN
            RAISE EXCEPTION 'ringback: an event was stored meanwhile' USING ERRCODE = '40001';
        END IF;
    END IF;

    n := cardinality(cb_id);
    IF n > 0 THEN
        fresh := cardinality(array_positions(cb_rev, NULL));
        touched := 0;
        more := 0;
        -- Updates before inserts: a callback resolved frees its customer's one pending slot
        -- before a new one takes it.
        IF n > fresh THEN
            UPDATE callbacks b SET customer = x.customer, pending = x.pending,
                first_missed_at = x.first, resolved_at = x.resolved, next_wake = x.wake,
                data = x.data, rev = b.rev + 1
            FROM unnest(cb_id, cb_customer, cb_pending, cb_first, cb_resolved, cb_wake, cb_rev, cb_data)
                AS x(id, customer, pending, first, resolved, wake, rev, data)
            WHERE x.rev IS NOT NULL AND b.id = x.id AND b.rev = x.rev;
            GET DIAGNOSTICS touched = ROW_COUNT;
        END IF;
        IF fresh > 0 THEN
            INSERT INTO callbacks (id, customer, pending, first_missed_at, resolved_at, next_wake, rev, data)
            SELECT x.id, x.customer, x.pending, x.first, x.resolved, x.wake, 1, x.data
            FROM unnest(cb_id, cb_customer, cb_pending, cb_first, cb_resolved, cb_wake, cb_rev, cb_data)
                AS x(id, customer, pending, first, resolved, wake, rev, data)
            WHERE x.rev IS NULL
            ON CONFLICT (id) DO NOTHING;
            GET DIAGNOSTICS more = ROW_COUNT;
        END IF;
        IF touched + more <> n THEN
            RAISE EXCEPTION 'ringback: a callback changed' USING ERRCODE = '40001';
        END IF;
        IF cardinality(array_positions(cb_timeline, NULL)) < n THEN
            -- In the batch's order: a timeline reads in the order its entries were written.
            INSERT INTO timeline (callback_id, entries)
            SELECT x.id, x.entries FROM unnest(cb_id, cb_timeline) WITH ORDINALITY AS x(id, entries, i)
            WHERE x.entries IS NOT NULL ORDER BY x.i;
        END IF;
    END IF;

    IF cardinality(ou_id) > 0 THEN
        INSERT INTO outbox (id, takeable_at, next_attempt_at, rev, data)
        SELECT x.id, x.at, x.at, 1, x.data FROM unnest(ou_id, ou_at, ou_data) AS x(id, at, data);
    END IF;

    n := cardinality(se_id);
    IF n > 0 THEN
        fresh := cardinality(array_positions(se_keep, true));  -- here: how many are kept
        touched := 0;
        more := 0;
        IF n > fresh THEN
            DELETE FROM outbox o USING unnest(se_id, se_rev, se_keep) AS x(id, rev, keep)
            WHERE NOT x.keep AND o.id = x.id AND o.rev = x.rev;
            GET DIAGNOSTICS touched = ROW_COUNT;
        END IF;
        IF fresh > 0 THEN
            UPDATE outbox o SET takeable_at = x.at, next_attempt_at = x.at,
                lease_owner = NULL, lease_until = NULL, data = x.data, rev = o.rev + 1
            FROM unnest(se_id, se_rev, se_keep, se_at, se_data) AS x(id, rev, keep, at, data)
            WHERE x.keep AND o.id = x.id AND o.rev = x.rev;
            GET DIAGNOSTICS more = ROW_COUNT;
        END IF;
        IF touched + more <> n THEN
            RAISE EXCEPTION 'ringback: a delivery changed' USING ERRCODE = '40001';
        END IF;
    END IF;

    IF cardinality(ev_id) > 0 THEN
        INSERT INTO events (id, received_at, record, body)
        SELECT * FROM unnest(ev_id, ev_at, ev_record, ev_body);
    END IF;

    IF cardinality(dg_schedule) > 0 THEN
        INSERT INTO digests (schedule, occurrence, claim)
        SELECT * FROM unnest(dg_schedule, dg_occurrence, dg_claim)
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS touched = ROW_COUNT;
        IF touched <> cardinality(dg_schedule) THEN
            RAISE EXCEPTION 'ringback: a digest was claimed meanwhile' USING ERRCODE = '40001';
        END IF;
    END IF;
END
$$;
