-- The message service's part of the audit trail (the auth service keeps its
-- own `system_logs` in its schema, same shape): reports filed, and sends
-- refused because of a block. Written once, never updated by the service.
CREATE TABLE system_logs (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event      text NOT NULL CHECK (event IN ('report', 'send_refused')),
    user_id    bigint NOT NULL CHECK (user_id > 0),
    detail     jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX system_logs_by_user ON system_logs (user_id, created_at DESC);
CREATE INDEX system_logs_by_time ON system_logs (created_at);
