//! A workstation for the endpoint tests: the real `vigil-agent` service with its own state
//! directory and a test install root, enrolled with a gateway on loopback; workstation users
//! made with `useradd`; programs run by them in tmux (a real terminal) or through `su -c`
//! (no terminal).

#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::harness::{Gateway, eventually, vigil_bin};

/// `vigil-agent` and `vigil-rec`, built beside `vigil` (`cargo test --workspace` builds them;
/// alone: `cargo build -p vigil-agent`).
pub fn agent_bin(name: &str) -> PathBuf {
    let path = Path::new(vigil_bin()).with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: build the agent first (cargo build -p vigil-agent)",
        path.display()
    );
    path
}

pub struct Workstation {
    pub dir: tempfile::TempDir,
    pub state: PathBuf,
    /// The test install root: policy path /usr/local/bin/x is ROOT/usr/local/bin/x.
    pub root: PathBuf,
    pub host: String,
    pub log: PathBuf,
    agent: Option<Child>,
    extra: Vec<String>,
}

impl Workstation {
    /// Enrolled with `gw` under `host`; pending until [`Workstation::approve`].
    pub fn enrol(gw: &Gateway, host: &str) -> Workstation {
        let dir = tempfile::tempdir().expect("tempdir");
        // Workstation users walk to the wrapped programs under it.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let ws = Workstation {
            state: dir.path().join("state"),
            root: dir.path().join("root"),
            host: host.to_owned(),
            log: dir.path().join("agent.log"),
            dir,
            agent: None,
            extra: Vec::new(),
        };
        std::fs::create_dir_all(ws.root.join("usr/local/bin")).unwrap();
        ws.enrol_again(gw);
        ws
    }

    /// Enrols with a new token and a new key (the workstation is pending again).
    pub fn enrol_again(&self, gw: &Gateway) {
        let token = gw.ok(&["agent", "token"]).trim().to_owned();
        let out = self
            .agent_cmd()
            .args(["enrol", "--server"])
            .arg(format!("https://127.0.0.1:{}", gw.http_port))
            .arg("--token")
            .arg(&token)
            .arg("--ca-file")
            .arg(gw.data.join("tls/cert.pem"))
            .arg("--host-name")
            .arg(&self.host)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "enrol: {}",
            crate::harness::text(&out)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("pending"));
    }

    pub fn approve(&self, gw: &Gateway) {
        gw.ok(&["agent", "approve", &self.host]);
    }

    fn agent_cmd(&self) -> Command {
        let mut c = Command::new(agent_bin("vigil-agent"));
        c.arg("--state-dir").arg(&self.state);
        c
    }

    /// Installs wrappers under the real root (`/`, with dpkg-divert) from the next start.
    pub fn on_the_real_root(&mut self) {
        self.root = PathBuf::from("/");
    }

    /// Options for the next start of the service.
    pub fn with_args(&mut self, args: &[&str]) {
        self.extra = args.iter().map(|s| s.to_string()).collect();
    }

    /// Starts `vigil-agent run` (policies polled every second).
    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = self
            .agent_cmd()
            .arg("run")
            .arg("--root")
            .arg(&self.root)
            .arg("--wrapper")
            .arg(agent_bin("vigil-rec"))
            .args(["--poll-secs", "1"])
            .args(&self.extra)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.agent = Some(child);
        eventually(Duration::from_secs(20), "the agent listens", || {
            std::os::unix::net::UnixStream::connect(self.state.join("agent.sock"))
                .ok()
                .map(|_| ())
        });
    }

    /// Kills the service at once (SIGKILL): a crash.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.agent.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn status(&self) -> String {
        let out = self.agent_cmd().arg("status").output().unwrap();
        crate::harness::text(&out)
    }

    /// Where a policy path is on disk.
    pub fn path(&self, policy_path: &str) -> PathBuf {
        self.root.join(policy_path.trim_start_matches('/'))
    }

    /// Writes an executable at a policy path.
    pub fn program(&self, policy_path: &str, script: &str) -> PathBuf {
        let path = self.path(policy_path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// Waits until the agent wrapped the program at `policy_path` (or what it links to).
    pub fn wait_wrapped(&self, policy_path: &str) {
        let path = self.path(policy_path);
        eventually(
            Duration::from_secs(30),
            &format!("{} is wrapped: {}", path.display(), self.log_text()),
            || {
                let bytes = std::fs::read(&path).ok()?;
                bytes.ends_with(b"VIGILREC").then_some(())
            },
        );
    }

    /// The runs waiting in the spool.
    pub fn spooled(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.state.join("spool"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }
}

impl Drop for Workstation {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An approved workstation whose agent runs with one rule `name` for the program at
/// `/usr/local/bin/NAME` (written from `script`): `flags` follow the rule's path (`--record
/// yes --user U`), `agent_args` go to `vigil-agent run`. Returns when the program is wrapped,
/// with the program's path on disk.
pub fn wrapped(
    gw: &Gateway,
    host: &str,
    name: &str,
    script: &str,
    flags: &[&str],
    agent_args: &[&str],
) -> (Workstation, PathBuf) {
    let mut ws = Workstation::enrol(gw, host);
    ws.approve(gw);
    ws.with_args(agent_args);
    let path = format!("/usr/local/bin/{name}");
    let program = ws.program(&path, script);
    rule(gw, name, &path, flags);
    ws.start();
    ws.wait_wrapped(&path);
    (ws, program)
}

/// Adds the access policy `name` for `path` with `flags`.
pub fn rule(gw: &Gateway, name: &str, path: &str, flags: &[&str]) {
    let mut args = vec!["agent-policy", "add", name, "--path", path];
    args.extend_from_slice(flags);
    gw.ok(&args);
}

/// A workstation account, made once: `primary` is its primary group (made when missing),
/// `also` supplementary groups.
pub fn os_user(name: &str, primary: Option<&str>, also: &[&str]) {
    for g in primary.iter().chain(also) {
        let exists = Command::new("getent")
            .args(["group", g])
            .output()
            .is_ok_and(|o| o.status.success());
        if !exists {
            let _ = Command::new("groupadd").arg(g).status();
        }
    }
    let exists = Command::new("id")
        .arg(name)
        .output()
        .is_ok_and(|o| o.status.success());
    if !exists {
        let mut add = Command::new("useradd");
        add.args(["-m", "-s", "/bin/bash"]);
        match primary {
            Some(g) => add.args(["-g", g]),
            None => add.arg("-U"),
        };
        if !also.is_empty() {
            add.args(["-G", &also.join(",")]);
        }
        let ok = add.arg(name).status().is_ok_and(|s| s.success());
        assert!(ok, "cannot create the workstation user {name}");
    }
}

/// Runs `command` as `user` without a terminal (`su -c`): pipes for the program's streams.
pub fn run_as(user: &str, command: &str, stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new("su")
        .args([user, "-c", command])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// A terminal: a tmux server of its own with one window logged in as `user`.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn login(user: &str) -> Tmux {
        let socket = format!("vigil-e2e-{}-{}", std::process::id(), rand_suffix());
        let ok = Command::new("tmux")
            .args(["-L", &socket, "new-session", "-d", "-x", "120", "-y", "40"])
            .arg(format!("su - {user}"))
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "tmux");
        let t = Tmux { socket };
        eventually(Duration::from_secs(10), "the shell prompt", || {
            t.screen().contains('$').then_some(())
        });
        t
    }

    pub fn send(&self, keys: &str) {
        let ok = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "0", "-l", keys])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok);
    }

    pub fn enter(&self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "0", "Enter"])
            .status();
    }

    pub fn line(&self, keys: &str) {
        self.send(keys);
        self.enter();
    }

    pub fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args([
                "-L",
                &self.socket,
                "capture-pane",
                "-p",
                "-t",
                "0",
                "-S",
                "-200",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows `text`.
    pub fn wait_for(&self, text: &str, timeout: Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the screen does not show {text:?}:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

fn rand_suffix() -> u32 {
    use std::time::SystemTime;
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

/// The endpoint sessions of workstation `host`, newest first.
pub fn endpoint_sessions(gw: &Gateway, host: &str) -> Vec<serde_json::Value> {
    gw.sessions()
        .into_iter()
        .filter(|s| s["protocol"] == "endpoint" && s["target_name"] == host)
        .collect()
}

/// The one `endpoint_run` event's details of a session.
pub fn run_event(gw: &Gateway, id: &str) -> serde_json::Value {
    let s = gw.session(id);
    let details = crate::harness::details(&s, "endpoint_run");
    assert_eq!(details.len(), 1, "{s}");
    details[0].clone()
}

pub fn vigil() -> &'static str {
    vigil_bin()
}
