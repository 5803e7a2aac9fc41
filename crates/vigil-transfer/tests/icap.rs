#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The ICAP plugin against a real chain on loopback: c-icap's virus_scan service backed by
//! clamd with a custom signature (no signature download: offline). scripts/test installs
//! `clamav-daemon`, `c-icap` and `libc-icap-mod-virus-scan`; this test starts its own
//! servers on free ports and stops them.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vigil_core::{Direction, TransferPolicy};
use vigil_transfer::{Spool, Verdict, decide};

const SIGNATURE: &[u8] = b"VIGIL-TEST-MALWARE-SIGNATURE";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(port: u16, child: &mut Child, what: &str, log: &Path) {
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{what} exited ({status}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not listen on {port} within 60 s");
}

/// clamd with only the test signature, and c-icap in front of it; returns the ICAP URL.
fn start_chain(dir: &Path) -> (String, Vec<Server>) {
    let db = dir.join("db");
    std::fs::create_dir_all(&db).unwrap();
    let hex: String = SIGNATURE.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(db.join("vigil.ndb"), format!("Vigil.Test.Body:0:*:{hex}\n")).unwrap();
    let (clamd_port, icap_port) = (free_port(), free_port());
    let d = dir.display();
    std::fs::write(
        dir.join("clamd.conf"),
        format!(
            "Foreground yes\nTCPSocket {clamd_port}\nTCPAddr 127.0.0.1\nDatabaseDirectory {d}/db\nLogFile {d}/clamd.log\nPidFile {d}/clamd.pid\nTemporaryDirectory {d}\n"
        ),
    )
    .unwrap();
    let modules = [
        "/usr/lib/x86_64-linux-gnu/c_icap",
        "/usr/lib/aarch64-linux-gnu/c_icap",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .expect("c-icap's modules (scripts/test installs c-icap and libc-icap-mod-virus-scan)");
    std::fs::write(
        dir.join("c-icap.conf"),
        format!(
            "PidFile {d}/c-icap.pid\nCommandsSocket {d}/c-icap.ctl\nPort 127.0.0.1:{icap_port}\n\
             StartServers 1\nMaxServers 2\nMinSpareThreads 2\nMaxSpareThreads 4\nThreadsPerChild 4\n\
             TmpDir {d}\nModulesDir {modules}\nServicesDir {modules}\n\
             TemplateDir /usr/share/c_icap/templates/\nTemplateDefaultLanguage en\n\
             LoadMagicFile /etc/c-icap/c-icap.magic\nServerLog {d}/server.log\nAccessLog {d}/access.log\n\
             Module common clamd_mod.so\nclamd_mod.ClamdHost 127.0.0.1\nclamd_mod.ClamdPort {clamd_port}\n\
             Service antivirus_module virus_scan.so\n\
             ServiceAlias avscan virus_scan?allow204=on&sizelimit=off&mode=simple\n\
             virus_scan.ScanFileTypes TEXT DATA EXECUTABLE ARCHIVE GIF JPEG MSOFFICE\n\
             virus_scan.DefaultEngine clamd\n"
        ),
    )
    .unwrap();
    let log = dir.join("clamd.out");
    let mut clamd = Command::new("clamd")
        .arg(format!("--config-file={d}/clamd.conf"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("clamd (scripts/test installs clamav-daemon)");
    wait_for(clamd_port, &mut clamd, "clamd", &log);
    let clamd = Server(clamd);
    let log = dir.join("c-icap.out");
    let mut icap = Command::new("c-icap")
        .args(["-N", "-f"])
        .arg(dir.join("c-icap.conf"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("c-icap (scripts/test installs c-icap)");
    wait_for(icap_port, &mut icap, "c-icap", &log);
    (
        format!("icap://127.0.0.1:{icap_port}/avscan"),
        vec![Server(icap), clamd],
    )
}

#[tokio::test]
async fn a_real_icap_antivirus_allows_clean_files_and_refuses_the_test_signature_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _servers) = start_chain(dir.path());
    let policy = TransferPolicy {
        icap: Some(url.clone()),
        ..Default::default()
    };
    let plugins = vigil_transfer::builtin::chain_for(&policy, Duration::from_secs(30)).unwrap();
    let spool = Spool::new(dir.path().join("spool"));
    let mut infected = b"some text before\n".to_vec();
    infected.extend_from_slice(SIGNATURE);
    infected.extend_from_slice(b"\nand after\n");
    let clean: Vec<u8> = (0..300_000u32).map(|i| (i % 26) as u8 + b'a').collect();
    for direction in [Direction::Upload, Direction::Download] {
        for (name, body, refused) in [("clean.txt", &clean, false), ("bad.txt", &infected, true)] {
            let mut w = spool
                .writer(&format!("/srv/{name}"), direction)
                .await
                .unwrap();
            w.write_at(0, &body[..]).await.unwrap();
            let file = w.finish().await.unwrap();
            let d = decide(&plugins, &file).await;
            match (&d.verdict, refused) {
                (Verdict::Allow, false) => {}
                (Verdict::Deny(r), true) => {
                    assert!(r.contains("Vigil.Test.Body"), "{direction:?}: {r}");
                    assert_eq!(d.plugin.as_deref(), Some("icap"));
                }
                (v, _) => panic!("{direction:?} {name}: {v:?}"),
            }
        }
    }
    // A service that is not there refuses (fail closed), saying why.
    let gone = TransferPolicy {
        icap: Some(format!("icap://127.0.0.1:{}/avscan", free_port())),
        ..Default::default()
    };
    let plugins = vigil_transfer::builtin::chain_for(&gone, Duration::from_secs(5)).unwrap();
    let mut w = spool.writer("/srv/x", Direction::Upload).await.unwrap();
    w.write_at(0, b"x").await.unwrap();
    let d = decide(&plugins, &w.finish().await.unwrap()).await;
    assert!(
        matches!(&d.verdict, Verdict::Deny(r) if r.contains("cannot connect")),
        "{d:?}"
    );
}
