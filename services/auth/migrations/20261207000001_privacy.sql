-- Privacy settings: two flags on the person's row, both on for everyone
-- (new and existing accounts alike).
ALTER TABLE users
    ADD COLUMN show_online boolean NOT NULL DEFAULT true,
    ADD COLUMN send_read_receipts boolean NOT NULL DEFAULT true;

-- The people who hide their presence: what the Redis copy of the flag is
-- rebuilt from every few seconds (src/privacy.rs), so it must stay cheap
-- however many people there are.
CREATE INDEX users_hidden_idx ON users (id) WHERE NOT show_online;
