//! The relay between real OpenSSH `scp -f` (source) and `scp -t` (sink) processes, as the
//! gateway stands between a target and an operator's client.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use super::*;
use crate::spool::Spool;
use crate::test_log::Log;

fn scp(args: &[&str]) -> Child {
    Command::new("scp")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("OpenSSH's scp (scripts/test installs openssh-client)")
}

fn end(child: &mut Child) -> End<tokio::process::ChildStdout, tokio::process::ChildStdin> {
    End {
        read: child.stdout.take().unwrap(),
        write: child.stdin.take().unwrap(),
    }
}

fn inspector(spool: &Path, policy: &vigil_core::TransferPolicy, log: Arc<Log>) -> Inspector {
    let plugins = crate::builtin::chain_for(policy, std::time::Duration::from_secs(5)).unwrap();
    Inspector::new(Spool::new(spool), plugins, log, "scp")
}

fn tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            if p.is_dir() {
                out.push((format!("{rel}/"), Vec::new()));
                stack.push(p);
            } else {
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

async fn download(
    policy: &vigil_core::TransferPolicy,
    build: impl FnOnce(&Path),
) -> (tempfile::TempDir, Arc<Log>, std::process::ExitStatus) {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&dst).unwrap();
    build(&src);
    let log = Arc::new(Log::default());
    let inspector = inspector(&dir.path().join("spool"), policy, Arc::clone(&log));
    let mut source = scp(&["-r", "-f", src.to_str().unwrap()]);
    let mut sink = scp(&["-r", "-t", dst.to_str().unwrap()]);
    let run = ScpRun {
        direction: Direction::Download,
        paths: vec![src.display().to_string()],
    };
    relay(&run, &inspector, end(&mut source), end(&mut sink))
        .await
        .unwrap();
    let status = sink.wait().await.unwrap();
    let _ = source.wait().await;
    assert_eq!(
        std::fs::read_dir(dir.path().join("spool"))
            .map(|d| d.count())
            .unwrap_or(0),
        0,
        "nothing stays in the spool"
    );
    (dir, log, status)
}

#[tokio::test]
async fn a_tree_arrives_whole_when_every_file_is_allowed() {
    let (dir, log, status) = download(&vigil_core::TransferPolicy::default(), |src| {
        std::fs::write(src.join("a.txt"), b"alpha\n").unwrap();
        std::fs::create_dir(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/b.bin"), vec![0u8, 1, 2, 255, b'\n', b'C']).unwrap();
        std::fs::write(src.join("sub/empty"), b"").unwrap();
        let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(src.join("big"), big).unwrap();
    })
    .await;
    assert!(status.success());
    assert_eq!(
        tree(&dir.path().join("src")),
        tree(&dir.path().join("dst/src"))
    );
    let decided = log.decided.lock().unwrap().clone();
    assert_eq!(decided.len(), 4);
    let src = dir.path().join("src").display().to_string();
    let b = decided
        .iter()
        .find(|d| d.0 == format!("{src}/sub/b.bin"))
        .expect("paths name where the file was on the target");
    assert!(b.1 && b.2.is_none() && b.3 == 6);
    assert_eq!(b.4.len(), 64);
}

#[tokio::test]
async fn a_refused_file_leaves_nothing_and_the_rest_goes_on() {
    let policy = vigil_core::TransferPolicy {
        deny_extensions: vec!["sh".into()],
        max_size: Some(1000),
        ..Default::default()
    };
    let (dir, log, status) = download(&policy, |src| {
        std::fs::write(src.join("ok.txt"), b"fine\n").unwrap();
        std::fs::write(src.join("run.sh"), b"#!/bin/sh\nrm -rf /\n").unwrap();
        std::fs::write(src.join("big.txt"), vec![b'x'; 5000]).unwrap();
    })
    .await;
    // The sink was told: an error line counts against its exit status.
    assert!(!status.success());
    let got = tree(&dir.path().join("dst/src"));
    assert_eq!(got, vec![("ok.txt".to_string(), b"fine\n".to_vec())]);
    let mut decided = log.decided.lock().unwrap().clone();
    decided.sort();
    let summary: Vec<_> = decided
        .iter()
        .map(|d| (d.0.rsplit('/').next().unwrap().to_owned(), d.1, d.2.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("big.txt".into(), false, Some("max-size".into())),
            ("ok.txt".into(), true, None),
            ("run.sh".into(), false, Some("extension".into())),
        ]
    );
}

#[tokio::test]
async fn an_upload_refusal_is_the_answer_to_the_body_and_the_sink_never_sees_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("dst");
    std::fs::create_dir(&dst).unwrap();
    let log = Arc::new(Log::default());
    let policy = vigil_core::TransferPolicy {
        deny_extensions: vec!["exe".into()],
        ..Default::default()
    };
    let inspector = inspector(&dir.path().join("spool"), &policy, Arc::clone(&log));
    // A scripted operator client on one side of a pipe, the real sink on the other.
    let (client, gateway_side) = tokio::io::duplex(1 << 16);
    let (gr, gw) = tokio::io::split(gateway_side);
    let mut sink = scp(&["-t", dst.to_str().unwrap()]);
    let run = ScpRun {
        direction: Direction::Upload,
        paths: vec![dst.display().to_string()],
    };
    let client_task = tokio::spawn(async move {
        let (mut r, mut w) = tokio::io::split(client);
        let mut got = Vec::new();
        let mut byte = [0u8; 1];
        r.read_exact(&mut byte).await.unwrap();
        got.push(byte[0]); // ready
        for (name, body) in [("evil.exe", &b"MZ"[..]), ("fine.txt", &b"hello"[..])] {
            w.write_all(format!("C0644 {} {name}\n", body.len()).as_bytes())
                .await
                .unwrap();
            r.read_exact(&mut byte).await.unwrap();
            got.push(byte[0]); // the gateway takes the file
            w.write_all(body).await.unwrap();
            w.write_all(b"\0").await.unwrap();
            let mut answer = vec![0u8; 1];
            r.read_exact(&mut answer).await.unwrap();
            if answer[0] != 0 {
                let mut b = [0u8; 1];
                while b[0] != b'\n' {
                    r.read_exact(&mut b).await.unwrap();
                    answer.push(b[0]);
                }
            }
            got.extend(answer);
        }
        w.shutdown().await.unwrap();
        got
    });
    relay(
        &run,
        &inspector,
        End {
            read: gr,
            write: gw,
        },
        end(&mut sink),
    )
    .await
    .unwrap();
    let got = String::from_utf8(client_task.await.unwrap()).unwrap();
    let refusal = format!(
        "\x01scp: vigil: {}/evil.exe refused by extension: files ending in .exe are refused\n",
        dst.display()
    );
    assert_eq!(got, format!("\0\0{refusal}\0\0"));
    assert!(sink.wait().await.unwrap().success());
    assert_eq!(tree(&dst), vec![("fine.txt".into(), b"hello".to_vec())]);
    assert!(log.undelivered.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_sinks_own_refusal_reaches_the_source_and_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("a.txt"), b"a").unwrap();
    let log = Arc::new(Log::default());
    let inspector = inspector(
        &dir.path().join("spool"),
        &Default::default(),
        Arc::clone(&log),
    );
    // A sink that cannot write where it is told to.
    let mut source = scp(&["-f", src.join("a.txt").to_str().unwrap()]);
    let mut sink = scp(&["-t", "/proc/vigil-no-such-dir/x"]);
    let run = ScpRun {
        direction: Direction::Download,
        paths: vec![src.join("a.txt").display().to_string()],
    };
    relay(&run, &inspector, end(&mut source), end(&mut sink))
        .await
        .unwrap();
    let undelivered = log.undelivered.lock().unwrap().clone();
    assert_eq!(undelivered.len(), 1, "{undelivered:?}");
    assert!(
        undelivered[0].1.contains("/proc/vigil-no-such-dir"),
        "{undelivered:?}"
    );
    assert!(!sink.wait().await.unwrap().success());
    let _ = source.wait().await;
}

#[test]
fn paths_name_where_files_land_or_come_from() {
    let up = ScpRun {
        direction: Direction::Upload,
        paths: vec!["/tmp/x.sh".into()],
    };
    assert_eq!(
        up.file_path(&[], "a.txt"),
        ("/tmp/x.sh/a.txt".into(), Some("/tmp/x.sh".into()))
    );
    assert_eq!(
        up.file_path(&[], "x.sh"),
        ("/tmp/x.sh".into(), Some("/tmp/x.sh/x.sh".into()))
    );
    let up = ScpRun {
        direction: Direction::Upload,
        paths: vec!["/srv/new/".into()],
    };
    assert_eq!(
        up.file_path(&["d".into(), "e".into()], "f"),
        ("/srv/new/d/e/f".into(), Some("/srv/new/e/f".into()))
    );
    let down = ScpRun {
        direction: Direction::Download,
        paths: vec!["/etc/hosts".into(), "/srv/tree/".into()],
    };
    assert_eq!(down.file_path(&[], "hosts").0, "/etc/hosts");
    assert_eq!(
        down.file_path(&["tree".into(), "x".into()], "y").0,
        "/srv/tree/x/y"
    );
    assert_eq!(down.file_path(&[], "other").0, "./other");
}
