//! Real programs on loopback: an OpenSSH `sshd` as the target, `vigil serve` as the gateway,
//! the OpenSSH client as the operator. Each fixture owns a temporary directory and kills its
//! processes when dropped.

#![allow(dead_code)]

mod cluster;
mod s3;
mod target;

pub use s3::S3Server;
pub use target::Target;

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use crate::files::{Tmpfs, files_under, sha256_file};

pub const TARGET_USER: &str = "vigiltarget";

/// Waits until `check` holds, failing with `what` after `timeout`.
#[macro_export]
macro_rules! assert_eventually {
    ($check:expr, $timeout:expr, $($what:tt)+) => {{
        let deadline = std::time::Instant::now() + $timeout;
        loop {
            if $check {
                break;
            }
            if std::time::Instant::now() > deadline {
                panic!($($what)+);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }};
}

/// Polls `probe` until it yields a value, failing with `what` after `timeout`.
pub fn eventually<T>(timeout: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn wait_for_port(port: u16, child: &mut Child, log: &Path) {
    if let Err(why) = try_wait_for_port(port, child, log) {
        panic!("{why}");
    }
}

/// Like `wait_for_port`, but says why it failed instead of panicking: a port that another
/// test took between `free_port` and the bind is worth a retry with new ports.
fn try_wait_for_port(port: u16, child: &mut Child, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "process exited with {status} before listening: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            ));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Err(format!(
        "nothing listens on 127.0.0.1:{port}: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    ))
}

/// The target login's password for this test process: random, and the canary that must never
/// appear anywhere Vigil writes.
pub fn target_password() -> &'static str {
    static PASSWORD: OnceLock<String> = OnceLock::new();
    PASSWORD.get_or_init(|| {
        assert!(is_root(), "end-to-end tests run sshd and set a target user's password: run them as root (the test script does)");
        let password = format!("Canary-{}-{:016x}", std::process::id(), rand_u64());
        if Command::new("id").arg(TARGET_USER).output().map(|o| !o.status.success()).unwrap_or(true) {
            let ok = Command::new("useradd").args(["-m", "-s", "/bin/bash", TARGET_USER]).status().map(|s| s.success()).unwrap_or(false);
            assert!(ok, "cannot create the target user {TARGET_USER}");
        }
        let mut chpasswd = Command::new("chpasswd").stdin(Stdio::piped()).spawn().expect("chpasswd");
        chpasswd.stdin.take().expect("stdin").write_all(format!("{TARGET_USER}:{password}\n").as_bytes()).expect("write chpasswd");
        assert!(chpasswd.wait().expect("chpasswd").success(), "chpasswd failed");
        password
    })
}

fn rand_u64() -> u64 {
    let mut buf = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut buf))
        .expect("urandom");
    u64::from_le_bytes(buf)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

/// `vigil serve` in a fresh data directory.
pub struct Gateway {
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
    pub port: u16,
    /// The web console's port (HTTPS, self-signed).
    pub http_port: u16,
    pub admin_password: String,
    pub log: PathBuf,
    child: Option<Child>,
    /// A shell prefix for the serve process (resource limits in failure tests).
    wrapper: Option<String>,
    /// `VIGIL_DATABASE_URL` for every vigil command, when the store is PostgreSQL.
    database_url: Option<String>,
    /// Whether a start already retried with new ports.
    retried: bool,
    /// Variables every vigil command of this node gets (the bucket's credentials).
    env: Vec<(String, String)>,
}

pub fn vigil_bin() -> &'static str {
    env!("CARGO_BIN_EXE_vigil")
}

impl Gateway {
    pub fn start() -> Gateway {
        Self::start_with(None)
    }

    /// Starts `vigil serve` under `sh -c "<wrapper>; exec vigil serve ..."`.
    pub fn start_with(wrapper: Option<&str>) -> Gateway {
        Self::start_full(wrapper, None)
    }

    /// A gateway whose store is a fresh PostgreSQL database on the test server.
    /// A node on the database at `url`.
    pub fn start_on(url: &str) -> Gateway {
        Self::start_full(None, Some(url.to_owned()))
    }

    pub fn start_postgres() -> Gateway {
        let admin = std::env::var("VIGIL_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let db = format!("vigil_e2e_{:016x}", rand_u64());
        let created = Command::new("psql")
            .arg(&admin)
            .args(["-Atqc", &format!("CREATE DATABASE {db}")])
            .output()
            .expect("psql");
        assert!(
            created.status.success(),
            "cannot create {db} on {admin}: {}",
            String::from_utf8_lossy(&created.stderr)
        );
        let base = admin
            .rsplit_once('/')
            .map(|(b, _)| b.to_owned())
            .unwrap_or(admin.clone());
        Self::start_full(None, Some(format!("{base}/{db}")))
    }

    fn start_full(wrapper: Option<&str>, database_url: Option<String>) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let mut init = Command::new(vigil_bin());
        if let Some(url) = &database_url {
            init.env("VIGIL_DATABASE_URL", url);
        }
        let out = init
            .arg("--data-dir")
            .arg(&data)
            .arg("init")
            .output()
            .expect("vigil init");
        assert!(
            out.status.success(),
            "vigil init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let admin_password = stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix("one-time password: "))
            .expect("init prints the administrator's password")
            .to_owned();
        let port = free_port();
        let http_port = free_port();
        let log = dir.path().join("serve.log");
        let mut gw = Gateway {
            dir,
            data,
            port,
            http_port,
            admin_password,
            log,
            child: None,
            wrapper: wrapper.map(str::to_owned),
            database_url,
            retried: false,
            env: Vec::new(),
        };
        gw.spawn();
        gw
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log");
        let mut cmd = match &self.wrapper {
            None => {
                let mut c = Command::new(vigil_bin());
                c.arg("--data-dir")
                    .arg(&self.data)
                    .arg("serve")
                    .arg("--ssh-listen")
                    .arg(format!("127.0.0.1:{}", self.port))
                    .arg("--http-listen")
                    .arg(format!("127.0.0.1:{}", self.http_port));
                c
            }
            Some(prefix) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!(
                        "{prefix}; exec \"$0\" --data-dir \"$1\" serve --ssh-listen 127.0.0.1:{} --http-listen 127.0.0.1:{}",
                        self.port, self.http_port
                    ))
                    .arg(vigil_bin())
                    .arg(&self.data);
                c
            }
        };
        if let Some(url) = &self.database_url {
            cmd.env("VIGIL_DATABASE_URL", url);
        }
        cmd.envs(self.env.iter().cloned());
        let mut child = cmd
            .env("VIGIL_LOG", "info,vigil_ssh=debug")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start vigil serve");
        if let Err(why) = try_wait_for_port(self.port, &mut child, &self.log) {
            // Tests run in parallel, each taking free ports: another may have bound one of
            // ours between `free_port` and the bind. New ports, once more.
            if why.contains("Address already in use") && !self.retried {
                self.retried = true;
                self.port = free_port();
                self.http_port = free_port();
                return self.spawn();
            }
            panic!("{why}");
        }
        self.child = Some(child);
    }

    /// Stops the node with SIGTERM and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(status)) = child.try_wait() {
                    // A node that handles SIGTERM exits with a status; dying of the signal
                    // means it skipped its shutdown (sessions' ends, leaving the cluster).
                    assert!(
                        status.signal().is_none(),
                        "the node died of a signal instead of shutting down: {status}\n{}",
                        self.log_text()
                    );
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the node at once (SIGKILL): a crash, nothing finished.
    pub fn crash(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the node again after [`Gateway::stop`] or [`Gateway::crash`].
    pub fn start_again(&mut self) {
        self.spawn();
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Runs a vigil command against this data directory.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_stdin(args, None)
    }

    pub fn cli_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(vigil_bin());
        if let Some(url) = &self.database_url {
            cmd.env("VIGIL_DATABASE_URL", url);
        }
        cmd.envs(self.env.iter().cloned());
        let mut child = cmd
            .arg("--data-dir")
            .arg(&self.data)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("vigil");
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("write stdin");
        }
        drop(input);
        child.wait_with_output().expect("vigil output")
    }

    /// Runs a vigil command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "vigil {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Adds target `name` for `target` with the password login, a user with `password`, and a
    /// grant for that user.
    pub fn provision(&self, target: &Target, name: &str, user: &str, password: &str) {
        let key = target.host_key_pub();
        self.add_target(name, target.port, key.to_str().expect("utf-8 path"));
        self.add_login_and_user(name, user, password);
    }

    pub fn add_target(&self, name: &str, port: u16, host_key_file: &str) {
        let port = port.to_string();
        let args = [
            "target",
            "add",
            name,
            "--host",
            "127.0.0.1",
            "--port",
            &port,
        ];
        self.ok(&[&args[..], &["--host-key-file", host_key_file]].concat());
    }

    /// The target login with the vaulted password, a user, and the user's grant.
    pub fn add_login_and_user(&self, name: &str, user: &str, password: &str) {
        let out = self.cli_stdin(
            &["account", "add", name, TARGET_USER, "--password-stdin"],
            Some(target_password()),
        );
        assert!(
            out.status.success(),
            "account add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.add_user(user, password);
        self.ok(&["access", "grant", user, name]);
    }

    /// An audited-command rule on a command name (`vigil rule add NAME --command ...`).
    pub fn command_rule(&self, name: &str, command: &str, score: u32, action: &str) {
        let score = score.to_string();
        self.ok(&[
            "rule",
            "add",
            name,
            "--command",
            command,
            "--score",
            &score,
            "--action",
            action,
        ]);
    }

    /// Gives another OpenSSH tool (scp, sftp, rsync, tmux) the operator's askpass setup.
    pub fn operator_env(&self, cmd: &mut Command, password: &str) {
        for (k, v) in self.ssh("x", password).get_envs() {
            if let Some(v) = v {
                cmd.env(k, v);
            }
        }
    }

    pub fn add_user(&self, user: &str, password: &str) {
        let out = self.cli_stdin(&["user", "add", user, "--password-stdin"], Some(password));
        assert!(
            out.status.success(),
            "user add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn sessions(&self) -> Vec<serde_json::Value> {
        serde_json::from_str(&self.ok(&["session", "list", "--json"])).expect("session list json")
    }

    pub fn session(&self, id: &str) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["session", "show", id, "--json"]))
            .expect("session show json")
    }

    pub fn audit(&self) -> Vec<serde_json::Value> {
        serde_json::from_str(&self.ok(&["audit", "list", "--limit", "500", "--json"]))
            .expect("audit json")
    }

    /// Waits until the newest session is closed and returns it with its events.
    /// The serve process's id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn last_closed_session(&self) -> serde_json::Value {
        let found = eventually(Duration::from_secs(15), "the session did not close", || {
            self.sessions()
                .into_iter()
                .next()
                .filter(|s| s["status"] == "closed")
        });
        let id = found["id"].as_str().expect("id").to_owned();
        self.session(&id)
    }

    /// The plain asciicast text of a session's recording, via `vigil recording export`.
    pub fn export(&self, id: &str) -> Vec<u8> {
        self.export_track(id, 0)
    }

    /// One recording track (one recorded channel) of a session, as asciicast text.
    pub fn export_track(&self, id: &str, track: u64) -> Vec<u8> {
        let path = self.dir.path().join(format!("{id}.{track}.cast"));
        self.ok(&[
            "recording",
            "export",
            id,
            "--track",
            &track.to_string(),
            "-o",
            path.to_str().expect("utf-8"),
        ]);
        std::fs::read(&path).expect("exported recording")
    }

    /// The tracks of a session's recording, as `vigil session show --json` lists them.
    pub fn tracks(&self, id: &str) -> Vec<serde_json::Value> {
        self.session(id)["tracks"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `ssh` as an operator, answering password and code prompts through SSH_ASKPASS.
    pub fn ssh(&self, user: &str, password: &str) -> Command {
        self.ssh_with(user, password, &[])
    }

    /// [`Gateway::ssh`] with more client options (before the destination).
    pub fn ssh_with(&self, user: &str, password: &str, options: &[&str]) -> Command {
        let askpass = self.dir.path().join("askpass");
        if !askpass.exists() {
            std::fs::write(
                &askpass,
                "#!/bin/sh\ncase \"$1\" in\n  *erification*) cat \"$VIGIL_TEST_CODE_FILE\" ;;\n  *) printf '%s\\n' \"$VIGIL_TEST_PASSWORD\" ;;\nesac\n",
            )
            .expect("askpass");
            let _ = Command::new("chmod").arg("755").arg(&askpass).status();
        }
        let mut c = Command::new("ssh");
        c.args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "NumberOfPasswordPrompts=1",
        ])
        .args(["-o", "ConnectTimeout=10", "-p", &self.port.to_string()])
        .args(options)
        .arg(format!("{user}@127.0.0.1"))
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("VIGIL_TEST_PASSWORD", password)
        .env("VIGIL_TEST_CODE_FILE", self.dir.path().join("code"))
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null());
        c
    }

    /// `program` (scp, sftp, rsync) as the operator with `password`, quiet about host keys.
    pub fn transfer_tool(&self, program: &str, password: &str) -> Command {
        let mut cmd = Command::new(program);
        self.operator_env(&mut cmd, password);
        cmd.args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
        ])
        .stdin(Stdio::null());
        cmd
    }

    /// Opens `ssh -tt` as `user`, waits for the shell to have printed and gone quiet (its
    /// prompt), types each chunk after its pause, and returns what the operator saw once the
    /// session has ended. Typing only after the prompt keeps a loaded machine's slow login
    /// from turning separately typed lines into lines entered together.
    pub fn typed_session(&self, user: &str, password: &str, typed: &[(u64, &[u8])]) -> Output {
        self.typed_session_as(None, user, password, typed)
    }

    /// [`Gateway::typed_session`] from a terminal of type `term` (full-screen programs use
    /// the alternate screen only on a terminal that has one).
    pub fn typed_session_as(
        &self,
        term: Option<&str>,
        user: &str,
        password: &str,
        typed: &[(u64, &[u8])],
    ) -> Output {
        let mut ssh = self.ssh(user, password);
        if let Some(term) = term {
            ssh.env("TERM", term);
        }
        self.typed_with(ssh.arg("-tt"), true, typed)
    }

    /// [`Gateway::typed_session`] with other ssh arguments (`-tt COMMAND`).
    pub fn typed_session_with(
        &self,
        args: &[&str],
        user: &str,
        password: &str,
        typed: &[(u64, &[u8])],
    ) -> Output {
        let mut ssh = self.ssh(user, password);
        self.typed_with(ssh.args(args), false, typed)
    }

    fn typed_with(&self, ssh: &mut Command, after_prompt: bool, typed: &[(u64, &[u8])]) -> Output {
        let mut child = ssh
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("ssh starts");
        let mut stdin = child.stdin.take().expect("stdin");
        // What the operator sees is read meanwhile, so a session that never ends (a refused
        // `exit`) fails the test instead of hanging it.
        let mut stdout = child.stdout.take().expect("stdout");
        let shared = std::sync::Arc::new(std::sync::Mutex::new((Vec::new(), Instant::now())));
        let sink = shared.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = std::io::Read::read(&mut stdout, &mut buf) {
                let mut seen = sink.lock().expect("reader lock");
                seen.0.extend_from_slice(&buf[..n]);
                seen.1 = Instant::now();
            }
        });
        if after_prompt {
            let give_up = Instant::now() + Duration::from_secs(20);
            while Instant::now() < give_up {
                let (printed, quiet) = {
                    let seen = shared.lock().expect("reader lock");
                    (!seen.0.is_empty(), seen.1.elapsed())
                };
                if printed && quiet > Duration::from_millis(500) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let take_seen = |reader: std::thread::JoinHandle<()>| {
            let _ = reader.join();
            std::mem::take(&mut shared.lock().expect("reader lock").0)
        };
        for (pause_ms, bytes) in typed {
            std::thread::sleep(Duration::from_millis(*pause_ms));
            if stdin.write_all(bytes).is_err() {
                break;
            }
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().expect("ssh status") {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let seen = take_seen(reader);
                panic!(
                    "the session did not end 30 s after the last key; the operator saw: {}",
                    String::from_utf8_lossy(&seen)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        drop(stdin);
        Output {
            status,
            stdout: take_seen(reader),
            stderr: Vec::new(),
        }
    }

    /// Starts `ssh -tt USER COMMAND` with piped stdio and waits until its session is active;
    /// returns the running client and the session's id.
    pub fn interactive(&self, user: &str, password: &str, command: &str) -> (Child, String) {
        let child = self
            .ssh(user, password)
            .args(["-tt", command])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ssh");
        let id = eventually(Duration::from_secs(10), "no active session", || {
            self.sessions()
                .into_iter()
                .find(|s| s["status"] == "active")
                .and_then(|s| s["id"].as_str().map(str::to_owned))
        });
        (child, id)
    }

    /// A new key pair for `user`, added to their keys (batch-mode clients such as `sftp -b`
    /// take no password); returns the private key's path.
    pub fn user_key(&self, user: &str) -> PathBuf {
        let key = key_pair(self.dir.path(), &format!("{user}_key"));
        self.ok(&[
            "user",
            "key",
            "add",
            user,
            "--file",
            &format!("{}.pub", key.display()),
        ]);
        key
    }

    pub fn write_code(&self, code: &str) {
        std::fs::write(self.dir.path().join("code"), format!("{code}\n")).expect("code file");
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- vigil serve log ---\n{}", self.log_text());
        }
        if let Some((base, db)) = self
            .database_url
            .as_deref()
            .and_then(|u| u.rsplit_once('/'))
        {
            let _ = Command::new("psql")
                .arg(format!("{base}/postgres"))
                .args([
                    "-Atqc",
                    &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
                ])
                .output();
        }
    }
}

/// The details of a session's `command_detected` events, in order.
pub fn command_events(gw: &Gateway, id: &str) -> Vec<serde_json::Value> {
    details(&gw.session(id), "command_detected")
}

/// The details of the session log's events of `kind` (from `Gateway::session`), parsed, in
/// order.
pub fn details(session: &serde_json::Value, kind: &str) -> Vec<serde_json::Value> {
    session["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| serde_json::from_str(e["detail"].as_str().unwrap()).unwrap())
        .collect()
}

/// True when the session log (from `Gateway::session`) has an event of `kind` whose detail
/// contains `needle`.
pub fn has_event(session: &serde_json::Value, kind: &str, needle: &str) -> bool {
    session["events"].as_array().is_some_and(|events| {
        events
            .iter()
            .any(|e| e["kind"] == kind && e["detail"].as_str().unwrap_or("").contains(needle))
    })
}

/// A new ed25519 key pair without a passphrase in `dir`; returns the private key's path (the
/// public key is beside it, `.pub`).
pub fn key_pair(dir: &Path, name: &str) -> PathBuf {
    let key = dir.join(name);
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen runs");
    assert!(made.success(), "ssh-keygen failed");
    key
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs the operator's `scp` (`legacy`: `-O`, the SCP protocol; otherwise SFTP) as alice to
/// web01 with `args`.
pub fn scp(gw: &Gateway, legacy: bool, args: &[&str]) -> Output {
    let mut cmd = gw.transfer_tool("scp", "alice-pw");
    if legacy {
        cmd.arg("-O");
    }
    cmd.args(["-P", &gw.port.to_string(), "-o", "User=alice:web01"])
        .args(args)
        .output()
        .unwrap()
}

/// A file in the target account's home.
pub fn home_file(name: &str) -> PathBuf {
    PathBuf::from(format!("/home/{TARGET_USER}")).join(name)
}
