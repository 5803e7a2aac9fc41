-- The web console and API: per-session auditors, prevent-purge, retention marks, browser
-- sessions and API tokens. Tokens are stored as SHA-256 hashes, never in clear.
ALTER TABLE sessions ADD COLUMN prevent_purge_reason TEXT;
ALTER TABLE sessions ADD COLUMN prevent_purge_by TEXT;
ALTER TABLE sessions ADD COLUMN prevent_purge_at BIGINT;
ALTER TABLE sessions ADD COLUMN purged_at BIGINT;
CREATE INDEX sessions_ended ON sessions (ended_at);
-- A disabled target refuses new sessions and stays in the records.
ALTER TABLE targets ADD COLUMN disabled BIGINT NOT NULL DEFAULT 0;
CREATE TABLE session_auditors (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    user_name TEXT NOT NULL,
    added_by TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (session_id, user_name)
);
CREATE INDEX session_auditors_user ON session_auditors (user_name);
CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    client_addr TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    UNIQUE (user_id, name)
);
