use std::time::Duration;

use vigil_core::Direction;

use super::*;
use crate::spool::Spool;

async fn spooled(dir: &std::path::Path, path: &str, bytes: &[u8]) -> Spooled {
    let mut w = Spool::new(dir)
        .writer(path, Direction::Upload)
        .await
        .unwrap();
    w.write_at(0, bytes).await.unwrap();
    w.finish().await.unwrap()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn size_name_content_and_hash_lists() {
    let dir = tempfile::tempdir().unwrap();
    let text = spooled(dir.path(), "/srv/notes.txt", b"just text\n").await;
    // An ELF executable under a harmless name.
    let mut elf = b"\x7fELF\x02\x01\x01\x00".to_vec();
    elf.resize(64, 0);
    elf[16] = 2; // e_type: executable
    let elf = spooled(dir.path(), "/srv/readme.txt", &elf).await;

    assert_eq!(MaxSize(10).check(&text).await.unwrap(), Verdict::Allow);
    assert!(
        matches!(MaxSize(9).check(&text).await.unwrap(), Verdict::Deny(r) if r.contains("over the limit of 9"))
    );

    let ext = DenyExtensions::new(&strings(&[".EXE", "tar.gz", "sh"]));
    let table: &[(&str, bool)] = &[
        ("/a/b/setup.exe", true),
        ("/a/b/SETUP.Exe", true),
        ("/a/b/setup.exe.", true),
        ("/a/b/setup.exe ", true),
        ("x.tar.gz", true),
        ("run.sh", true),
        ("/a/exe", false),
        ("/a/.sh", false),
        ("/a/b.exe/notes.txt", false),
        ("/a/tar.gz.txt", false),
    ];
    for (path, refused) in table {
        let f = spooled(dir.path(), path, b"x").await;
        let v = ext.check(&f).await.unwrap();
        assert_eq!(matches!(v, Verdict::Deny(_)), *refused, "{path}: {v:?}");
    }

    // A name the file may land under counts as much as the name it was sent with.
    let mut w = Spool::new(dir.path())
        .writer("/tmp/notes.txt", Direction::Upload)
        .await
        .unwrap();
    w.also_named("/tmp/run.sh".into());
    w.write_at(0, b"x").await.unwrap();
    let aliased = w.finish().await.unwrap();
    assert!(matches!(ext.check(&aliased).await.unwrap(), Verdict::Deny(r) if r.contains(".sh")));

    let types = DenyContentTypes::new(&strings(&["application/x-executable"]));
    assert_eq!(types.check(&text).await.unwrap(), Verdict::Allow);
    let v = types.check(&elf).await.unwrap();
    assert!(
        matches!(&v, Verdict::Deny(r) if r.contains("application/x-executable")),
        "{v:?}"
    );

    let hashes = DenySha256::new(&[text.info.sha256.to_uppercase()]);
    assert!(matches!(
        hashes.check(&text).await.unwrap(),
        Verdict::Deny(_)
    ));
    assert_eq!(hashes.check(&elf).await.unwrap(), Verdict::Allow);
}

#[tokio::test]
async fn an_external_command_decides_by_its_exit_status_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("check");
    // Refuses files holding FORBIDDEN, saying so; reads its metadata from stdin.
    std::fs::write(
        &script,
        "#!/bin/sh\nmeta=$(cat)\ncase \"$meta\" in *'\"direction\":\"upload\"'*) ;; *) echo 'no direction'; exit 3;; esac\nif grep -q FORBIDDEN \"$1\"; then echo '  contains a forbidden word  '; exit 1; fi\nexit 0\n",
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("755")
        .arg(&script)
        .status()
        .unwrap();
    let plugin = Command::new(&script, Duration::from_secs(10));
    let good = spooled(dir.path(), "/srv/a", b"fine").await;
    let bad = spooled(dir.path(), "/srv/b", b"this is FORBIDDEN").await;
    assert_eq!(plugin.check(&good).await.unwrap(), Verdict::Allow);
    assert_eq!(
        plugin.check(&bad).await.unwrap(),
        Verdict::Deny("contains a forbidden word".into())
    );
    // Silent refusals and missing programs say what happened.
    let silent = dir.path().join("silent");
    std::fs::write(&silent, "#!/bin/sh\nexit 7\n").unwrap();
    std::process::Command::new("chmod")
        .arg("755")
        .arg(&silent)
        .status()
        .unwrap();
    let v = Command::new(&silent, Duration::from_secs(10))
        .check(&good)
        .await
        .unwrap();
    assert!(
        matches!(&v, Verdict::Deny(r) if r.contains("exit status 7")),
        "{v:?}"
    );
    let missing = Command::new("/nonexistent/check", Duration::from_secs(10));
    assert!(missing.check(&good).await.is_err());
    // A program that hangs is refused by the chain's timeout, and killed.
    let hang = dir.path().join("hang");
    std::fs::write(&hang, "#!/bin/sh\nsleep 30\n").unwrap();
    std::process::Command::new("chmod")
        .arg("755")
        .arg(&hang)
        .status()
        .unwrap();
    let plugins: Vec<Box<dyn Plugin>> =
        vec![Box::new(Command::new(&hang, Duration::from_millis(300)))];
    let started = std::time::Instant::now();
    let d = crate::decide(&plugins, &good).await;
    assert!(matches!(d.verdict, Verdict::Deny(r) if r.contains("took longer")));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_policy_gives_its_checks_in_order() {
    use vigil_core::TransferPolicy;
    let p = TransferPolicy {
        max_size: Some(10),
        deny_extensions: strings(&["exe"]),
        deny_content_types: strings(&["application/x-executable"]),
        deny_sha256: vec!["a".repeat(64)],
        command: Some("/usr/local/bin/check".into()),
        ..TransferPolicy::default()
    };
    let names: Vec<String> = chain_for(&p, Duration::from_secs(5))
        .unwrap()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    assert_eq!(
        names,
        ["max-size", "extension", "content-type", "sha256", "command"]
    );
    assert!(
        chain_for(&TransferPolicy::default(), Duration::from_secs(5))
            .unwrap()
            .is_empty()
    );
    let icap = TransferPolicy {
        icap: Some("icap://127.0.0.1:1344/avscan".into()),
        yara: None,
        ..p.clone()
    };
    let names: Vec<String> = chain_for(&icap, Duration::from_secs(5))
        .unwrap()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    assert_eq!(names.last().map(String::as_str), Some("icap"));
    let bad_icap = TransferPolicy {
        icap: Some("http://scanner/".into()),
        ..TransferPolicy::default()
    };
    assert!(
        matches!(chain_for(&bad_icap, Duration::from_secs(5)), Err(e) if e.contains("ICAP URL"))
    );
    // YARA rules need the feature (and a file that compiles): the error says which.
    let yara = TransferPolicy {
        yara: Some("/nonexistent/rules.yar".into()),
        ..TransferPolicy::default()
    };
    let e = chain_for(&yara, Duration::from_secs(5)).err().unwrap();
    if cfg!(feature = "yara") {
        assert!(e.contains("cannot read"), "{e}");
    } else {
        assert!(e.contains("--features yara"), "{e}");
    }
}
