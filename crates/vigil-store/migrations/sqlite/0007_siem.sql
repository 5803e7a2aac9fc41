-- SIEM forwarding (issue 11): what each node's destinations are doing, written by the node
-- every few seconds so `vigil status` and the API show it from anywhere.
CREATE TABLE siem_status (
    node TEXT NOT NULL,
    destination TEXT NOT NULL,
    format TEXT NOT NULL,
    state TEXT NOT NULL,
    queued INTEGER NOT NULL,
    sent INTEGER NOT NULL,
    dropped INTEGER NOT NULL,
    last_error TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (node, destination)
);
