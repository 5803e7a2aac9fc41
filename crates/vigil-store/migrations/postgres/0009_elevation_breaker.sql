-- sudo answering (issue 12): when the target last rejected a login's vaulted elevation
-- password (a second rejection within 15 minutes sets sudo_blocked_at), and how long the
-- target's sudo keeps a credential cached (sudoers timestamp_timeout, in minutes: the gateway
-- does not answer on-demand while an earlier sudo's credential may still be cached).
ALTER TABLE accounts ADD COLUMN sudo_rejected_at BIGINT;
ALTER TABLE accounts ADD COLUMN sudo_ticket_minutes BIGINT NOT NULL DEFAULT 15;
