#![allow(unreachable_pub, clippy::unwrap_used, clippy::expect_used)]
//! ARCHITECTURE.md is the code map: every crate of the workspace has its own heading there.

#[test]
fn every_crate_has_a_heading_in_the_architecture_map() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(root.join("crates")).expect("crates/") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        let heading = if name == "vigil" {
            "### `vigil` (binary)".to_owned()
        } else {
            format!("### `{name}`")
        };
        if !map.lines().any(|l| l.trim() == heading) {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "crates without a heading in ARCHITECTURE.md: {missing:?}"
    );
}

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file under `dir`, with its text, tests and fixtures left out.
fn sources(dir: &std::path::Path) -> Vec<(std::path::PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("readable source dir") {
            let path = entry.expect("entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                if name != "tests" {
                    stack.push(path);
                }
            } else if name.ends_with(".rs") && name != "tests.rs" {
                let text = std::fs::read_to_string(&path).expect("readable source");
                out.push((path, text));
            }
        }
    }
    out
}

/// One evidence path: nothing but the store's evidence module writes the outbox (or the two
/// logs it replaced), so no code path can record an event some other way.
#[test]
fn only_the_evidence_module_writes_evidence() {
    let mut offenders = Vec::new();
    for (path, text) in sources(&root().join("crates")) {
        if path.ends_with("vigil-store/src/evidence.rs") {
            continue;
        }
        for needle in [
            "INSERT INTO evidence",
            "INSERT INTO session_events",
            "INSERT INTO audit_log",
            "UPDATE evidence",
        ] {
            if text.contains(needle) {
                offenders.push(format!("{}: {needle}", path.display()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "evidence written around the outbox: {offenders:?}"
    );
}

/// One place for administrative actions: the API and the CLI change users, targets, logins,
/// grants and sessions only through `vigil_session::Admin`, which writes the evidence with the
/// change. A store mutation called from either would be a change without its evidence.
#[test]
fn the_api_and_the_cli_change_state_only_through_admin() {
    const ADMIN_CHANGES: &[&str] = &[
        "create_user",
        "set_user_disabled",
        "set_user_role",
        "set_user_password",
        "set_user_totp",
        "add_user_key",
        "delete_user_key",
        "release_user",
        "lock_user",
        "create_target",
        "set_target_address",
        "set_target_disabled",
        "delete_target",
        "set_target_host_key",
        "create_account",
        "set_account_secret",
        "delete_account",
        "create_grant",
        "delete_grant",
        "set_session_auditors",
        "set_prevent_purge",
        "clear_prevent_purge",
        "mark_purged",
        "create_api_token",
        "delete_api_token",
        "enqueue_command",
        "delete_web_sessions_of",
        "record(",
    ];
    let mut offenders = Vec::new();
    for dir in ["crates/vigil/src", "crates/vigil-api/src"] {
        for (path, text) in sources(&root().join(dir)) {
            for change in ADMIN_CHANGES {
                let call = if change.ends_with('(') {
                    format!(".{change}")
                } else {
                    format!(".{change}(")
                };
                // Sign-in and sign-out record their own entries with their web session.
                if path.ends_with("vigil-api/src/auth.rs") && *change == "record(" {
                    continue;
                }
                // `admin.set_target_address(...)` is the service itself: look at the receiver.
                let around_admin = text
                    .match_indices(&call)
                    .all(|(at, _)| text[..at].trim_end().ends_with("admin"));
                if !around_admin {
                    offenders.push(format!("{}: {call}", path.display()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "changes made around Admin: {offenders:?}"
    );
}

/// What each crate must not know, as `cargo metadata` sees the workspace: the dependency
/// graph points one way (DESIGN.md), and the pure crates stay pure.
#[test]
fn no_crate_depends_on_one_it_must_not_know() {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    // The I/O-free crates (values in, decisions or text out) know no storage, session,
    // protocol or runtime.
    const PURE: &[&str] = &[
        "vigil-vault",
        "vigil-store",
        "vigil-record",
        "vigil-session",
        "vigil-ssh",
        "vigil-api",
        "sqlx",
        "axum",
        "russh",
        "tokio",
    ];
    // crate -> what it must not depend on (normal dependencies).
    let forbidden: &[(&str, &[&str])] = &[
        (
            "vigil-core",
            &[
                "vigil-vault",
                "vigil-store",
                "vigil-record",
                "vigil-session",
                "vigil-ssh",
                "vigil-api",
                "sqlx",
                "axum",
                "russh",
                "tokio",
            ],
        ),
        (
            "vigil-vault",
            &[
                "vigil-store",
                "vigil-record",
                "vigil-session",
                "vigil-ssh",
                "vigil-api",
                "sqlx",
                "axum",
                "russh",
            ],
        ),
        (
            "vigil-store",
            &[
                "vigil-record",
                "vigil-session",
                "vigil-ssh",
                "vigil-api",
                "axum",
                "russh",
            ],
        ),
        (
            "vigil-record",
            &[
                "vigil-store",
                "vigil-session",
                "vigil-ssh",
                "vigil-api",
                "sqlx",
                "axum",
                "russh",
            ],
        ),
        ("vigil-audit", PURE),
        ("vigil-siem", PURE),
        // The forwarder reads the outbox and talks to receivers; it knows no session, no
        // SSH and no HTTP (a slow SIEM cannot reach into a session).
        (
            "vigil-forward",
            &[
                "vigil-session",
                "vigil-ssh",
                "vigil-api",
                "vigil-record",
                "axum",
                "russh",
            ],
        ),
        // Transfer inspection sees spooled files and policies: no store, no session, no
        // protocol (the session pipeline feeds it).
        (
            "vigil-transfer",
            &[
                "vigil-store",
                "vigil-session",
                "vigil-ssh",
                "vigil-api",
                "vigil-record",
                "sqlx",
                "axum",
                "russh",
            ],
        ),
        (
            "vigil-session",
            &["vigil-ssh", "vigil-api", "axum", "russh"],
        ),
        ("vigil-ssh", &["vigil-api", "axum", "sqlx"]),
        // The workstation agent speaks only the public agent API: no store, no session, no
        // server crate (it runs on workstations, far from the server's database).
        (
            "vigil-agent",
            &[
                "vigil-store",
                "vigil-session",
                "vigil-ssh",
                "vigil-api",
                "vigil-forward",
                "vigil-transfer",
                "sqlx",
                "axum",
                "russh",
            ],
        ),
        ("vigil-api", &["vigil-ssh", "russh"]),
    ];
    let mut offenders = Vec::new();
    for package in meta["packages"].as_array().expect("packages") {
        let name = package["name"].as_str().unwrap_or("");
        let Some((_, banned)) = forbidden.iter().find(|(n, _)| *n == name) else {
            continue;
        };
        for dep in package["dependencies"].as_array().expect("dependencies") {
            let dep_name = dep["name"].as_str().unwrap_or("");
            let normal = dep["kind"].is_null();
            if normal && banned.contains(&dep_name) {
                offenders.push(format!("{name} -> {dep_name}"));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "dependencies that break the layering: {offenders:?}"
    );
}

/// docs/EVENTS.md is the written spec of the evidence kinds: its table is the one the spec in
/// `vigil-core` generates. `VIGIL_BLESS=1` rewrites the table after a change to the spec.
#[test]
fn the_events_document_matches_the_spec() {
    let path = root().join("docs/EVENTS.md");
    let doc = std::fs::read_to_string(&path).expect("docs/EVENTS.md");
    let table = vigil_core::spec_markdown();
    if std::env::var_os("VIGIL_BLESS").is_some() {
        let head = doc
            .split("| kind | log |")
            .next()
            .unwrap_or(&doc)
            .to_owned();
        std::fs::write(&path, head + &table).expect("docs/EVENTS.md is writable");
        return;
    }
    assert!(
        doc.contains(&table),
        "docs/EVENTS.md differs from the spec: run `VIGIL_BLESS=1 cargo test -p vigil --test architecture` and review the diff"
    );
}

/// Modules of a crate import each other one way: `crate::a` in `b` and `crate::b` in `a` (or
/// any longer loop) is a file circle, which the map cannot describe as layers.
#[test]
fn no_crate_has_a_circle_of_modules() {
    let mut circles = Vec::new();
    for entry in std::fs::read_dir(root().join("crates")).expect("crates/") {
        let src = entry.expect("entry").path().join("src");
        if !src.is_dir() {
            continue;
        }
        // Top-level modules: `name.rs` or `name/` (its files count as the module).
        let mut edges: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
            Default::default();
        let module_of = |path: &std::path::Path| -> Option<String> {
            let rel = path.strip_prefix(&src).ok()?;
            let first = rel
                .components()
                .next()?
                .as_os_str()
                .to_string_lossy()
                .into_owned();
            Some(first.trim_end_matches(".rs").to_owned())
        };
        let files = sources(&src);
        let names: std::collections::BTreeSet<String> =
            files.iter().filter_map(|(p, _)| module_of(p)).collect();
        for (path, text) in &files {
            let Some(from) = module_of(path) else {
                continue;
            };
            if from == "lib" || from == "main" {
                continue;
            }
            for (at, _) in text.match_indices("crate::") {
                let rest = &text[at + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if names.contains(&name) && name != from {
                    edges.entry(from.clone()).or_default().insert(name);
                }
            }
        }
        // Depth-first search for a back edge.
        fn visit(
            node: &str,
            edges: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
            path: &mut Vec<String>,
            done: &mut std::collections::BTreeSet<String>,
            found: &mut Vec<String>,
        ) {
            if let Some(start) = path.iter().position(|n| n == node) {
                found.push(format!("{} -> {node}", path[start..].join(" -> ")));
                return;
            }
            if done.contains(node) {
                return;
            }
            path.push(node.to_owned());
            for next in edges.get(node).into_iter().flatten() {
                visit(next, edges, path, done, found);
            }
            path.pop();
            done.insert(node.to_owned());
        }
        let mut done = std::collections::BTreeSet::new();
        for node in edges.keys() {
            let mut found = Vec::new();
            visit(node, &edges, &mut Vec::new(), &mut done, &mut found);
            for f in found {
                circles.push(format!("{}: {f}", src.display()));
            }
        }
    }
    assert!(
        circles.is_empty(),
        "modules importing each other in a circle: {circles:#?}"
    );
}

/// A store transaction reads through its own connection: a `Tx` method that called the pool
/// (`self.store.session(..)`) would wait for a second connection while holding one, and with
/// every pooled connection in a transaction the store would stall.
#[test]
fn store_transactions_read_through_their_own_connection() {
    let mut offenders = Vec::new();
    for (path, text) in sources(&root().join("crates/vigil-store/src")) {
        let mut rest = text.as_str();
        while let Some(start) = rest.find("impl Tx {") {
            let block = &rest[start..];
            let end = block.find("\n}\n").unwrap_or(block.len());
            let body: String = block[..end].split_whitespace().collect();
            for (at, _) in body.match_indices("self.store.") {
                let after = &body[at + "self.store.".len()..];
                let name: String = after
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                // A method call, not a field (`self.store.master`).
                if after[name.len()..].starts_with('(') {
                    offenders.push(format!("{}: self.store.{name}(..)", path.display()));
                }
            }
            rest = &block[end..];
        }
    }
    assert!(
        offenders.is_empty(),
        "Tx methods that read through the pool: {offenders:?}"
    );
}
