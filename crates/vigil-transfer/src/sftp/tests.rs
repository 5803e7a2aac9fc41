//! The SFTP relay between a client (russh-sftp's raw session, so every status is seen) and a
//! real OpenSSH `sftp-server` process as the target.

use std::process::Stdio;
use std::sync::Arc;

use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as ClientError;
use russh_sftp::protocol::{FileAttributes, OpenFlags, StatusCode};

use super::*;
use crate::spool::Spool;
use crate::test_log::Log;

const SFTP_SERVER: &str = "/usr/lib/openssh/sftp-server";

struct Setup {
    dir: tempfile::TempDir,
    log: Arc<Log>,
    client: RawSftpSession,
    relay: tokio::task::JoinHandle<Result<(), SftpRelayError>>,
    notices: tokio::sync::mpsc::UnboundedReceiver<String>,
    server: tokio::process::Child,
}

impl Setup {
    async fn start(policy: vigil_core::TransferPolicy, directions: Directions) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("target")).unwrap();
        let mut server = tokio::process::Command::new(SFTP_SERVER)
            .current_dir(dir.path().join("target"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("OpenSSH's sftp-server (scripts/test installs openssh-server)");
        let target = tokio::io::join(server.stdout.take().unwrap(), server.stdin.take().unwrap());
        let log = Arc::new(Log::default());
        let plugins =
            crate::builtin::chain_for(&policy, std::time::Duration::from_secs(5)).unwrap();
        let inspector = Inspector::new(
            Spool::new(dir.path().join("spool")),
            plugins,
            Arc::clone(&log) as Arc<dyn crate::TransferLog>,
            "sftp",
        );
        let (client_end, gateway_end) = tokio::io::duplex(1 << 20);
        let (notices_tx, notices) = tokio::sync::mpsc::unbounded_channel();
        let relay = tokio::spawn(relay(
            gateway_end,
            target,
            Arc::new(inspector),
            directions,
            notices_tx,
        ));
        let client = RawSftpSession::new(client_end);
        client.init().await.unwrap();
        Setup {
            dir,
            log,
            client,
            relay,
            notices,
            server,
        }
    }

    /// What the operator was told since the last call.
    fn told(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(n) = self.notices.try_recv() {
            out.push(n);
        }
        out
    }

    fn target(&self) -> std::path::PathBuf {
        self.dir.path().join("target")
    }

    fn path(&self, name: &str) -> String {
        self.target().join(name).display().to_string()
    }

    async fn upload(&self, name: &str, chunks: &[(u64, &[u8])]) -> Result<(), ClientError> {
        let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE;
        let h = self
            .client
            .open(self.path(name), flags, FileAttributes::empty())
            .await?
            .handle;
        for (offset, data) in chunks {
            self.client
                .write(h.as_str(), *offset, data.to_vec())
                .await?;
        }
        self.client.close(h).await.map(|_| ())
    }

    async fn download(&self, name: &str) -> Result<Vec<u8>, ClientError> {
        let h = self
            .client
            .open(self.path(name), OpenFlags::READ, FileAttributes::empty())
            .await?
            .handle;
        let mut out = Vec::new();
        loop {
            match self
                .client
                .read(h.as_str(), out.len() as u64, 32 * 1024)
                .await
            {
                Ok(d) => out.extend(d.data),
                Err(ClientError::Status(s)) if s.status_code == StatusCode::Eof => break,
                Err(e) => return Err(e),
            }
        }
        self.client.close(h).await?;
        Ok(out)
    }

    async fn end(self) -> Arc<Log> {
        let Setup {
            dir,
            log,
            client,
            relay,
            mut server,
            ..
        } = self;
        drop(client);
        relay.await.unwrap().unwrap();
        // The target's sftp-server sees the end of its input and exits.
        let status = tokio::time::timeout(std::time::Duration::from_secs(10), server.wait())
            .await
            .expect("the target's session ends with the operator's")
            .unwrap();
        assert!(status.success());
        let spool = dir.path().join("spool");
        let left = std::fs::read_dir(&spool).map(|d| d.count()).unwrap_or(0);
        assert_eq!(left, 0, "nothing stays in the spool");
        log
    }
}

fn denied_with(e: ClientError, needle: &str) {
    match e {
        ClientError::Status(s) => {
            assert_eq!(s.status_code, StatusCode::PermissionDenied, "{s:?}");
            assert!(s.error_message.contains(needle), "{s:?}");
        }
        other => panic!("expected permission denied, got {other:?}"),
    }
}

fn both() -> Directions {
    Directions {
        upload: true,
        download: true,
    }
}

#[tokio::test]
async fn files_pass_whole_both_ways_when_allowed_and_writes_may_come_in_any_order() {
    let s = Setup::start(Default::default(), both()).await;
    let big: Vec<u8> = (0..700_000u32).map(|i| (i * 13 % 251) as u8).collect();
    // Out of order: the chunks in reverse.
    let mut chunks: Vec<(u64, &[u8])> = big
        .chunks(64 * 1024)
        .enumerate()
        .map(|(i, c)| ((i * 64 * 1024) as u64, c))
        .collect();
    chunks.reverse();
    s.upload("big.bin", &chunks).await.unwrap();
    assert_eq!(std::fs::read(s.target().join("big.bin")).unwrap(), big);
    assert_eq!(s.download("big.bin").await.unwrap(), big);
    // A resumed upload continues the target's file.
    std::fs::write(s.target().join("resume.txt"), b"hello ").unwrap();
    let h = s
        .client
        .open(
            s.path("resume.txt"),
            OpenFlags::WRITE,
            FileAttributes::empty(),
        )
        .await
        .unwrap()
        .handle;
    s.client
        .write(h.as_str(), 6, b"world".to_vec())
        .await
        .unwrap();
    s.client.close(h).await.unwrap();
    assert_eq!(
        std::fs::read(s.target().join("resume.txt")).unwrap(),
        b"hello world"
    );
    let log = s.end().await;
    let decided = log.decided.lock().unwrap().clone();
    assert_eq!(decided.len(), 3, "{decided:?}");
    assert!(decided.iter().all(|d| d.1 && d.4.len() == 64));
    assert_eq!(decided[0].3, 700_000);
}

#[tokio::test]
async fn a_refused_upload_never_reaches_the_target_and_close_says_why() {
    let policy = vigil_core::TransferPolicy {
        deny_extensions: vec!["sh".into()],
        deny_content_types: vec!["application/x-executable".into()],
        ..Default::default()
    };
    let mut s = Setup::start(policy, both()).await;
    let e = s
        .upload("run.sh", &[(0, b"#!/bin/sh\n")])
        .await
        .unwrap_err();
    denied_with(e, "refused by extension");
    let told = s.told();
    assert_eq!(told.len(), 1);
    assert!(told[0].contains("run.sh refused by extension"), "{told:?}");
    let mut elf = b"\x7fELF\x02\x01\x01\x00".to_vec();
    elf.resize(64, 0);
    elf[16] = 2;
    let e = s.upload("notes.txt", &[(0, &elf)]).await.unwrap_err();
    denied_with(e, "application/x-executable");
    assert_eq!(
        std::fs::read_dir(s.target()).unwrap().count(),
        0,
        "not even an empty file"
    );
    // Renaming an allowed file to a refused name is refused too.
    s.upload("fine.txt", &[(0, b"fine")]).await.unwrap();
    let e = s
        .client
        .rename(s.path("fine.txt"), s.path("fine.sh"))
        .await
        .unwrap_err();
    denied_with(e, "refused by extension");
    assert!(s.target().join("fine.txt").exists());
    let log = s.end().await;
    let refused: Vec<_> = log
        .decided
        .lock()
        .unwrap()
        .iter()
        .filter(|d| !d.1)
        .map(|d| d.2.clone().unwrap())
        .collect();
    assert_eq!(refused, ["extension", "content-type", "extension"]);
}

#[tokio::test]
async fn a_refused_download_fails_at_open_and_directions_are_enforced_per_file() {
    let policy = vigil_core::TransferPolicy {
        max_size: Some(10),
        ..Default::default()
    };
    let directions = Directions {
        upload: false,
        download: true,
    };
    let s = Setup::start(policy, directions).await;
    std::fs::write(s.target().join("small.txt"), b"small").unwrap();
    std::fs::write(s.target().join("large.txt"), b"larger than ten").unwrap();
    assert_eq!(s.download("small.txt").await.unwrap(), b"small");
    denied_with(
        s.download("large.txt").await.unwrap_err(),
        "refused by max-size",
    );
    let e = s.upload("up.txt", &[(0, b"x")]).await.unwrap_err();
    denied_with(e, "uploads are refused");
    assert!(!s.target().join("up.txt").exists());
    s.end().await;
}

#[tokio::test]
async fn other_operations_pass_through_and_changes_are_logged() {
    let s = Setup::start(Default::default(), both()).await;
    s.client
        .mkdir(s.path("d"), FileAttributes::empty())
        .await
        .unwrap();
    s.upload("d/a.txt", &[(0, b"a")]).await.unwrap();
    let h = s.client.opendir(s.path("d")).await.unwrap().handle;
    let names = s.client.readdir(h.as_str()).await.unwrap();
    assert!(names.files.iter().any(|f| f.filename == "a.txt"));
    s.client.close(h).await.unwrap();
    let attrs = s.client.stat(s.path("d/a.txt")).await.unwrap();
    assert_eq!(attrs.attrs.size, Some(1));
    s.client
        .rename(s.path("d/a.txt"), s.path("d/b.txt"))
        .await
        .unwrap();
    s.client.remove(s.path("d/b.txt")).await.unwrap();
    assert!(s.client.remove(s.path("d/none")).await.is_err());
    s.client.rmdir(s.path("d")).await.unwrap();
    assert!(!s.target().join("d").exists());
    let target = s.target();
    let log = s.end().await;
    let ops = log.operations.lock().unwrap().clone();
    let p = |n: &str| target.join(n).display().to_string();
    assert_eq!(
        ops,
        vec![
            format!("mkdir {}", p("d")),
            format!("list {}", p("d")),
            format!("rename {} -> {}", p("d/a.txt"), p("d/b.txt")),
            format!("remove {}", p("d/b.txt")),
            format!("remove {} (failed)", p("d/none")),
            format!("rmdir {}", p("d")),
        ]
    );
}

#[tokio::test]
async fn a_file_past_the_size_limit_or_with_holes_is_refused_without_being_held() {
    let policy = vigil_core::TransferPolicy {
        max_size: Some(100_000),
        ..Default::default()
    };
    let mut s = Setup::start(policy, both()).await;
    // Past the limit: refused at CLOSE, and the spool let go of it at the first byte over.
    let piece = vec![7u8; 60_000];
    let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE;
    let h = s
        .client
        .open(s.path("big.bin"), flags, FileAttributes::empty())
        .await
        .unwrap()
        .handle;
    s.client.write(h.as_str(), 0, piece.clone()).await.unwrap();
    s.client
        .write(h.as_str(), 60_000, piece.clone())
        .await
        .unwrap();
    let spooled = std::fs::read_dir(s.dir.path().join("spool"))
        .unwrap()
        .count();
    assert_eq!(spooled, 0, "nothing held past the limit");
    let e = s.client.close(h).await.unwrap_err();
    denied_with(e, "grew past the limit of 100000 bytes");
    // Five bytes far into the file, nothing before: refused, never hashed nor delivered.
    let e = s
        .upload("sparse.bin", &[(50_000, b"hello")])
        .await
        .unwrap_err();
    denied_with(e, "never written");
    assert_eq!(std::fs::read_dir(s.target()).unwrap().count(), 0);
    assert_eq!(s.told().len(), 2);
    let log = s.end().await;
    let refused: Vec<_> = log
        .decided
        .lock()
        .unwrap()
        .iter()
        .map(|d| d.2.clone().unwrap_or_default())
        .collect();
    assert_eq!(refused, ["max-size", "spool"]);
}
