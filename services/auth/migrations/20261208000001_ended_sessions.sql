-- The gateways ask every second which sessions ended in the last moments
-- (EndedSessions): by revocation, lifetime or idle timeout. One index per
-- way a session ends keeps each of those asks a short range scan.
-- (last_activity is touched at most every few minutes per session, so its
-- index costs little.)
CREATE INDEX user_sessions_revoked_at ON user_sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX user_sessions_expires_at ON user_sessions (expires_at);
CREATE INDEX user_sessions_last_activity ON user_sessions (last_activity);
