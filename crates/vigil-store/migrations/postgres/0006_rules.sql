-- Audited commands (issue 10): rules an administrator defines; a session takes a snapshot of
-- the enabled ones when it starts. Scope lists are JSON arrays of names (empty: everywhere).
CREATE TABLE audit_rules (
    name TEXT PRIMARY KEY,
    pattern_kind TEXT NOT NULL,
    pattern TEXT NOT NULL,
    score BIGINT NOT NULL,
    action TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    targets TEXT NOT NULL DEFAULT '[]',
    logins TEXT NOT NULL DEFAULT '[]',
    users TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
