-- The node-to-node link (issue 16): the SHA-256 of the certificate a node's console presents,
-- hex, so a peer relaying a live stream from it accepts that certificate and no other (the
-- consoles' certificates are self-signed by default). Empty when the node serves plain HTTP.
ALTER TABLE nodes ADD COLUMN cert_sha256 TEXT NOT NULL DEFAULT '';
