-- Blocks and unblocks join the audit trail (moderation asks who cut off whom,
-- and when). The CHECK's name is PostgreSQL's default for an unnamed column
-- constraint.
ALTER TABLE system_logs DROP CONSTRAINT system_logs_event_check;
ALTER TABLE system_logs ADD CONSTRAINT system_logs_event_check
    CHECK (event IN ('register', 'login_ok', 'login_failed', 'logout', 'revoke', 'block', 'unblock'));
