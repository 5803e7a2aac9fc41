-- The cluster's members (issue 16). Each node registers itself at start and heartbeats; a
-- node whose heartbeat is older than the timeout is marked down by a surviving node, which
-- closes the dead node's open sessions as interrupted. `state`: up, down, or left (a clean
-- shutdown). `url` is where peers reach the node's link.
CREATE TABLE nodes (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    version TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    state TEXT NOT NULL
);
-- A value sealed with the vault's master key at the first start of a node on this store: a
-- node whose key cannot open it refuses to start (every node of a cluster needs the same key).
CREATE TABLE vault_check (
    id BIGINT PRIMARY KEY,
    sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
-- Work one node of the cluster does for all (the retention purge): the node holding an
-- unexpired lease does it; a lease a dead node held expires and another node takes it.
CREATE TABLE cluster_jobs (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until_at BIGINT NOT NULL
);
