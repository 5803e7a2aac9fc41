//! An S3-compatible server on a free loopback port: moto's server (PyPI `moto[server]`,
//! installed by the test script), with one bucket. moto because it installs in seconds from
//! PyPI and speaks the S3 API object_store uses (multipart uploads, listing, ranged reads);
//! it keeps objects in memory, which is what a test wants.

use std::process::{Child, Command, Stdio};

use super::{free_port, wait_for_port};

pub struct S3Server {
    pub port: u16,
    pub bucket: String,
    dir: tempfile::TempDir,
    child: Child,
}

impl S3Server {
    pub fn start() -> S3Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let log = dir.path().join("moto.log");
        let mut child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("start moto_server (pip install 'moto[server]'; the test script does)");
        wait_for_port(port, &mut child, &log);
        let bucket = "vigil-recordings".to_owned();
        let made = Command::new("curl")
            .args(["-sf", "-X", "PUT"])
            .arg(format!("http://127.0.0.1:{port}/{bucket}"))
            .status()
            .expect("curl");
        assert!(made.success(), "cannot make the bucket");
        S3Server {
            port,
            bucket,
            dir,
            child,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The lines of `vigil.toml` that put a node's recordings in this bucket.
    pub fn config(&self) -> String {
        format!(
            "recording_store = \"s3://{}/cluster\"\ns3_endpoint = \"{}\"\ns3_upload_interval_secs = 1",
            self.bucket,
            self.endpoint()
        )
    }

    /// The credentials a node needs (moto takes any).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".into(), "vigil-test".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "vigil-test-secret".into()),
        ]
    }

    /// The keys of every object in the bucket.
    pub fn keys(&self) -> Vec<String> {
        let out = Command::new("curl")
            .args(["-sf"])
            .arg(format!(
                "http://127.0.0.1:{}/{}?list-type=2",
                self.port, self.bucket
            ))
            .output()
            .expect("curl");
        let body = String::from_utf8_lossy(&out.stdout);
        body.split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(str::to_owned)
            .collect()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("moto.log")).unwrap_or_default()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
