-- Several write plans in one statement and one transaction (src/store/postgres/batch.rs):
-- under load, the webhooks waiting for the database share one round trip and one COMMIT
-- (one WAL flush) instead of one each. Each plan runs in its own subtransaction, so a plan
-- that conflicts (or fails) is undone alone and the others still commit; the answer holds,
-- per plan in order, '' for applied or the SQLSTATE and message of what stopped it.
CREATE FUNCTION ringback_apply_many(plans jsonb) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
    p jsonb;
    outcome text[] := '{}';
BEGIN
    FOR p IN SELECT value FROM jsonb_array_elements(plans) LOOP
        BEGIN
            PERFORM ringback_apply(p);
            outcome := outcome || ''::text;
        EXCEPTION WHEN OTHERS THEN
            outcome := outcome || (SQLSTATE || ' ' || SQLERRM);
        END;
    END LOOP;
    RETURN outcome;
END
$$;

-- Plans are point writes by key: the generic plan is the right one, and a custom plan per
-- call is planning work repeated for nothing.
ALTER FUNCTION ringback_apply(jsonb) SET plan_cache_mode = force_generic_plan;

-- Several incoming events' lookups in one statement (src/store/postgres/batch.rs): a row
-- per lookup, in order. In a function so that its plan is made once per connection (as a
-- statement over arrays it was planned anew on every call, a custom plan each time).
CREATE FUNCTION ringback_lookup_many(
    call_ids text[], dedup_triggers text[], dedup_calls text[], dedup_legs text[],
    callback_ids text[], customer_numbers text[]
) RETURNS TABLE (call json, dedup text, callback json, customer json, pending json)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT
        (SELECT json_build_object('rev', c.rev, 'data', c.data) FROM calls c WHERE c.call_id = l.call_id),
        (SELECT d.event_id FROM event_dedup d
          WHERE d.trigger = l.dtrigger AND d.call_id = l.dcall AND d.leg = l.dleg),
        (SELECT json_build_object('id', b.id, 'rev', b.rev, 'data', b.data) FROM callbacks b WHERE b.id = l.callback),
        (SELECT json_build_object('rev', u.rev, 'last', u.last_answered_at) FROM customers u WHERE u.number = l.customer),
        (SELECT json_build_object('id', b.id, 'rev', b.rev, 'data', b.data) FROM callbacks b
          WHERE b.customer = l.customer AND b.pending)
    FROM unnest(call_ids, dedup_triggers, dedup_calls, dedup_legs, callback_ids, customer_numbers)
        WITH ORDINALITY AS l(call_id, dtrigger, dcall, dleg, callback, customer, i)
    ORDER BY l.i;
END
$$;
