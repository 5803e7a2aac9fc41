-- SIEM forwarding (issue 11): what each node's destinations are doing, written by the node
-- every few seconds so `vigil status` and the API show it from anywhere.
CREATE TABLE siem_status (
    node TEXT NOT NULL,
    destination TEXT NOT NULL,
    format TEXT NOT NULL,
    state TEXT NOT NULL,
    queued BIGINT NOT NULL,
    sent BIGINT NOT NULL,
    dropped BIGINT NOT NULL,
    last_error TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (node, destination)
);
