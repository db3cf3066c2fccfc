-- The message service's tables (schema `message`, the pool's search_path).
-- README.md explains the ordering design these tables serve.

-- The last message id handed out. The writer takes a batch's ids by bumping
-- this one row and holds its lock until the batch commits, so ids grow in
-- commit order (a sequence would hand ids out before the commit).
CREATE TABLE id_allocator (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_id bigint NOT NULL CHECK (last_id >= 0)
);
INSERT INTO id_allocator (singleton, last_id) VALUES (true, 0);

CREATE TABLE messages (
    -- From id_allocator, never a default: see above.
    id bigint PRIMARY KEY,
    sender_id bigint NOT NULL CHECK (sender_id > 0),
    receiver_id bigint NOT NULL CHECK (receiver_id > 0),
    -- Exactly as sent.
    content text NOT NULL,
    client_msg_id uuid NOT NULL,
    -- 1 sent, 2 delivered, 3 read; it only moves forward.
    status smallint NOT NULL DEFAULT 1 CHECK (status BETWEEN 1 AND 3),
    created_at timestamptz NOT NULL,
    delivered_at timestamptz,
    read_at timestamptz,
    CONSTRAINT messages_not_to_self CHECK (sender_id <> receiver_id),
    -- Idempotent send: one message per sender and client_msg_id.
    CONSTRAINT messages_sender_client_msg_id_key UNIQUE (sender_id, client_msg_id)
)
-- Nearly every message is updated twice (delivered, read) soon after it is
-- written: room on its page lets those be HOT updates, which touch no index.
WITH (fillfactor = 75);

-- History of a conversation, whoever sent what.
CREATE INDEX messages_pair_idx
    ON messages (LEAST(sender_id, receiver_id), GREATEST(sender_id, receiver_id), id);
-- Sync of a person: what they sent, what they received.
CREATE INDEX messages_sender_idx ON messages (sender_id, id);
CREATE INDEX messages_receiver_idx ON messages (receiver_id, id);

-- One row per person and conversation (two per pair).
CREATE TABLE conversations (
    user_id bigint NOT NULL,
    other_id bigint NOT NULL,
    last_message_id bigint NOT NULL,
    last_activity timestamptz NOT NULL,
    -- Messages from other_id to user_id not yet read; kept in the same
    -- transactions as the messages and the read marks, never recounted.
    unread_count bigint NOT NULL DEFAULT 0 CHECK (unread_count >= 0),
    -- Every message from other_id to user_id up to these ids is delivered /
    -- read, so a mark only looks at the messages above.
    delivered_up_to bigint NOT NULL DEFAULT 0,
    read_up_to bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, other_id),
    CHECK (user_id <> other_id)
)
-- Two rows change with every message. No index covers a changing column and
-- pages keep room, so those are HOT updates that write no index entry.
-- (Listing sorts one person's rows by last_message_id: a few hundred rows.)
WITH (fillfactor = 50);

-- Each person's newest message, to or from them: the `prev_id` of their next
-- message event.
CREATE TABLE user_heads (
    user_id bigint PRIMARY KEY,
    last_message_id bigint NOT NULL
)
WITH (fillfactor = 50); -- updated with every message: HOT updates, as above

