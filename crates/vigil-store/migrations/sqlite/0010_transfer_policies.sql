-- File-transfer policies (issue 13): per target, or per login of a target (login '' means
-- every login). The policy is vigil_core::TransferPolicy as JSON; a login's own policy
-- replaces the target's.
CREATE TABLE transfer_policies (
    target_id TEXT NOT NULL REFERENCES targets(id) ON DELETE CASCADE,
    login TEXT NOT NULL DEFAULT '',
    policy TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (target_id, login)
);
