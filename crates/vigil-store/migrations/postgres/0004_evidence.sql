-- One evidence path (issue 9): every session-log event and administration-log entry is a row
-- of one ordered outbox, written in the same transaction as the change it records. Consumers
-- (the live event bus, the SIEM forwarder, cluster peers) read it after their own cursor.
-- The session log and the administration log are views: log is 'session', 'admin' or
-- 'both'. Migrated rows keep the log they were in.
CREATE TABLE evidence (
    seq BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    origin TEXT NOT NULL,
    kind TEXT NOT NULL,
    log TEXT NOT NULL,
    session_id TEXT,
    actor TEXT,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX evidence_session ON evidence (session_id, seq);
CREATE INDEX evidence_log ON evidence (log, seq);
CREATE TABLE evidence_cursors (
    consumer TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
INSERT INTO evidence (at, origin, kind, log, session_id, actor, subject, detail)
SELECT at, origin, kind, log, session_id, actor, subject, detail FROM (
    SELECT at, 'migrated' AS origin, kind, 'session' AS log, session_id, actor,
           session_id AS subject, detail, 0 AS src, id
    FROM session_events
    UNION ALL
    SELECT at, 'migrated', action,
           'admin', NULL, actor, subject, detail, 1, id
    FROM audit_log
) AS old ORDER BY at, src, id;
DROP TABLE session_events;
DROP TABLE audit_log;
