-- Web Push: at most one browser subscription per session, gone with it.
-- Pushes go only to subscriptions whose session is alive (src/push.rs), so
-- an ended session's row is never used; deleting a session deletes it too.
CREATE TABLE push_subscriptions (
    session_id text PRIMARY KEY REFERENCES user_sessions (id) ON DELETE CASCADE,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    endpoint   text NOT NULL,
    p256dh     bytea NOT NULL CHECK (length(p256dh) = 65),
    auth       bytea NOT NULL CHECK (length(auth) = 16),
    previews   boolean NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX push_subscriptions_by_user ON push_subscriptions (user_id);
-- A push service that answers 404/410 names the endpoint, not the session.
CREATE INDEX push_subscriptions_by_endpoint ON push_subscriptions (endpoint);
