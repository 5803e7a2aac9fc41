-- Runs of programs on workstations that an access policy audits or records (issue 14). A
-- run's id is the UUID its agent made, so a creation the agent retries finds the same run;
-- its session is an ordinary session (protocol `endpoint`, the workstation as its target).
-- A recorded run has two objects, its output and its input, uploaded in parts at offsets:
-- `received` is how many bytes the server holds durably, where an interrupted upload
-- resumes; `sha256` and `finished_at` are set when the agent says the object is whole and
-- the server checked it.
CREATE TABLE endpoint_runs (
    id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    session_id TEXT NOT NULL UNIQUE,
    record INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    completed_at INTEGER
);
CREATE TABLE endpoint_uploads (
    run_id TEXT NOT NULL REFERENCES endpoint_runs(id) ON DELETE CASCADE,
    object TEXT NOT NULL,
    received INTEGER NOT NULL,
    size INTEGER,
    sha256 TEXT,
    finished_at INTEGER,
    PRIMARY KEY (run_id, object)
);
