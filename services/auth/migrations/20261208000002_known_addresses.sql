-- "Has this person logged in from this address lately?": asked by the login
-- throttle when an account's failures are over the limit (src/throttle.rs),
-- over every session the person opened, ended ones included (a logout must
-- not make the owner's own address a stranger).
CREATE INDEX user_sessions_by_user_ip ON user_sessions (user_id, ip, created_at DESC);
