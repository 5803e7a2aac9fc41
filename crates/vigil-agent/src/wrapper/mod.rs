//! `vigil-rec`, the wrapper the agent installs at each wrapped path. Per run it decides from
//! the cached policies (works while the server is away) whether the run is audited or
//! recorded; when neither, it becomes the original program at once (`fexecve`, nothing else
//! runs). Otherwise it tells the agent about the run over the agent's socket, runs the
//! original in a pseudo-terminal (or with pipes when there is no terminal), hands every byte
//! each way to the agent as it happens, and when the program ends says how the upload went
//! (`Uploading recorded output data...` `OK.`) and exits with the program's status.
//!
//! The wrapper is set-group-id to the agent group: that group alone reaches the diverted
//! original, the policies and the socket. It opens what it needs, then gives the group up
//! for good before anything of the user's runs.
//!
//! What it is not: a sandbox. Root can bypass it; a copy of the original the user made before
//! the rule, or their own build, is not wrapped (docs/ENDPOINT.md).

mod relay;
mod spawn;

use std::ffi::{CString, OsString};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use nix::unistd::{Gid, Group, Uid, User};
use vigil_core::{Runner, decide_run};

use crate::state::StateDir;
use crate::trailer::{self, WrapperConfig};
use crate::wire::{Decoder, Frame, RunEnd, RunStart};

/// The status a wrapper exits with when it cannot run the program (as a shell does for a
/// program it found but could not execute).
const CANNOT_RUN: i32 = 126;

/// How long the wrapper waits for the agent's word on an upload before saying it is queued.
const UPLOAD_WAIT: Duration = Duration::from_secs(60);

fn refuse(why: impl std::fmt::Display) -> i32 {
    eprintln!("vigil-rec: {why}");
    CANNOT_RUN
}

/// Runs the wrapper; returns the status to exit with.
pub fn main() -> i32 {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let config = match File::open("/proc/self/exe")
        .map_err(trailer::TrailerError::Io)
        .and_then(trailer::read)
    {
        Ok(c) => c,
        Err(e) => return refuse(e),
    };
    // Opened while the wrapper still has the agent group: its directory is the group's alone.
    let original = match File::open(&config.original) {
        Ok(f) => f,
        Err(e) => {
            return refuse(format!(
                "cannot open the program {}: {e}",
                config.original.display()
            ));
        }
    };
    let state = StateDir::new(&config.state_dir);
    let cache = match state.policies() {
        Ok(c) => c,
        Err(e) => return refuse(format!("cannot read the access policies: {e}")),
    };
    let who = Who::real();
    let decision = decide_run(
        cache
            .policies
            .iter()
            .filter(|p| config.paths.contains(&p.path)),
        &Runner {
            user: &who.user,
            primary_group: &who.group,
            host: &cache.host_name,
        },
    );
    if decision.untouched() {
        if let Err(e) = drop_group() {
            return refuse(e);
        }
        return refuse(spawn::become_original(&original, &argv));
    }
    let socket = match UnixStream::connect(state.socket()) {
        Ok(s) => s,
        Err(e) => {
            let what = if decision.record {
                "recorded"
            } else {
                "audited"
            };
            return refuse(format!(
                "{} must be {what} on this workstation, but the Vigil agent does not answer at {} ({e}); ask your administrator",
                config
                    .paths
                    .first()
                    .map(String::as_str)
                    .unwrap_or("this program"),
                state.socket().display()
            ));
        }
    };
    if let Err(e) = drop_group() {
        return refuse(e);
    }
    run_observed(&config, original, socket, &argv, decision.record)
}

/// The real user's name and the name of their passwd entry's group (never the process's
/// supplementary groups: the rules name the primary group only).
struct Who {
    user: String,
    group: String,
}

impl Who {
    fn real() -> Who {
        let uid = Uid::current();
        match User::from_uid(uid) {
            Ok(Some(u)) => {
                let group = Group::from_gid(u.gid)
                    .ok()
                    .flatten()
                    .map(|g| g.name)
                    .unwrap_or_else(|| u.gid.to_string());
                Who {
                    user: u.name,
                    group,
                }
            }
            // No passwd entry: no rule names such a user.
            _ => Who {
                user: uid.to_string(),
                group: Gid::current().to_string(),
            },
        }
    }
}

/// Gives up the agent group (effective and saved) for the rest of the run.
fn drop_group() -> Result<(), String> {
    let real = Gid::current();
    nix::unistd::setresgid(real, real, real)
        .map_err(|e| format!("cannot give up the agent group: {e}"))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn lossy(s: &OsString) -> String {
    String::from_utf8_lossy(s.as_bytes()).into_owned()
}

/// The run told to the agent, the program run and watched, the end told, the uploads said.
fn run_observed(
    config: &WrapperConfig,
    original: File,
    mut socket: UnixStream,
    argv: &[OsString],
    record: bool,
) -> i32 {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let terminal =
        rustix::termios::isatty(stdin.as_fd()) && rustix::termios::isatty(stdout.as_fd());
    let size = relay::window_size(stdin.as_fd()).unwrap_or((80, 24));
    let start = RunStart {
        program: config.paths.first().cloned().unwrap_or_default(),
        real_path: config.original.display().to_string(),
        argv: argv.iter().map(lossy).collect(),
        cwd: std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
        tty: rustix::termios::ttyname(stdin.as_fd(), Vec::new())
            .ok()
            .map(|t| t.to_string_lossy().into_owned()),
        started_at: now_ms(),
        record,
        cols: size.0,
        rows: size.1,
        term: std::env::var("TERM").ok(),
    };
    let started = Instant::now();
    if let Err(e) = socket.write_all(&Frame::Start(start).encode()) {
        return refuse(format!("the Vigil agent hung up: {e}"));
    }
    let mut decoder = Decoder::default();
    match read_frame(&mut socket, &mut decoder, Duration::from_secs(10)) {
        Ok(Frame::Accepted(a)) if a.ok => {}
        Ok(Frame::Accepted(a)) => return refuse(a.message),
        Ok(other) => return refuse(format!("the Vigil agent answered {other:?}")),
        Err(e) => return refuse(format!("the Vigil agent did not take the run: {e}")),
    }
    let argv_c: Vec<CString> = argv
        .iter()
        .map(|a| CString::new(a.as_bytes()).unwrap_or_default())
        .collect();
    let ended = if !record {
        spawn::run_plain(&original, &argv_c)
    } else if terminal {
        relay::run_in_pty(&original, &argv_c, &mut socket, started)
    } else {
        relay::run_with_pipes(&original, &argv_c, &mut socket, started)
    };
    let outcome = match ended {
        Ok(o) => o,
        Err(e) => return refuse(e),
    };
    let end = RunEnd {
        at_ns: u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX),
        ended_at: now_ms(),
        exit_status: outcome.exit_status,
        signal: outcome.signal_name(),
    };
    if let Err(e) = socket.write_all(&Frame::End(end).encode()) {
        eprintln!("vigil-rec: the Vigil agent hung up before the run ended: {e}");
        return outcome.status();
    }
    if record {
        say_uploads(&mut socket, &mut decoder);
    }
    outcome.status()
}

/// Prints the agent's word on each recording's upload, as the seed shows it.
fn say_uploads(socket: &mut UnixStream, decoder: &mut Decoder) {
    let mut err = std::io::stderr();
    for (i, object) in ["output", "input"].into_iter().enumerate() {
        let lead = if i == 0 { "\r\n" } else { "\r\n\r\n" };
        let _ = write!(err, "{lead}Uploading recorded {object} data...\r\n");
        let line = match read_frame(socket, decoder, UPLOAD_WAIT) {
            Ok(Frame::Uploaded(n)) if n.ok => "OK.".to_owned(),
            Ok(Frame::Uploaded(n)) => format!(
                "Queued: {}. The agent keeps it and uploads it when it can.",
                n.message
            ),
            Ok(other) => format!("Queued (the agent answered {other:?})."),
            Err(e) => format!("Queued ({e}). The agent keeps it and uploads it when it can."),
        };
        let _ = write!(err, "{line}");
    }
    let _ = write!(err, "\r\n");
}

fn read_frame(
    socket: &mut UnixStream,
    decoder: &mut Decoder,
    wait: Duration,
) -> Result<Frame, String> {
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 4096];
    loop {
        if let Some(f) = decoder.next_frame().map_err(|e| e.to_string())? {
            return Ok(f);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("no answer from the Vigil agent in time".into());
        }
        socket
            .set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        match socket.read(&mut buf) {
            Ok(0) => return Err("the Vigil agent hung up".into()),
            Ok(n) => decoder.push(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// How the program ended.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outcome {
    exit_status: Option<i32>,
    signal: Option<nix::sys::signal::Signal>,
}

impl Outcome {
    fn signal_name(&self) -> Option<String> {
        self.signal
            .map(|s| s.as_str().trim_start_matches("SIG").to_owned())
    }

    /// The status the wrapper exits with: the program's, or 128 + the signal as shells say.
    fn status(&self) -> i32 {
        match (self.exit_status, self.signal) {
            (Some(code), _) => code,
            (None, Some(sig)) => 128 + sig as i32,
            (None, None) => 1,
        }
    }
}
