-- The endpoint manager (issue 14). Workstations whose agent enrolled with a one-time token
-- (pending until an administrator approves them; a host that enrols again is pending again
-- under its new key), the tokens (only their SHA-256 is kept), and the access policies the
-- agents enforce (vigil_core::AgentPolicy as JSON), with one revision counter that every
-- change of a policy moves in the same transaction, so an agent knows when to fetch again.
CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    host_name TEXT NOT NULL UNIQUE,
    machine_id TEXT NOT NULL,
    public_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL,
    enrolled_at BIGINT NOT NULL,
    approved_at BIGINT,
    approved_by TEXT,
    last_seen_at BIGINT
);
CREATE TABLE agent_tokens (
    token_hash TEXT PRIMARY KEY,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    used_by TEXT
);
CREATE TABLE agent_policies (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    policy TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE agent_policy_revision (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    revision BIGINT NOT NULL
);
INSERT INTO agent_policy_revision (id, revision) VALUES (1, 0);
