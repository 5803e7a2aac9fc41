//! Nodes that share PostgreSQL (issue 16): they register and heartbeat; a node killed with
//! `kill -9` is marked down by a survivor within the timeout and its open sessions are
//! closed as interrupted; a node whose master key is not the cluster's refuses to start.

use std::time::Duration;

use crate::harness::{Gateway, Target, eventually};

fn node<'a>(nodes: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    nodes
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no node {name} in {nodes:#?}"))
}

#[test]
fn a_killed_nodes_sessions_are_interrupted_by_a_survivor_and_a_stranger_key_is_refused() {
    let target = Target::start();
    let mut a = Gateway::start_postgres();
    a.stop();
    a.configure("node_name = \"node-a\"\nnode_timeout_secs = 3");
    a.start_again();
    let b = a.join("node_name = \"node-b\"\nnode_timeout_secs = 3");
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

    // A session through node A, then A dies without a word.
    let (mut operator, id) = a.interactive("alice:web01", "alice-pw", "sleep 120");
    let nodes = b.nodes();
    assert_eq!(node(&nodes, "node-a")["live_sessions"], 1, "{nodes:#?}");
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
    // Heartbeats every half second, marked down after 3 s of silence, looked for every half
    // second: well within the timeout's double.
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
    // The session log was sealed by the node that closed it: it verifies.
    let verdict = b.cli(&["verify", &id, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&verdict.stdout).unwrap_or_default();
    assert_eq!(v["log"]["verdict"], "intact", "{v:#}");
    let _ = operator.kill();
    let _ = operator.wait();

    // A node that is up cannot be removed; one that is down can.
    let up = b.cli(&["node", "remove", "node-b"]);
    assert!(!up.status.success());
    assert!(
        String::from_utf8_lossy(&up.stderr).contains("is up: stop it first"),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    b.ok(&["node", "remove", "node-a"]);
    assert!(b.nodes().iter().all(|n| n["name"] != "node-a"));

    // A node with a master key of its own refuses to start, and says why.
    let (refused, said) = b.start_with_another_master_key();
    assert!(refused, "{said}");
    assert!(
        said.contains("does not belong to the store") && said.contains("same key"),
        "{said}"
    );
}
