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
