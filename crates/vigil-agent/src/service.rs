//! `vigil-agent run`: the service. Three kinds of work, each on its own threads:
//! - the policies: fetched at start and polled every few seconds; when their revision moves,
//!   cached for the wrappers and the wrappers installed and removed to match;
//! - the socket: one thread per wrapper connection, spooling its run (peer credentials say
//!   who runs it; nothing the wrapper claims does), and when a recorded run ends, uploading it
//!   at once and telling the wrapper how that went;
//! - the uploader: every run left in the spool (the server was away, the agent restarted)
//!   is tried again with backoff until the server confirms it.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::unistd::{Group, Uid, User};
use vigil_core::{RunReport, Runner, decide_run};

use crate::client::{Client, ClientError};
use crate::install::{Installed, Installer};
use crate::spool::{Spool, SpooledRun};
use crate::state::{PolicyCache, StateDir, read_json_or_default, write_json};
use crate::upload::{Backoff, RateLimit, upload_run};
use crate::wire::{Acceptance, Decoder, Frame, UploadNotice};

pub struct Service {
    pub state: StateDir,
    pub client: Client,
    pub installer: Installer,
    pub spool: Spool,
    pub poll_every: Duration,
    pub rate: RateLimit,
    /// Runs being uploaded now (by a connection or the uploader, never both).
    uploading: Mutex<HashSet<String>>,
    /// The latest policies (shared with the connection threads' own decisions).
    policies: Mutex<PolicyCache>,
    /// When the server was last told that the spool is full.
    alerted_at: Mutex<Option<Instant>>,
    /// "Waiting for approval" was said (once is enough).
    waiting_said: AtomicBool,
}

/// How often a running program's recording is flushed when it is quiet.
const FLUSH_TICK: Duration = Duration::from_secs(1);

/// Prints what the service does, as a log line on stderr (journald keeps it).
macro_rules! say {
    ($($arg:tt)*) => { eprintln!("vigil-agent: {}", format_args!($($arg)*)) };
}

impl Service {
    pub fn new(
        state: StateDir,
        client: Client,
        installer: Installer,
        spool: Spool,
        poll_every: Duration,
        rate: RateLimit,
    ) -> Service {
        let policies = state.policies().unwrap_or_default();
        Service {
            state,
            client,
            installer,
            spool,
            poll_every,
            rate,
            uploading: Mutex::new(HashSet::new()),
            policies: Mutex::new(policies),
            waiting_said: AtomicBool::new(false),
            alerted_at: Mutex::new(None),
        }
    }

    /// Runs until the process is stopped.
    pub fn run(self: Arc<Self>, host_name: &str) -> Result<(), crate::state::StateError> {
        for r in self.spool.recover_interrupted() {
            match r {
                Ok(run) => say!(
                    "run {} was cut short by a stop of the agent: kept as it was",
                    run.id
                ),
                Err(e) => say!("a run in the spool cannot be recovered: {e}"),
            }
        }
        let listener = self.listen()?;
        let me = self.clone();
        std::thread::spawn(move || me.accept(listener));
        let me = self.clone();
        std::thread::spawn(move || me.upload_loop());
        let mut revision = None;
        loop {
            revision = self.poll_policies(host_name, revision);
            std::thread::sleep(self.poll_every);
        }
    }

    fn listen(&self) -> Result<UnixListener, crate::state::StateError> {
        let path = self.state.socket();
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(crate::state::io_err(&path))?;
        // Only root and the wrappers (set-group-id to the agent group) may connect.
        let mode = if self.installer.group.is_some() {
            0o660
        } else {
            0o666
        };
        if let Some(group) = self.installer.group {
            nix::unistd::chown(&path, Some(Uid::from_raw(0)), Some(group))
                .map_err(|e| crate::state::io_err(&path)(e.into()))?;
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(crate::state::io_err(&path))?;
        say!("listening for wrappers on {}", path.display());
        Ok(listener)
    }

    /// Fetches the policies; when they moved, caches them and reconciles the wrappers.
    fn poll_policies(&self, host_name: &str, known: Option<i64>) -> Option<i64> {
        match self.client.policies() {
            Ok(p) if Some(p.revision) == known => known,
            Ok(p) => {
                let cache = PolicyCache {
                    revision: p.revision,
                    host_name: host_name.to_owned(),
                    policies: p.policies,
                };
                let path = self.state.policies_file();
                if let Err(e) = write_json(&path, &cache, 0o640) {
                    say!("cannot cache the policies: {e}");
                    return known;
                }
                if let Some(group) = self.installer.group {
                    let _ = nix::unistd::chown(&path, None, Some(group));
                }
                self.reconcile(&cache);
                say!(
                    "policies at revision {}: {} rule(s) for this workstation",
                    cache.revision,
                    cache.policies.len()
                );
                *self.policies.lock().unwrap_or_else(PoisonError::into_inner) = cache;
                Some(p.revision)
            }
            Err(ClientError::Refused {
                status: 403,
                message,
            }) => {
                if !self.waiting_said.swap(true, Ordering::Relaxed) {
                    say!("waiting for approval: {message}");
                }
                known
            }
            Err(e) => {
                say!("cannot fetch the policies: {e}");
                known
            }
        }
    }

    fn reconcile(&self, cache: &PolicyCache) {
        let file = self.state.wrappers_file();
        let installed: Vec<Installed> = read_json_or_default(&file).unwrap_or_default();
        let (now, problems) = self.installer.reconcile(&cache.policies, installed);
        for p in problems {
            say!("a rule cannot be enforced: {p}");
        }
        if let Err(e) = write_json(&file, &now, 0o640) {
            say!("cannot note the installed wrappers: {e}");
        }
    }

    fn accept(self: Arc<Self>, listener: UnixListener) {
        for stream in listener.incoming() {
            match stream {
                Ok(s) => {
                    let me = self.clone();
                    std::thread::spawn(move || {
                        if let Err(e) = me.serve(s) {
                            say!("{e}");
                        }
                    });
                }
                Err(e) => say!("cannot accept a wrapper: {e}"),
            }
        }
    }

    /// One wrapper's run, from its start to the word on its uploads.
    fn serve(&self, mut stream: UnixStream) -> Result<(), String> {
        let peer = rustix::net::sockopt::socket_peercred(&stream)
            .map_err(|e| format!("a wrapper's credentials cannot be read: {e}"))?;
        let mut decoder = Decoder::default();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let start = match next_frame(&mut stream, &mut decoder).map_err(|e| e.to_string())? {
            Some(Frame::Start(s)) => s,
            // A connection that says nothing (`vigil-agent status` checking the service).
            None => return Ok(()),
            other => return Err(format!("a wrapper began with {other:?}, not a run")),
        };
        // A tick at least every second while the program runs: the recording is flushed.
        stream
            .set_read_timeout(Some(FLUSH_TICK))
            .map_err(|e| e.to_string())?;
        let uid = peer.uid.as_raw();
        let (user, primary_group) = identity(uid);
        // The agent decides with its own copy of the policies; the wrapper's choice can only
        // add to it.
        let decision = {
            let cache = self.policies.lock().unwrap_or_else(PoisonError::into_inner);
            decide_run(
                cache.policies.iter().filter(|p| p.path == start.program),
                &Runner {
                    user: &user,
                    primary_group: &primary_group,
                    host: &cache.host_name,
                },
            )
        };
        let record = start.record || decision.record;
        if record && self.spool.is_full() {
            let message = format!(
                "{} cannot run: it must be recorded and the recording spool on this workstation is full ({} MiB); ask your administrator",
                start.program,
                self.spool.quota() >> 20
            );
            let _ = stream.write_all(&Frame::Accepted(Acceptance { ok: false, message }).encode());
            drop(stream);
            self.spool_full_alert(&start.program);
            return Ok(());
        }
        let report = RunReport {
            id: uuid::Uuid::now_v7().to_string(),
            user,
            uid,
            primary_group,
            program: start.program.clone(),
            real_path: Some(start.real_path.clone()),
            argv: start.argv.clone(),
            cwd: start.cwd.clone(),
            tty: start.tty.clone(),
            started_at: start.started_at,
            ended_at: start.started_at,
            exit_status: None,
            signal: None,
            record,
            policies: decision.policies,
        };
        let mut recording = self
            .spool
            .begin(report, start.cols, start.rows, start.term.clone())
            .map_err(|e| {
                let _ = stream.write_all(
                    &Frame::Accepted(Acceptance {
                        ok: false,
                        message: format!("the run cannot be spooled: {e}"),
                    })
                    .encode(),
                );
                e.to_string()
            })?;
        stream
            .write_all(
                &Frame::Accepted(Acceptance {
                    ok: true,
                    message: String::new(),
                })
                .encode(),
            )
            .map_err(|e| e.to_string())?;
        say!(
            "run {} of {} by {} (pid {}) {}",
            recording.report().id,
            start.program,
            recording.report().user,
            peer.pid.as_raw_nonzero(),
            if record { "recorded" } else { "audited" }
        );
        let end = loop {
            match next_frame(&mut stream, &mut decoder) {
                Ok(Some(Frame::End(e))) => break Some(e),
                Ok(Some(frame)) => {
                    if let Err(e) = recording.take(&frame) {
                        say!(
                            "run {}: cannot write the recording: {e}",
                            recording.report().id
                        );
                        // Closing the socket makes the wrapper hang up the program.
                        break None;
                    }
                }
                Ok(None) => break None,
                Err(Quiet) => {
                    if let Err(e) = recording.flush() {
                        say!(
                            "run {}: cannot write the recording: {e}",
                            recording.report().id
                        );
                        break None;
                    }
                }
                Err(Broken(e)) => {
                    say!("run {}: {e}", recording.report().id);
                    break None;
                }
            }
        };
        // Claimed before it is made ready, so the uploader cannot take it first (and the
        // wrapper, waiting for the word on it, would hear nothing).
        let id = recording.report().id.clone();
        self.claim(&id);
        let run = match recording.end(end.as_ref()) {
            Ok(run) => run,
            Err(e) => {
                self.release(&id);
                return Err(e.to_string());
            }
        };
        if !record {
            self.upload_claimed(&run, &mut |_, _| {});
            return Ok(());
        }
        let mut tell = |object: &str, outcome: Result<(), String>| {
            let notice = UploadNotice {
                object: object.to_owned(),
                ok: outcome.is_ok(),
                message: outcome.err().unwrap_or_default(),
            };
            let _ = stream.write_all(&Frame::Uploaded(notice).encode());
        };
        self.upload_claimed(&run, &mut tell);
        Ok(())
    }

    /// Says that the spool is full, here and (at most every ten minutes) to the server.
    fn spool_full_alert(&self, program: &str) {
        let message = format!(
            "the recording spool is full ({} of {} MiB): recorded programs are refused until uploads empty it (last refused: {program})",
            self.spool.used() >> 20,
            self.spool.quota() >> 20
        );
        say!("ALERT: {message}");
        let mut last = self
            .alerted_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|at| at.elapsed() < Duration::from_secs(600)) {
            return;
        }
        match self.client.alert("spool_full", &message) {
            Ok(()) => *last = Some(Instant::now()),
            Err(e) => say!("cannot send the alert to the server: {e}"),
        }
    }

    /// Marks a run as being uploaded; false when someone already is.
    fn claim(&self, id: &str) -> bool {
        self.uploading
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_owned())
    }

    fn release(&self, id: &str) {
        self.uploading
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    /// Uploads a run this thread claimed, tells `notify` about each recording (uploaded, or
    /// why not), and releases the claim; true when it is all on the server.
    fn upload_claimed(
        &self,
        run: &SpooledRun,
        notify: &mut dyn FnMut(&str, Result<(), String>),
    ) -> bool {
        let mut said = Vec::new();
        let result = upload_run(&self.client, run, self.rate, &mut |object, outcome| {
            said.push(object.to_owned());
            notify(object, outcome);
        });
        self.release(&run.id);
        match result {
            Ok(()) => {
                say!("run {} uploaded", run.id);
                true
            }
            Err(e) => {
                for object in crate::spool::OBJECTS {
                    if !said.iter().any(|s| s == object) {
                        notify(object, Err(e.to_string()));
                    }
                }
                say!("run {} queued: {e}", run.id);
                false
            }
        }
    }

    fn upload_loop(self: Arc<Self>) {
        let mut backoff = Backoff::default();
        loop {
            for run in self.spool.runs() {
                // A run being uploaded by its own connection is that connection's.
                if !run.is_ready() || !backoff.due(&run.id) || !self.claim(&run.id) {
                    continue;
                }
                if self.upload_claimed(&run, &mut |_, _| {}) {
                    backoff.succeeded(&run.id);
                } else if run.dir().exists() {
                    let wait = backoff.failed(&run.id);
                    say!("run {}: next try in {} s", run.id, wait.as_secs());
                }
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

/// The user's name and their primary group's name; numbers when the system has no name.
fn identity(uid: u32) -> (String, String) {
    match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(u)) => {
            let group = Group::from_gid(u.gid)
                .ok()
                .flatten()
                .map_or_else(|| u.gid.to_string(), |g| g.name);
            (u.name, group)
        }
        _ => (uid.to_string(), uid.to_string()),
    }
}

/// Why no frame came.
#[derive(Debug)]
enum NoFrame {
    /// Nothing arrived within the read timeout.
    Quiet,
    /// The stream is unusable.
    Broken(String),
}
use NoFrame::{Broken, Quiet};

impl std::fmt::Display for NoFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Quiet => write!(f, "the wrapper said nothing in time"),
            Broken(why) => write!(f, "{why}"),
        }
    }
}

fn next_frame(stream: &mut UnixStream, decoder: &mut Decoder) -> Result<Option<Frame>, NoFrame> {
    let mut buf = [0u8; 64 * 1024];
    loop {
        if let Some(f) = decoder
            .next_frame()
            .map_err(|e| Broken(format!("a wrapper sent a bad frame: {e}")))?
        {
            return Ok(Some(f));
        }
        match stream.read(&mut buf) {
            Ok(0) => return Ok(None),
            Ok(n) => decoder.push(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(Quiet);
            }
            Err(e) => return Err(Broken(format!("a wrapper's stream broke: {e}"))),
        }
    }
}
