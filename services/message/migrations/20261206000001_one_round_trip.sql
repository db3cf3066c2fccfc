-- One round trip per batch: the writer's transaction and the delivered/read
-- marks become one function call each (README.md, "Cost per message").
--
-- A message's status is no longer stored in its row: it follows from the
-- receiver's conversation row, whose watermarks say "every message from
-- other_id to user_id up to this id is delivered / read". A mark then moves
-- one watermark instead of rewriting every message row it covers, and a
-- message row is written once and never again.

-- The watermarks were kept in step with the statuses, so they already say
-- what the status column said.
ALTER TABLE messages DROP COLUMN status, DROP COLUMN delivered_at, DROP COLUMN read_at;
-- Rows are never updated any more: no room to keep on their pages.
ALTER TABLE messages SET (fillfactor = 100);

-- Each person's newest message follows from the two indexes on messages
-- (sender_id, id) and (receiver_id, id); keeping it in a table of its own
-- cost two row writes per message.
DROP TABLE user_heads;

-- A message with its status, read off the receiver's watermarks.
CREATE VIEW messages_with_status AS
SELECT m.id, m.sender_id, m.receiver_id, m.content, m.client_msg_id, m.created_at,
       (CASE WHEN m.id <= c.read_up_to THEN 3
             WHEN m.id <= c.delivered_up_to THEN 2
             ELSE 1 END)::smallint AS status
FROM messages m
LEFT JOIN conversations c ON c.user_id = m.receiver_id AND c.other_id = m.sender_id;

-- The newest message id to or from a person (0: none), below `below`.
CREATE FUNCTION head_of(person bigint, below bigint DEFAULT 9223372036854775807)
RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT GREATEST(
        COALESCE((SELECT max(id) FROM messages WHERE sender_id = person AND id < below), 0),
        COALESCE((SELECT max(id) FROM messages WHERE receiver_id = person AND id < below), 0))
$$;

-- Stores one batch of new messages (distinct (sender, client_msg_id) keys)
-- and records the activity, in the one transaction of the calling statement.
--
-- Why a function: the ids come from the id_allocator row, whose lock is held
-- until COMMIT so that ids grow in commit order across every writer. What the
-- batch reads (each conversation's and each person's message before it) must
-- be read *after* that lock is taken, or it could miss a batch that another
-- writer committed while this one waited. A VOLATILE function takes a fresh
-- snapshot for each statement, so everything after the UPDATE below sees
-- every earlier batch; and it costs one round trip instead of five.
--
-- Answers: the first id handed out (the n-th message of the input got
-- first_id + n - 1), the ids actually inserted (the others were retries of a
-- stored message), each conversation's newest message before the batch
-- (lo, hi, id; conversations that had none are absent) and each person's
-- (person, id, 0 when none).
CREATE FUNCTION store_batch(
    senders bigint[], receivers bigint[], contents text[], client_ids uuid[], at timestamptz,
    OUT first_id bigint, OUT inserted bigint[],
    OUT pair_lo bigint[], OUT pair_hi bigint[], OUT pair_before bigint[],
    OUT head_people bigint[], OUT head_before bigint[])
LANGUAGE plpgsql VOLATILE AS $$
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

    SELECT COALESCE(array_agg(p), '{}'), COALESCE(array_agg(head_of(p, first_id)), '{}')
    INTO head_people, head_before
    FROM (SELECT DISTINCT p FROM unnest(new_senders || new_receivers) AS p) people;

    -- Both people's rows: the newest message, activity, and the receiver's
    -- unread count. Sorted, so rows are locked in the same order every time.
    WITH touched AS (
        SELECT user_id, other_id, max(id) AS last_id, sum(unread)::bigint AS unread
        FROM (SELECT s AS user_id, r AS other_id, id, 0 AS unread
              FROM unnest(new_senders, new_receivers, inserted) AS t(s, r, id)
              UNION ALL
              SELECT r, s, id, 1
              FROM unnest(new_senders, new_receivers, inserted) AS t(s, r, id)) each_side
        GROUP BY user_id, other_id
    ), before AS (
        SELECT DISTINCT LEAST(c.user_id, c.other_id) AS lo, GREATEST(c.user_id, c.other_id) AS hi,
               c.last_message_id
        FROM conversations c JOIN touched USING (user_id, other_id)
    ), upserted AS (
        INSERT INTO conversations AS c (user_id, other_id, last_message_id, last_activity, unread_count)
        SELECT user_id, other_id, last_id, at, unread FROM touched ORDER BY user_id, other_id
        ON CONFLICT (user_id, other_id) DO UPDATE SET
            last_message_id = GREATEST(c.last_message_id, excluded.last_message_id),
            last_activity = GREATEST(c.last_activity, excluded.last_activity),
            unread_count = c.unread_count + excluded.unread_count
    )
    SELECT COALESCE(array_agg(lo), '{}'), COALESCE(array_agg(hi), '{}'),
           COALESCE(array_agg(last_message_id), '{}')
    INTO pair_lo, pair_hi, pair_before
    FROM before;
END
$$;

-- Delivered (is_read false) or read (true) marks: for each (reader, partner,
-- up_to), every message of the partner to the reader up to
-- min(up_to, the conversation's newest) takes the status. Inputs sorted by
-- (reader, partner), each pair once. Answers the marks that changed
-- something: the bound reached and the highest id whose status changed.
--
-- The row lock orders a mark with the writer's batches (whose upsert locks
-- the same row): once held, every message up to the row's last_message_id is
-- committed, and the statements after it (fresh snapshots) see them all.
CREATE FUNCTION mark_batch(readers bigint[], partners bigint[], up_to bigint[], is_read boolean)
RETURNS TABLE (reader bigint, partner bigint, bound bigint, changed_up_to bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    m record;
    row_last bigint;
    row_done bigint;
    newly bigint;
    top bigint;
BEGIN
    FOR m IN SELECT * FROM unnest(readers, partners, up_to) AS u(r, p, up) LOOP
        SELECT c.last_message_id, CASE WHEN is_read THEN c.read_up_to ELSE c.delivered_up_to END
        INTO row_last, row_done
        FROM conversations c WHERE c.user_id = m.r AND c.other_id = m.p
        FOR UPDATE;
        CONTINUE WHEN NOT FOUND;
        bound := LEAST(m.up, row_last);
        CONTINUE WHEN bound <= row_done;
        SELECT count(*), COALESCE(max(id), 0) INTO newly, top
        FROM messages
        WHERE LEAST(sender_id, receiver_id) = LEAST(m.r, m.p)
          AND GREATEST(sender_id, receiver_id) = GREATEST(m.r, m.p)
          AND sender_id = m.p AND id > row_done AND id <= bound;
        UPDATE conversations c SET
            delivered_up_to = GREATEST(c.delivered_up_to, bound),
            read_up_to = CASE WHEN is_read THEN GREATEST(c.read_up_to, bound) ELSE c.read_up_to END,
            unread_count = c.unread_count - CASE WHEN is_read THEN newly ELSE 0 END
        WHERE c.user_id = m.r AND c.other_id = m.p;
        CONTINUE WHEN newly = 0;
        reader := m.r;
        partner := m.p;
        changed_up_to := top;
        RETURN NEXT;
    END LOOP;
END
$$;
