//! The target: a real OpenSSH server.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::{free_port, target_password, wait_for_port};

/// An OpenSSH server on a free loopback port, with its own config and host key.
pub struct Target {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
}

impl Target {
    pub fn start() -> Target {
        target_password();
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let key = dir.path().join("host_key");
        let ok = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .expect("ssh-keygen")
            .success();
        assert!(ok, "ssh-keygen failed");
        std::fs::create_dir_all("/run/sshd").expect("/run/sshd");
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\nUsePAM no\nStrictModes no\nAllowTcpForwarding yes\nSubsystem sftp internal-sftp\nMaxSessions 50\nMaxStartups 100:30:200\nLogLevel VERBOSE\n",
                key.display(),
                dir.path().join("sshd.pid").display()
            ),
        )
        .expect("write sshd_config");
        let log = dir.path().join("sshd.log");
        let mut child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("start /usr/sbin/sshd (install openssh-server)");
        wait_for_port(port, &mut child, &log);
        Target { dir, port, child }
    }

    pub fn host_key_pub(&self) -> PathBuf {
        self.dir.path().join("host_key.pub")
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
