//! Any bytes as an operator's SFTP stream through the gateway's SFTP relay, against a target
//! that answers every request with "no such file" (so uploads go as far as the spool, the
//! decision and a refused landing): no panic, no hang, and nothing left in the spool.
#![no_main]

use std::sync::Arc;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vigil_transfer::{BoxFuture, Checked, FileInfo, Inspector, Spool, TransferLog};

struct Quiet;

impl TransferLog for Quiet {
    fn decided<'a>(&'a self, _: Checked<'a>) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
    fn undelivered<'a>(&'a self, _: &'a str, _: &'a FileInfo, _: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
    fn operation<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: &'a str,
        _: Option<&'a str>,
        _: Option<&'a str>,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

/// A target that answers INIT with VERSION 3 and everything else with SSH_FX_NO_SUCH_FILE.
async fn refusing_target(mut s: tokio::io::DuplexStream) {
    loop {
        let mut len = [0u8; 4];
        if s.read_exact(&mut len).await.is_err() {
            return;
        }
        let len = u32::from_be_bytes(len) as usize;
        let mut body = vec![0u8; len];
        if len == 0 || len > 1 << 20 || s.read_exact(&mut body).await.is_err() {
            return;
        }
        let reply = if body[0] == 1 {
            vec![0, 0, 0, 5, 2, 0, 0, 0, 3]
        } else if body.len() >= 5 {
            let mut r = vec![0, 0, 0, 17, 101];
            r.extend_from_slice(&body[1..5]);
            r.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0]);
            r
        } else {
            return;
        };
        if s.write_all(&reply).await.is_err() {
            return;
        }
    }
}

/// One runtime and one spool directory for the whole run: building them per input cost
/// more than the relay itself (about 850 executions per second). Each input must leave the
/// runtime without tasks and the spool empty, which the target checks.
struct Bench {
    runtime: tokio::runtime::Runtime,
    spool: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

static BENCH: std::sync::LazyLock<Bench> = std::sync::LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("a temporary directory");
    Bench {
        runtime: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime"),
        spool: dir.path().join("spool"),
        _dir: dir,
    }
});

fuzz_target!(|data: &[u8]| {
    let Bench { runtime, spool, .. } = &*BENCH;
    runtime.block_on(async {
        let (operator, gateway_side) = tokio::io::duplex(1 << 16);
        let (target, target_side) = tokio::io::duplex(1 << 16);
        let target_task = tokio::spawn(refusing_target(target_side));
        let inspector = Inspector::new(Spool::new(spool), Vec::new(), Arc::new(Quiet), "sftp");
        let (notices, _told) = tokio::sync::mpsc::unbounded_channel();
        let directions = vigil_transfer::sftp::Directions {
            upload: true,
            download: true,
        };
        let relay = tokio::spawn(vigil_transfer::sftp::relay(
            gateway_side,
            target,
            Arc::new(inspector),
            directions,
            notices,
        ));
        // The operator: an INIT first (so the stream reaches the handler), then the input.
        let (mut r, mut w) = tokio::io::split(operator);
        let drain = tokio::spawn(async move {
            let mut buf = vec![0u8; 1 << 16];
            while matches!(r.read(&mut buf).await, Ok(n) if n > 0) {}
        });
        let _ = w.write_all(&[0, 0, 0, 5, 1, 0, 0, 0, 3]).await;
        let _ = w.write_all(data).await;
        let _ = w.shutdown().await;
        drop(w);
        tokio::time::timeout(Duration::from_secs(10), relay)
            .await
            .expect("the relay ends when the operator's stream does")
            .unwrap()
            .unwrap();
        let _ = drain.await;
        tokio::time::timeout(Duration::from_secs(10), target_task)
            .await
            .expect("the target ends when the relay lets go of it")
            .unwrap();
        // The SFTP library's own tasks (its server and its client's reader) end when their
        // streams do, which may take them another poll or two: wait for them, boundedly, so
        // that a task that never ends is still caught.
        let metrics = tokio::runtime::Handle::current().metrics();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut polls = 0u32;
        while metrics.num_alive_tasks() > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "a task outlived its input"
            );
            polls += 1;
            if polls < 100 {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    });
    let left = std::fs::read_dir(spool).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "a spooled file outlived its session");
});
