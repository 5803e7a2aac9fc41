-- Live control (seed 001): an operator whose interaction an auditor locked cannot start new
-- sessions, on any node, until released.
ALTER TABLE users ADD COLUMN locked_by TEXT;
ALTER TABLE users ADD COLUMN locked_at BIGINT;
ALTER TABLE users ADD COLUMN locked_session TEXT;
