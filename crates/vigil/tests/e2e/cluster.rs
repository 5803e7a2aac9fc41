//! Nodes that share PostgreSQL and an S3-compatible bucket (issue 16): they register and
//! heartbeat; a recording made through one node is played and verified through another; a
//! node killed with `kill -9` is marked down by a survivor within the timeout, its open
//! sessions are closed as interrupted, and its live recording is in the bucket up to the
//! upload interval; bulk output stays as its segments and reads back byte for byte; a purge
//! through any node removes the objects; a node whose master key is
//! not the cluster's refuses to start. And in Chromium, with three nodes: a session through A
//! is watched from B, locked from C, terminated from B and verified on C
//! (`web/tests/cluster.test.mjs`).

use std::time::Duration;

use crate::console::{browser_operator, browser_walk, screenshots, target_home};
use crate::harness::{Gateway, S3Server, Target, eventually, text};

fn node<'a>(nodes: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    nodes
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no node {name} in {nodes:#?}"))
}

fn verify(gw: &Gateway, id: &str) -> (bool, serde_json::Value) {
    let out = gw.cli(&["verify", id, "--json"]);
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.success(), json)
}

/// Nodes A and B of one cluster (timeout 3 s), recordings in `s3`.
fn two_nodes(s3: &S3Server) -> (Gateway, Gateway) {
    let mut a = Gateway::start_postgres();
    a.stop();
    a.set_env(s3.env());
    a.configure(&format!(
        "node_name = \"node-a\"\nnode_timeout_secs = 3\n{}",
        s3.config()
    ));
    a.start_again();
    let b = a.join(&format!(
        "node_name = \"node-b\"\nnode_timeout_secs = 3\n{}",
        s3.config()
    ));
    (a, b)
}

#[test]
fn a_killed_nodes_sessions_are_interrupted_by_a_survivor_and_a_stranger_key_is_refused() {
    let target = Target::start();
    let s3 = S3Server::start();
    let (mut a, b) = two_nodes(&s3);
    a.provision(&target, "web01", "alice", "alice-pw");

    let nodes = b.nodes();
    for name in ["node-a", "node-b"] {
        assert_eq!(node(&nodes, name)["state"], "up", "{nodes:#?}");
    }
    assert!(
        node(&nodes, "node-b")["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":{}", b.http_port)),
        "{nodes:#?}"
    );

    // A session through A, played and verified through B from the bucket.
    let out = a
        .ssh("alice:web01", "alice-pw")
        .args(["-tt", "echo finished-$((6*7))"])
        .output()
        .unwrap();
    assert!(text(&out).contains("finished-42"), "{}", text(&out));
    let finished = a.last_closed_session()["session"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (ok, v) = verify(&b, &finished);
    assert!(ok && v["verdict"] == "intact", "{v:#}");
    assert!(String::from_utf8_lossy(&b.export(&finished)).contains("finished-42"));
    let keys = s3.keys();
    assert!(
        keys.iter().all(|k| !k.contains(".live/")) && keys.iter().any(|k| k.ends_with(".cast.zst")),
        "finished: one object, no segments: {keys:?}"
    );

    // Bulk output (64 MiB of random bytes, 85 MB stored): cut into segments as it comes,
    // which then stay as the finished recording (uploaded once); B reads it byte for byte.
    let out = a
        .ssh("alice:web01", "alice-pw")
        .arg("head -c 67108864 /dev/urandom")
        .output()
        .unwrap();
    assert_eq!(out.stdout.len(), 64 << 20, "{}", text(&out));
    let bulk = a.last_closed_session()["session"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let keys: Vec<String> = s3
        .keys()
        .into_iter()
        .filter(|k| k.contains(&bulk))
        .collect();
    assert!(
        keys.len() > 8 && keys.iter().all(|k| k.contains(".live/")),
        "bulk: its segments are the recording: {keys:?}"
    );
    let cast = vigil_record::read_cast(&b.export(&bulk)[..]).unwrap();
    assert!(
        cast.output_bytes() == out.stdout,
        "B's copy differs from what the operator got"
    );
    let (ok, v) = verify(&b, &bulk);
    assert!(ok && v["verdict"] == "intact", "{v:#}");

    // A live session on A, then A dies without a word.
    let (mut operator, id) = a.interactive(
        "alice:web01",
        "alice-pw",
        "echo before-the-kill-$((6*7)); sleep 120",
    );
    let nodes = b.nodes();
    assert_eq!(node(&nodes, "node-a")["live_sessions"], 1, "{nodes:#?}");
    // The output reaches the bucket within the upload interval (1 s) after a flush (1 s).
    let exported = b.dir.path().join("live.cast");
    let out_path = exported.to_str().unwrap();
    eventually(
        Duration::from_secs(10),
        "the live recording in the bucket",
        || {
            let out = b.cli(&["recording", "export", &id, "--track", "0", "-o", out_path]);
            let cast = std::fs::read(&exported).unwrap_or_default();
            (out.status.success() && String::from_utf8_lossy(&cast).contains("before-the-kill-42"))
                .then_some(())
        },
    );
    a.crash();
    let killed = std::time::Instant::now();
    let session = eventually(
        Duration::from_secs(20),
        "node-b closes node-a's session",
        || {
            let s = b.session(&id);
            (s["session"]["status"] == "closed").then_some(s)
        },
    );
    assert!(
        killed.elapsed() < Duration::from_secs(8),
        "took {:?}",
        killed.elapsed()
    );
    assert_eq!(
        session["session"]["end_reason"], "interrupted",
        "{session:#}"
    );
    let nodes = b.nodes();
    assert_eq!(node(&nodes, "node-a")["state"], "down", "{nodes:#?}");
    assert_eq!(node(&nodes, "node-a")["live_sessions"], 0, "{nodes:#?}");
    let down: Vec<serde_json::Value> = b
        .audit()
        .into_iter()
        .filter(|e| e["action"] == "node_down")
        .collect();
    assert_eq!(down.len(), 1, "{down:#?}");
    assert_eq!(down[0]["subject"], "node-a");
    let detail: serde_json::Value =
        serde_json::from_str(down[0]["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["interrupted"][0], id.as_str(), "{detail}");
    assert_eq!(detail["node"], "node-b", "{detail}");
    // The recording, read from the segments A uploaded, is authentic up to the crash; the
    // log was sealed by the node that closed it.
    let (ok, v) = verify(&b, &id);
    assert!(ok, "{v:#}");
    assert_eq!(v["verdict"], "interrupted", "{v:#}");
    assert_eq!(v["log"]["verdict"], "intact", "{v:#}");
    let _ = operator.kill();
    let _ = operator.wait();

    // A purge through B removes both recordings from the bucket.
    b.ok(&["purge", "--days", "0"]);
    let keys = s3.keys();
    assert!(
        keys.iter()
            .all(|k| !k.contains(&finished) && !k.contains(&id) && !k.contains(&bulk)),
        "{keys:?}"
    );

    // A node that is up cannot be removed; one that is down can.
    let up = b.cli(&["node", "remove", "node-b"]);
    assert!(!up.status.success());
    assert!(text(&up).contains("is up: stop it first"), "{}", text(&up));
    b.ok(&["node", "remove", "node-a"]);
    assert!(b.nodes().iter().all(|n| n["name"] != "node-a"));

    // A comes back: it joins again, and the spool copy of the recording purged while it was
    // away is dropped, not uploaded.
    a.start_again();
    assert_eq!(node(&b.nodes(), "node-a")["state"], "up");
    assert!(
        a.log_text().contains("0 uploaded")
            && a.log_text().contains("1 dropped (purged meanwhile)"),
        "{}",
        a.log_text()
    );
    assert!(
        s3.keys().iter().all(|k| !k.contains(&id)),
        "{:?}",
        s3.keys()
    );

    // A node with a master key of its own refuses to start, and says why.
    let (refused, said) = b.start_with_another_master_key();
    assert!(refused, "{said}");
    assert!(
        said.contains("does not belong to the store") && said.contains("same key"),
        "{said}"
    );
}

#[test]
fn three_nodes_in_a_browser() {
    let target = Target::start();
    let s3 = S3Server::start();
    let (a, b) = two_nodes(&s3);
    let c = a.join(&format!(
        "node_name = \"node-c\"\nnode_timeout_secs = 3\n{}",
        s3.config()
    ));
    a.provision(&target, "web01", "alice", "alice-pw");
    let nodes = c.nodes();
    for name in ["node-a", "node-b", "node-c"] {
        assert_eq!(node(&nodes, name)["state"], "up", "{nodes:#?}");
        assert_eq!(
            node(&nodes, name)["cert_sha256"].as_str().map(str::len),
            Some(64),
            "each node registers the certificate its peers pin: {nodes:#?}"
        );
    }
    let shots = screenshots();
    let status = browser_walk("cluster.test.mjs")
        .env("VIGIL_URL_A", format!("https://127.0.0.1:{}", a.http_port))
        .env("VIGIL_URL_B", format!("https://127.0.0.1:{}", b.http_port))
        .env("VIGIL_URL_C", format!("https://127.0.0.1:{}", c.http_port))
        .env("VIGIL_ADMIN_PASSWORD", &a.admin_password)
        .env(
            "VIGIL_OPERATOR_SSH",
            browser_operator(&a.ssh("alice:web01", "alice-pw")).to_string(),
        )
        .env("VIGIL_TARGET_HOME", target_home())
        .env("VIGIL_SCREENSHOTS", &shots)
        .status()
        .expect("node (the test script installs Node.js and Chromium)");
    assert!(
        status.success(),
        "the browser walk failed (see above); node-a:\n{}\nnode-b:\n{}\nnode-c:\n{}",
        a.log_text(),
        b.log_text(),
        c.log_text()
    );
    // The viewings' evidence says which node each viewer used and where the stream came
    // from; the lock and the termination asked of B and C were carried out on A.
    let id = a.last_closed_session()["session"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let events = c.session(&id)["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let detail = |e: &serde_json::Value| -> serde_json::Value {
        serde_json::from_str(e["detail"].as_str().unwrap_or("{}")).unwrap_or_default()
    };
    let viewings: Vec<(String, String)> = events
        .iter()
        .filter(|e| e["kind"] == "live_view_started")
        .map(|e| {
            let d = detail(e);
            (
                d["node"].as_str().unwrap_or("").to_owned(),
                d["relayed_from"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    for viewer in ["node-b", "node-c"] {
        assert!(
            viewings.contains(&(viewer.to_owned(), "node-a".to_owned())),
            "{viewer} relayed from node-a: {viewings:?}"
        );
    }
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    for kind in ["locked", "terminate_requested", "ended"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
}
