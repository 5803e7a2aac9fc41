-- sudo and su elevation (issue 12): per login, whether the gateway answers the prompt, a
-- separate vaulted password for sudo and one for su (root), and the circuit breaker that
-- stops answering after the target rejected the password.
ALTER TABLE accounts ADD COLUMN sudo_inject TEXT NOT NULL DEFAULT 'off';
ALTER TABLE accounts ADD COLUMN sudo_secret_sealed TEXT;
ALTER TABLE accounts ADD COLUMN su_secret_sealed TEXT;
ALTER TABLE accounts ADD COLUMN sudo_blocked_at BIGINT;
