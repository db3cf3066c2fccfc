-- The auth service's tables, in its own schema `auth` (the pool's search_path).

-- People. Usernames and emails are unique case-insensitively; the index names
-- are matched by the code to answer "username is taken" / "email is taken".
CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text NOT NULL CHECK (char_length(username) BETWEEN 3 AND 32),
    email         text NOT NULL CHECK (char_length(email) <= 100),
    password_hash text NOT NULL,
    display_name  text CHECK (char_length(display_name) <= 50),
    bio           text CHECK (char_length(bio) <= 500),
    birthdate     date,
    gender        text CHECK (char_length(gender) <= 50),
    location      text CHECK (char_length(location) <= 100),
    avatar_url    text CHECK (char_length(avatar_url) <= 500),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- Byte order ("C"): usernames are ASCII, and search pages by this order with
-- prefix matches that can use the index whatever the database's locale.
CREATE UNIQUE INDEX users_username_lower_key ON users ((lower(username) COLLATE "C"));
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
CREATE INDEX users_display_name_lower_idx ON users (lower(display_name) text_pattern_ops);

-- Sessions: many per person. The record; Redis holds a copy for speed.
-- A session is alive while not revoked, before expires_at (the absolute
-- lifetime, also the token's exp) and while last_activity is within the idle
-- timeout (configuration).
CREATE TABLE user_sessions (
    -- 128 random bits as 32 hex characters.
    id            text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'),
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL,
    last_activity timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    ip            text NOT NULL DEFAULT '',
    user_agent    text NOT NULL DEFAULT '',
    revoked_at    timestamptz
);
CREATE INDEX user_sessions_live_by_user ON user_sessions (user_id, created_at DESC)
    WHERE revoked_at IS NULL;

-- The audit trail.
CREATE TABLE system_logs (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event      text NOT NULL
               CHECK (event IN ('register', 'login_ok', 'login_failed', 'logout', 'revoke')),
    user_id    bigint REFERENCES users (id) ON DELETE SET NULL,
    ip         text NOT NULL DEFAULT '',
    user_agent text NOT NULL DEFAULT '',
    detail     jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX system_logs_by_user ON system_logs (user_id, created_at DESC);
CREATE INDEX system_logs_by_time ON system_logs (created_at);

-- Blocks: either direction hides two people from each other.
CREATE TABLE blocks (
    blocker_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blocked_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (blocker_id, blocked_id),
    CHECK (blocker_id <> blocked_id)
);
CREATE INDEX blocks_by_blocked ON blocks (blocked_id, blocker_id);
