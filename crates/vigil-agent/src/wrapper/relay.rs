//! The recorded run: the program's streams relayed between the user and the program, each
//! chunk handed to the agent with its time as it passes.
//!
//! With a terminal, the program runs on a new pseudo-terminal whose settings and size are the
//! user's; the user's terminal is raw while it runs (the program's line discipline does the
//! work) and restored after, whatever happens. Input typed while the program's terminal does
//! not echo and reads lines (a password prompt) is counted, never recorded. Without a terminal,
//! the program's standard streams are pipes and all three are recorded.
//!
//! Input to the program is queued and written as the program takes it, so a large paste into
//! a program that is busy writing cannot deadlock the two directions. If the agent stops
//! taking the recording, the program is hung up: a recorded run is never left unrecorded
//! (fail closed, as sudo's I/O log is by default).

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::{Child, Stdio};
use std::time::Instant;

use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use nix::sys::termios::{self, LocalFlags, SetArg, Termios};

use super::Outcome;
use super::spawn::{on_signals, signal_fd, spawn_on};
use crate::wire::Frame;

const CHUNK: usize = 64 * 1024;

/// The terminal's size as (columns, rows).
pub(crate) fn window_size(fd: BorrowedFd<'_>) -> Option<(u16, u16)> {
    rustix::termios::tcgetwinsize(fd)
        .ok()
        .filter(|w| w.ws_col > 0 && w.ws_row > 0)
        .map(|w| (w.ws_col, w.ws_row))
}

/// Hands frames to the agent, timed from the run's start.
struct Recorder<'a> {
    socket: &'a mut UnixStream,
    started: Instant,
    /// Reused for every chunk's frame: the hot path allocates nothing.
    scratch: Vec<u8>,
}

impl<'a> Recorder<'a> {
    fn new(socket: &'a mut UnixStream, started: Instant) -> Recorder<'a> {
        Recorder {
            socket,
            started,
            scratch: Vec::with_capacity(CHUNK + 16),
        }
    }

    fn at(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn send(&mut self, frame: Frame) -> Result<(), String> {
        self.socket.write_all(&frame.encode()).map_err(stopped)
    }

    /// Output (or input) as it passes, timed now.
    fn chunk(&mut self, input: bool, bytes: &[u8]) -> Result<(), String> {
        let at = self.at();
        self.scratch.clear();
        crate::wire::encode_chunk(&mut self.scratch, input, at, bytes);
        self.socket.write_all(&self.scratch).map_err(stopped)
    }
}

fn stopped(e: std::io::Error) -> String {
    format!("the Vigil agent stopped taking the recording ({e}); the program was hung up")
}

/// Writes all of `bytes` to `fd` as they are (the user's terminal or output: no buffering,
/// no line discipline of ours); gives up on an error (the user's side went away).
fn write_fd(fd: BorrowedFd<'_>, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(0) => return,
            Ok(n) => bytes = &bytes[n..],
            Err(nix::Error::EINTR) => {}
            Err(nix::Error::EAGAIN) => {
                let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
                let _ = poll(&mut fds, PollTimeout::from(100u8));
            }
            Err(_) => return,
        }
    }
}

/// The user's terminal in raw mode until dropped.
struct RawMode<'a> {
    fd: BorrowedFd<'a>,
    saved: Termios,
}

impl<'a> RawMode<'a> {
    fn enter(fd: BorrowedFd<'a>, saved: Termios) -> Result<RawMode<'a>, String> {
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(fd, SetArg::TCSADRAIN, &raw)
            .map_err(|e| format!("cannot set the terminal: {e}"))?;
        Ok(RawMode { fd, saved })
    }
}

impl Drop for RawMode<'_> {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.fd, SetArg::TCSADRAIN, &self.saved);
    }
}

fn set_flags(fd: BorrowedFd<'_>, nonblocking: bool, cloexec: bool) -> Result<(), String> {
    let fail = |e: nix::Error| format!("cannot set up the program's streams: {e}");
    if cloexec {
        fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map_err(fail)?;
    }
    if nonblocking {
        let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL).map_err(fail)?);
        fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).map_err(fail)?;
    }
    Ok(())
}

/// Reads what is there: `Some(0)` at the end, `None` when nothing is ready (or, for a
/// pseudo-terminal, `EIO`: every holder of its other side closed it, which is its end).
fn read_some(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Option<usize> {
    match nix::unistd::read(fd, buf) {
        Ok(n) => Some(n),
        Err(nix::Error::EIO) => Some(0),
        Err(nix::Error::EAGAIN | nix::Error::EINTR) => None,
        Err(_) => Some(0),
    }
}

/// Input waiting for the program to take it.
#[derive(Default)]
struct Queue(Vec<u8>);

impl Queue {
    /// Writes what the program takes now; false when it can take nothing more, ever.
    fn write_to(&mut self, fd: BorrowedFd<'_>) -> bool {
        while !self.0.is_empty() {
            match nix::unistd::write(fd, &self.0) {
                Ok(n) => {
                    self.0.drain(..n);
                }
                Err(nix::Error::EAGAIN | nix::Error::EINTR) => return true,
                Err(_) => {
                    self.0.clear();
                    return false;
                }
            }
        }
        true
    }
}

fn hang_up(child: &Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, Signal::SIGHUP);
}

/// The program on a pseudo-terminal (the user's stdin and stdout are terminals).
pub(crate) fn run_in_pty(
    original: &File,
    argv: &[std::ffi::CString],
    socket: &mut UnixStream,
    started: Instant,
) -> Result<Outcome, String> {
    let stdin = std::io::stdin();
    let user = stdin.as_fd();
    let stdout = std::io::stdout();
    let out = stdout.as_fd();
    let saved = termios::tcgetattr(user)
        .map_err(|e| format!("cannot read the terminal's settings: {e}"))?;
    let (cols, rows) = window_size(user).unwrap_or((80, 24));
    let size = nix::pty::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&size), Some(&saved))
        .map_err(|e| format!("cannot open a pseudo-terminal: {e}"))?;
    let master: OwnedFd = pty.master;
    set_flags(master.as_fd(), true, true)?;
    let slave = pty.slave;
    let stdio = [
        Stdio::from(slave.try_clone().map_err(|e| e.to_string())?),
        Stdio::from(slave.try_clone().map_err(|e| e.to_string())?),
        Stdio::from(slave.try_clone().map_err(|e| e.to_string())?),
    ];
    let signals = signal_fd()?;
    let mut child = spawn_on(original, argv, stdio, Some(slave))?;
    let mut rec = Recorder::new(socket, started);
    let raw = RawMode::enter(user, saved)?;
    let mut buf = vec![0u8; CHUNK];
    let mut queue = Queue::default();
    let (mut user_open, mut master_open) = (true, true);
    let outcome = loop {
        let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        if master_open {
            let mut want = PollFlags::POLLIN;
            if !queue.0.is_empty() {
                want |= PollFlags::POLLOUT;
            }
            fds.push(PollFd::new(master.as_fd(), want));
        }
        // Input waits while the program has not taken what came before.
        let read_user = user_open && master_open && queue.0.len() < CHUNK;
        if read_user {
            fds.push(PollFd::new(user, PollFlags::POLLIN));
        }
        let _ = poll(&mut fds, PollTimeout::NONE);
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if master_open && ready.get(1).copied().unwrap_or(false) {
            if let Some(n) = read_some(master.as_fd(), &mut buf) {
                if n == 0 {
                    master_open = false;
                } else {
                    write_fd(out, &buf[..n]);
                    if let Err(e) = rec.chunk(false, &buf[..n]) {
                        hang_up(&child);
                        return Err(e);
                    }
                }
            }
            if master_open && !queue.write_to(master.as_fd()) {
                master_open = false;
            }
        }
        if read_user && ready.last().copied().unwrap_or(false) {
            match read_some(user, &mut buf) {
                Some(0) => user_open = false,
                Some(n) => {
                    let at = rec.at();
                    let hidden = termios::tcgetattr(master.as_fd()).is_ok_and(|t| {
                        !t.local_flags.contains(LocalFlags::ECHO)
                            && t.local_flags.contains(LocalFlags::ICANON)
                    });
                    let sent = if hidden {
                        rec.send(Frame::Redacted {
                            at_ns: at,
                            bytes: n as u32,
                        })
                    } else {
                        rec.chunk(true, &buf[..n])
                    };
                    if let Err(e) = sent {
                        hang_up(&child);
                        return Err(e);
                    }
                    queue.0.extend_from_slice(&buf[..n]);
                    if !queue.write_to(master.as_fd()) {
                        master_open = false;
                    }
                }
                None => {}
            }
        }
        let mut resize = || {
            if let Ok(w) = rustix::termios::tcgetwinsize(user) {
                let _ = rustix::termios::tcsetwinsize(master.as_fd(), w);
                let at = rec.at();
                let _ = rec.send(Frame::Resize {
                    at_ns: at,
                    cols: w.ws_col,
                    rows: w.ws_row,
                });
            }
        };
        if let Some(done) = on_signals(&signals, &mut child, Some(&mut resize))? {
            break done;
        }
    };
    // What the program wrote before it ended is still in the pseudo-terminal.
    if master_open {
        while let Some(n) = read_some(master.as_fd(), &mut buf).filter(|n| *n > 0) {
            write_fd(out, &buf[..n]);
            rec.chunk(false, &buf[..n])?;
        }
    }
    drop(raw);
    Ok(outcome)
}

/// The program with pipes for its standard streams (no terminal on both of the user's).
pub(crate) fn run_with_pipes(
    original: &File,
    argv: &[std::ffi::CString],
    socket: &mut UnixStream,
    started: Instant,
) -> Result<Outcome, String> {
    let signals = signal_fd()?;
    let mut child = spawn_on(
        original,
        argv,
        [Stdio::piped(), Stdio::piped(), Stdio::piped()],
        None,
    )?;
    let mut to_child: Option<OwnedFd> = child.stdin.take().map(OwnedFd::from);
    let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
    let mut outs: Vec<(OwnedFd, BorrowedFd<'_>)> = Vec::new();
    if let Some(o) = child.stdout.take() {
        outs.push((OwnedFd::from(o), stdout.as_fd()));
    }
    if let Some(e) = child.stderr.take() {
        outs.push((OwnedFd::from(e), stderr.as_fd()));
    }
    for (fd, _) in &outs {
        set_flags(fd.as_fd(), true, true)?;
    }
    if let Some(fd) = &to_child {
        set_flags(fd.as_fd(), true, true)?;
    }
    let stdin = std::io::stdin();
    let user = stdin.as_fd();
    let mut user_open = true;
    let mut rec = Recorder::new(socket, started);
    let mut buf = vec![0u8; CHUNK];
    let mut queue = Queue::default();
    let mut outcome = None;
    while outcome.is_none() || !outs.is_empty() {
        let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        for (fd, _) in &outs {
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
        }
        let writing = to_child.is_some() && !queue.0.is_empty();
        if let (true, Some(fd)) = (writing, &to_child) {
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLOUT));
        }
        let read_user = user_open && to_child.is_some() && queue.0.len() < CHUNK;
        if read_user {
            fds.push(PollFd::new(user, PollFlags::POLLIN));
        }
        let timeout = if outcome.is_some() {
            PollTimeout::from(100u8)
        } else {
            PollTimeout::NONE
        };
        let _ = poll(&mut fds, timeout);
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        let mut closed = Vec::new();
        for (i, (fd, sink)) in outs.iter_mut().enumerate() {
            if !ready[1 + i] {
                continue;
            }
            match read_some(fd.as_fd(), &mut buf) {
                Some(0) => closed.push(i),
                Some(n) => {
                    write_fd(*sink, &buf[..n]);
                    if let Err(e) = rec.chunk(false, &buf[..n]) {
                        hang_up(&child);
                        return Err(e);
                    }
                }
                None => {}
            }
        }
        for i in closed.into_iter().rev() {
            outs.remove(i);
        }
        if outcome.is_some() && ready.iter().all(|r| !r) {
            // The program ended and its streams are quiet (something it left behind may
            // hold them open): stop here.
            break;
        }
        if read_user && ready.last().copied().unwrap_or(false) {
            match read_some(user, &mut buf) {
                Some(0) => user_open = false,
                Some(n) => {
                    if let Err(e) = rec.chunk(true, &buf[..n]) {
                        hang_up(&child);
                        return Err(e);
                    }
                    queue.0.extend_from_slice(&buf[..n]);
                }
                None => {}
            }
        }
        if let Some(fd) = &to_child {
            if !queue.write_to(fd.as_fd()) {
                to_child = None;
            } else if !user_open && queue.0.is_empty() {
                // The user's input ended: so does the program's.
                to_child = None;
            }
        }
        if outcome.is_none() {
            outcome = on_signals(&signals, &mut child, None)?;
        }
    }
    outcome.ok_or_else(|| "the program's end was not seen".to_owned())
}
