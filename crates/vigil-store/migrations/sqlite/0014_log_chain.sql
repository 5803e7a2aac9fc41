-- The session log is hash-chained (issue 15): each evidence row about a session carries the
-- SHA-256 chain value of that session's rows up to and including it (hex; NULL for rows
-- written before this migration), and when a session ends its node signs the chain's head.
ALTER TABLE evidence ADD COLUMN chain TEXT;
CREATE TABLE session_log_seals (
    session_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    events BIGINT NOT NULL,
    chain TEXT NOT NULL,
    at BIGINT NOT NULL,
    signer TEXT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
);
