//! Starting the original program: the one module of the agent that needs `unsafe`, for the
//! code that runs in the child between `fork` and `exec` (`Command::pre_exec`). What runs
//! there is async-signal-safe system calls only: a new session, the pseudo-terminal made the
//! controlling terminal, the signal mask emptied.
//!
//! The program is executed through `/proc/self/fd/N` of the original opened while the
//! wrapper still had the agent group, so the child needs no access to the originals'
//! directory. A script keeps its descriptor open across `exec` (its interpreter opens it by
//! that name); a binary's is closed on `exec`.
#![allow(unsafe_code)]

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};

use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use super::Outcome;

/// The signals the wrapper takes through a descriptor while the program runs: the child's
/// end, a terminal's resize, and the ones it passes on or ignores.
pub(crate) fn watched_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGWINCH,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGTERM,
        Signal::SIGHUP,
    ] {
        set.add(s);
    }
    set
}

/// Blocks the watched signals and returns the descriptor they arrive on.
pub(crate) fn signal_fd() -> Result<SignalFd, String> {
    let set = watched_signals();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
        .map_err(|e| format!("cannot block signals: {e}"))?;
    SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| format!("cannot watch signals: {e}"))
}

/// True when the file starts with `#!` (run by an interpreter that opens it by name).
fn is_script(original: &File) -> bool {
    let mut head = [0u8; 2];
    let mut f: &File = original;
    let read = f.read(&mut head).unwrap_or(0);
    read == 2 && &head == b"#!"
}

/// Lets a script's interpreter open the original by `/proc/self/fd/N` after `exec`.
fn prepare(original: &File) -> Result<(), String> {
    if is_script(original) {
        fcntl(original.as_fd(), FcntlArg::F_SETFD(FdFlag::empty()))
            .map_err(|e| format!("cannot keep the script open for its interpreter: {e}"))?;
    }
    Ok(())
}

/// Becomes the original program (same process, same arguments and environment). Returns
/// only with the reason it could not.
pub(crate) fn become_original(original: &File, argv: &[std::ffi::OsString]) -> String {
    if let Err(e) = prepare(original) {
        return e;
    }
    let args: Vec<CString> = argv
        .iter()
        .map(|a| CString::new(a.as_bytes()).unwrap_or_default())
        .collect();
    let env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).unwrap_or_default()
        })
        .collect();
    match nix::unistd::fexecve(original.as_fd(), &args, &env) {
        Ok(never) => match never {},
        Err(e) => format!("cannot run the program: {e}"),
    }
}

fn command(original: &File, argv: &[CString]) -> Result<Command, String> {
    prepare(original)?;
    let mut cmd = Command::new(format!("/proc/self/fd/{}", original.as_raw_fd()));
    if let Some((first, rest)) = argv.split_first() {
        cmd.arg0(OsStr::from_bytes(first.as_bytes()));
        cmd.args(rest.iter().map(|a| OsStr::from_bytes(a.as_bytes())));
    }
    // SAFETY: only async-signal-safe calls (sigprocmask) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
                .map_err(std::io::Error::from)
        });
    }
    Ok(cmd)
}

/// The program on the wrapper's own standard streams (audited, not recorded).
pub(crate) fn run_plain(original: &File, argv: &[CString]) -> Result<Outcome, String> {
    let signals = signal_fd()?;
    let mut child = command(original, argv)?
        .spawn()
        .map_err(|e| format!("cannot run the program: {e}"))?;
    loop {
        let mut fds = [nix::poll::PollFd::new(
            signals.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE);
        if let Some(done) = on_signals(&signals, &mut child, None)? {
            return Ok(done);
        }
    }
}

/// The program with its standard streams on `stdio` (a pseudo-terminal's or pipes'); with a
/// terminal it leads a new session whose controlling terminal that is.
pub(crate) fn spawn_on(
    original: &File,
    argv: &[CString],
    stdio: [Stdio; 3],
    terminal: Option<OwnedFd>,
) -> Result<Child, String> {
    let mut cmd = command(original, argv)?;
    let [i, o, e] = stdio;
    cmd.stdin(i).stdout(o).stderr(e);
    if terminal.is_some() {
        // SAFETY: setsid and the TIOCSCTTY ioctl are async-signal-safe system calls.
        unsafe {
            cmd.pre_exec(|| {
                rustix::process::setsid()?;
                let stdin = BorrowedFd::borrow_raw(0);
                rustix::process::ioctl_tiocsctty(stdin)?;
                Ok(())
            });
        }
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot run the program: {e}"))?;
    drop(terminal);
    Ok(child)
}

/// Takes the pending signals: the child's end gives its outcome; a terminal's resize is
/// passed to `on_resize`; a hangup or termination is passed on to the program; an interrupt
/// or quit from the terminal already reached the program and is ignored here.
pub(crate) fn on_signals(
    signals: &SignalFd,
    child: &mut Child,
    mut on_resize: Option<&mut dyn FnMut()>,
) -> Result<Option<Outcome>, String> {
    while let Ok(Some(info)) = signals.read_signal() {
        let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
            continue;
        };
        match sig {
            Signal::SIGWINCH => {
                if let Some(f) = on_resize.as_mut() {
                    f();
                }
            }
            Signal::SIGTERM | Signal::SIGHUP => {
                let pid = nix::unistd::Pid::from_raw(child.id() as i32);
                let _ = nix::sys::signal::kill(pid, sig);
            }
            _ => {}
        }
    }
    match child.try_wait() {
        Ok(Some(status)) => Ok(Some(Outcome {
            exit_status: status.code(),
            signal: status.signal().and_then(|s| Signal::try_from(s).ok()),
        })),
        Ok(None) => Ok(None),
        Err(e) => Err(format!("cannot wait for the program: {e}")),
    }
}
