-- Statements that PostgreSQL stops planning again at every batch (see
-- docs/performance.md, "PostgreSQL"): profiled at 400 msg/s, where every
-- message is a batch of its own, planning cost more than executing.
--
-- 1. head_of becomes PL/pgSQL. Before PostgreSQL 18 a SQL function that
--    cannot be inlined (this one has sub-selects) plans its statement again
--    at every call: ~0.1 ms, twice per batch. PL/pgSQL keeps its plans for
--    the connection's life.
CREATE OR REPLACE FUNCTION head_of(person bigint, below bigint DEFAULT 9223372036854775807)
RETURNS bigint LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN GREATEST(
        COALESCE((SELECT max(id) FROM messages WHERE sender_id = person AND id < below), 0),
        COALESCE((SELECT max(id) FROM messages WHERE receiver_id = person AND id < below), 0));
END
$$;

-- 2. store_batch: as in 20261206000001_one_round_trip.sql (read its comment
--    for why it is one function and why everything is read after the
--    allocator's lock), with each conversation's message before the batch
--    read off the messages' pair index (the newest id below the batch's
--    first) instead of joining the conversations being upserted. That join
--    made the only statement whose best plan depends on the data; without
--    it every statement here has one good plan whatever the batch size, so
--    the function keeps generic plans (PL/pgSQL would otherwise re-plan a
--    statement over parameter arrays at every call: 0.18 ms a batch).
CREATE OR REPLACE FUNCTION store_batch(
    senders bigint[], receivers bigint[], contents text[], client_ids uuid[], at timestamptz,
    OUT first_id bigint, OUT inserted bigint[],
    OUT pair_lo bigint[], OUT pair_hi bigint[], OUT pair_before bigint[],
    OUT head_people bigint[], OUT head_before bigint[])
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    k bigint := cardinality(senders);
    new_senders bigint[];
    new_receivers bigint[];
BEGIN
    UPDATE id_allocator SET last_id = last_id + k RETURNING last_id - k + 1 INTO first_id;

    WITH ins AS (
        INSERT INTO messages (id, sender_id, receiver_id, content, client_msg_id, created_at)
        SELECT first_id + n - 1, s, r, c, cid, at
        FROM unnest(senders, receivers, contents, client_ids) WITH ORDINALITY AS u(s, r, c, cid, n)
        ON CONFLICT (sender_id, client_msg_id) DO NOTHING
        RETURNING id, sender_id, receiver_id
    )
    SELECT COALESCE(array_agg(id ORDER BY id), '{}'),
           COALESCE(array_agg(sender_id ORDER BY id), '{}'),
           COALESCE(array_agg(receiver_id ORDER BY id), '{}')
    INTO inserted, new_senders, new_receivers
    FROM ins;

    -- The lookups of head_of and pair_head_of written out, not called: a
    -- function call per person cost as much as the lookup itself.
    SELECT COALESCE(array_agg(p), '{}'),
           COALESCE(array_agg(GREATEST(
               COALESCE((SELECT max(id) FROM messages WHERE sender_id = p AND id < first_id), 0),
               COALESCE((SELECT max(id) FROM messages WHERE receiver_id = p AND id < first_id), 0))),
               '{}')
    INTO head_people, head_before
    FROM (SELECT DISTINCT p FROM unnest(new_senders || new_receivers) AS p) people;

    SELECT COALESCE(array_agg(lo), '{}'), COALESCE(array_agg(hi), '{}'),
           COALESCE(array_agg(before), '{}')
    INTO pair_lo, pair_hi, pair_before
    FROM (SELECT lo, hi,
                 (SELECT id FROM messages
                  WHERE LEAST(sender_id, receiver_id) = lo AND GREATEST(sender_id, receiver_id) = hi
                    AND id < first_id
                  ORDER BY id DESC LIMIT 1) AS before
          FROM (SELECT DISTINCT LEAST(s, r) AS lo, GREATEST(s, r) AS hi
                FROM unnest(new_senders, new_receivers) AS t(s, r)) pairs) heads
    WHERE before IS NOT NULL;

    -- Both people's rows: the newest message, activity, and the receiver's
    -- unread count. Sorted, so rows are locked in the same order every time.
    INSERT INTO conversations AS c (user_id, other_id, last_message_id, last_activity, unread_count)
    SELECT user_id, other_id, max(id), at, sum(unread)::bigint
    FROM (SELECT s AS user_id, r AS other_id, id, 0 AS unread
          FROM unnest(new_senders, new_receivers, inserted) AS t(s, r, id)
          UNION ALL
          SELECT r, s, id, 1
          FROM unnest(new_senders, new_receivers, inserted) AS t(s, r, id)) each_side
    GROUP BY user_id, other_id
    ORDER BY user_id, other_id
    ON CONFLICT (user_id, other_id) DO UPDATE SET
        last_message_id = GREATEST(c.last_message_id, excluded.last_message_id),
        last_activity = GREATEST(c.last_activity, excluded.last_activity),
        unread_count = c.unread_count + excluded.unread_count;
END
$$;
