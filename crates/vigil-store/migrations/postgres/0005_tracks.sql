-- Each recorded channel of a session has a recording track of its own (issue 9): a second
-- PTY over a multiplexed connection, or a command run beside a shell, is not mixed into the
-- first one's screen. Track 0 is the session's recording_key; track N is stored as KEY.N.
CREATE TABLE recording_tracks (
    session_id TEXT NOT NULL,
    track BIGINT NOT NULL,
    recording_key TEXT NOT NULL,
    channel BIGINT,
    kind TEXT,
    command TEXT,
    opened_at BIGINT NOT NULL,
    PRIMARY KEY (session_id, track)
);
INSERT INTO recording_tracks (session_id, track, recording_key, opened_at)
    SELECT id, 0, recording_key, started_at FROM sessions WHERE recording_key IS NOT NULL;
