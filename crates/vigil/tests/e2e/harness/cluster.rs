//! Nodes of one cluster: the same PostgreSQL database, master key and SSH host key, each with
//! its own data directory and ports.

use std::path::Path;
use std::process::Command;

use super::{Gateway, free_port, vigil_bin};

impl Gateway {
    /// Gives every later vigil command of this node the variables `env` (from the next
    /// start on, for `serve`).
    pub fn set_env(&mut self, env: Vec<(String, String)>) {
        self.env = env;
    }

    /// Appends `lines` to this node's `vigil.toml` (read at its next start).
    pub fn configure(&self, lines: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.data.join("vigil.toml"))
            .expect("vigil.toml");
        f.write_all(format!("\n{lines}\n").as_bytes())
            .expect("write vigil.toml");
    }

    /// Another node of this node's cluster, started: its own data directory holding this
    /// node's master key and SSH host key, and a `vigil.toml` with `lines`.
    pub fn join(&self, lines: &str) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        for file in ["master.key", "ssh_host_ed25519_key"] {
            copy_private(&self.data.join(file), &data.join(file));
        }
        std::fs::write(data.join("vigil.toml"), format!("{lines}\n")).expect("vigil.toml");
        let mut gw = Gateway {
            dir,
            data,
            port: free_port(),
            http_port: free_port(),
            admin_password: self.admin_password.clone(),
            log: std::path::PathBuf::new(),
            child: None,
            wrapper: None,
            database_url: self.database_url.clone(),
            retried: false,
            env: self.env.clone(),
        };
        gw.log = gw.dir.path().join("serve.log");
        gw.spawn();
        gw
    }

    /// `vigil serve` on a new data directory of this cluster's database with a master key of
    /// its own: what it prints as it refuses to start, and whether it exited.
    pub fn start_with_another_master_key(&self) -> (bool, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new(vigil_bin());
        if let Some(url) = &self.database_url {
            cmd.env("VIGIL_DATABASE_URL", url);
        }
        let out = cmd
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["serve", "--ssh-listen"])
            .arg(format!("127.0.0.1:{}", free_port()))
            .arg("--http-listen")
            .arg(format!("127.0.0.1:{}", free_port()))
            .output()
            .expect("vigil serve");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (!out.status.success(), said)
    }

    /// `vigil node list --json`.
    pub fn nodes(&self) -> Vec<serde_json::Value> {
        serde_json::from_str(&self.ok(&["node", "list", "--json"])).expect("node list JSON")
    }
}

fn copy_private(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600));
    }
}
