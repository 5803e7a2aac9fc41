-- The keys nodes sign their recordings' chains with (issue 15): the public half of each
-- node's Ed25519 recording key, so that any node verifies any recording. A key is never
-- removed while recordings it signed may exist: a key missing here makes them unverifiable.
CREATE TABLE node_keys (
    public_key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    node TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
