-- Reports about people, for moderation. Written once, never updated by the
-- service (moderation tools read them). Reporting does not block.

CREATE TABLE reports (
    id bigserial PRIMARY KEY,
    reporter_id bigint NOT NULL CHECK (reporter_id > 0),
    reported_id bigint NOT NULL CHECK (reported_id > 0),
    reason text NOT NULL
        CHECK (reason IN ('spam', 'harassment', 'inappropriate', 'scam', 'underage', 'other')),
    note text CHECK (char_length(note) <= 1000),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT reports_not_about_self CHECK (reporter_id <> reported_id)
);

-- The moderation queue looks at who is reported, newest first.
CREATE INDEX reports_reported_idx ON reports (reported_id, created_at);

-- A copy of each reported message as it was when reported. A copy, not a
-- reference: what moderators read must not depend on what happens to the
-- message later (so no foreign key to messages either).
CREATE TABLE report_messages (
    report_id bigint NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    message_id bigint NOT NULL,
    sender_id bigint NOT NULL,
    receiver_id bigint NOT NULL,
    content text NOT NULL,
    -- When the message was sent.
    created_at timestamptz NOT NULL,
    PRIMARY KEY (report_id, message_id)
);
