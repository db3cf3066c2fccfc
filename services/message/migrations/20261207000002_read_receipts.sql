-- Reads without receipts (the reader's send_read_receipts off): the reader's
-- unread count must drop while the sender keeps seeing `delivered`.
--
-- read_up_to meant both things until now: "the sender sees these read" (the
-- status in messages_with_status) and "the reader has seen these" (what the
-- unread count was taken down to). The second meaning moves to its own
-- watermark, seen_up_to; read_up_to stays what senders see, so the view and
-- everything reading statuses are unchanged.
ALTER TABLE conversations ADD COLUMN seen_up_to bigint NOT NULL DEFAULT 0;
-- Every read so far sent its receipt.
UPDATE conversations SET seen_up_to = read_up_to WHERE read_up_to > 0;

-- As before (see 20261206000001_one_round_trip.sql), plus `receipts`, which
-- only matters for reads (is_read):
-- - delivered (not is_read): delivered_up_to moves; the answer is the
--   messages that became delivered;
-- - read with receipts: delivered_up_to, read_up_to and seen_up_to move;
--   the unread count drops by the messages above seen_up_to; the answer is
--   the messages that became read;
-- - read without receipts: delivered_up_to and seen_up_to move, read_up_to
--   stays; the unread count drops the same; the answer is the messages that
--   became delivered (reading one proves it arrived), never read.
-- seen_up_to >= read_up_to always holds (a read with receipts moves both), so
-- a read with receipts after reads without only reports, as read, messages
-- read meanwhile up to its bound — which by then is true.
DROP FUNCTION mark_batch(bigint[], bigint[], bigint[], boolean);
CREATE FUNCTION mark_batch(readers bigint[], partners bigint[], up_to bigint[], is_read boolean,
                           receipts boolean)
RETURNS TABLE (reader bigint, partner bigint, bound bigint, changed_up_to bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    m record;
    shows_read boolean := is_read AND receipts;
    row_last bigint;
    -- The watermark the sender is shown moving: read_up_to or delivered_up_to.
    row_shown bigint;
    -- Where the reader's unread count stands (reads only).
    row_seen bigint;
    low bigint;
    unseen bigint;
    newly bigint;
    top bigint;
BEGIN
    FOR m IN SELECT * FROM unnest(readers, partners, up_to) AS u(r, p, up) LOOP
        SELECT c.last_message_id,
               CASE WHEN shows_read THEN c.read_up_to ELSE c.delivered_up_to END,
               CASE WHEN is_read THEN c.seen_up_to ELSE c.delivered_up_to END
        INTO row_last, row_shown, row_seen
        FROM conversations c WHERE c.user_id = m.r AND c.other_id = m.p
        FOR UPDATE;
        CONTINUE WHEN NOT FOUND;
        bound := LEAST(m.up, row_last);
        CONTINUE WHEN bound <= row_shown AND bound <= row_seen;
        low := LEAST(row_shown, row_seen);
        SELECT count(*) FILTER (WHERE id > row_seen),
               count(*) FILTER (WHERE id > row_shown),
               COALESCE(max(id) FILTER (WHERE id > row_shown), 0)
        INTO unseen, newly, top
        FROM messages
        WHERE LEAST(sender_id, receiver_id) = LEAST(m.r, m.p)
          AND GREATEST(sender_id, receiver_id) = GREATEST(m.r, m.p)
          AND sender_id = m.p AND id > low AND id <= bound;
        UPDATE conversations c SET
            delivered_up_to = GREATEST(c.delivered_up_to, bound),
            read_up_to = CASE WHEN shows_read THEN GREATEST(c.read_up_to, bound) ELSE c.read_up_to END,
            seen_up_to = CASE WHEN is_read THEN GREATEST(c.seen_up_to, bound) ELSE c.seen_up_to END,
            unread_count = c.unread_count - CASE WHEN is_read THEN unseen ELSE 0 END
        WHERE c.user_id = m.r AND c.other_id = m.p;
        CONTINUE WHEN newly = 0;
        reader := m.r;
        partner := m.p;
        changed_up_to := top;
        RETURN NEXT;
    END LOOP;
END
$$;
