//! The legacy SCP protocol (`scp -O`: `scp -t` receives, `scp -f` sends), read from the
//! side that sends files (the source: the operator's client on an upload, the target's
//! `scp -f` on a download). An I/O-free state machine: bytes in, in any chunking; events out.
//!
//! The stream is lines and file bodies: `T<mtime> 0 <atime> 0\n` (times of what follows),
//! `C<mode> <size> <name>\n` then exactly `size` bytes and a status byte (`\0`),
//! `D<mode> 0 <name>\n` (into a directory), `E\n` (out of it), and `\x01msg\n` / `\x02msg\n`
//! (a warning or a fatal error the source reports). The sink answers each step with `\0` or
//! an error line of its own, on the other direction.
//!
//! What it is not: the sink's side (acks are read by whoever relays them), nor SFTP, which
//! OpenSSH's `scp` uses by default. A name is taken as the protocol allows it (one path
//! component); `..`, `.`, empty names and names with `/` are errors, as OpenSSH's sink says.

/// One thing the source said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScpEvent {
    /// Times for the next file or directory (seconds since the epoch).
    Times { mtime: u64, atime: u64 },
    /// A file begins: its body (`size` bytes) follows in `Data` events.
    File { mode: u32, size: u64, name: String },
    /// Part of the current file's body.
    Data(Vec<u8>),
    /// The current file's body is complete; `ok` is its status byte (`\0`: the source read
    /// it whole).
    FileEnd { ok: bool },
    /// Into a directory.
    Dir { mode: u32, name: String },
    /// Out of the current directory.
    DirEnd,
    /// The source reports a problem (`fatal`: it stops).
    Error { fatal: bool, message: String },
}

/// Why the stream is not SCP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScpError {
    #[error("an SCP control line is longer than {MAX_LINE} bytes")]
    LineTooLong,
    #[error("not an SCP control line: {0:?}")]
    BadLine(String),
    #[error("unexpected filename {0:?}")]
    BadName(String),
    #[error("E without a directory to leave")]
    Unbalanced,
}

/// The longest control line accepted (OpenSSH's is about 2 KiB of name).
pub const MAX_LINE: usize = 8192;

/// Directories deeper than this are refused (a source that never says E).
const MAX_DEPTH: usize = 256;

#[derive(Debug)]
enum State {
    Line(Vec<u8>),
    Body { left: u64 },
    Status,
    Failed,
}

/// Reads a source's stream (see the module doc).
#[derive(Debug)]
pub struct ScpSource {
    state: State,
    depth: usize,
}

impl Default for ScpSource {
    fn default() -> Self {
        ScpSource {
            state: State::Line(Vec::new()),
            depth: 0,
        }
    }
}

impl ScpSource {
    pub fn new() -> Self {
        ScpSource::default()
    }

    /// The directories entered and not left.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The sink refused the directory just entered: the source skips it without an `E`.
    pub fn dir_refused(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Whether the stream is between two steps (not inside a line or a file).
    pub fn at_rest(&self) -> bool {
        matches!(&self.state, State::Line(l) if l.is_empty())
    }

    /// Reads `data`, adding what it says to `out` (what came before an error stays there).
    /// After an error every later call fails.
    pub fn feed(&mut self, mut data: &[u8], out: &mut Vec<ScpEvent>) -> Result<(), ScpError> {
        while !data.is_empty() {
            match &mut self.state {
                State::Failed => return Err(ScpError::BadLine("after an error".into())),
                State::Body { left } => {
                    let n = usize::try_from(*left).unwrap_or(usize::MAX).min(data.len());
                    out.push(ScpEvent::Data(data[..n].to_vec()));
                    *left -= n as u64;
                    if *left == 0 {
                        self.state = State::Status;
                    }
                    data = &data[n..];
                }
                State::Status => {
                    out.push(ScpEvent::FileEnd { ok: data[0] == 0 });
                    self.state = State::Line(Vec::new());
                    // A source that could not read its file sends its error line in place of
                    // the status byte (OpenSSH: `run_err`): that line is read as one.
                    if !matches!(data[0], 1 | 2) {
                        data = &data[1..];
                    }
                }
                State::Line(line) => {
                    let end = data.iter().position(|&b| b == b'\n');
                    let take = end.map_or(data.len(), |i| i + 1);
                    if line.len() + take > MAX_LINE + 1 {
                        self.state = State::Failed;
                        return Err(ScpError::LineTooLong);
                    }
                    line.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if end.is_some() {
                        let line = std::mem::take(line);
                        match self.line(&line[..line.len() - 1]) {
                            Ok(event) => out.push(event),
                            Err(e) => {
                                self.state = State::Failed;
                                return Err(e);
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn line(&mut self, line: &[u8]) -> Result<ScpEvent, ScpError> {
        let text = String::from_utf8_lossy(line).into_owned();
        let bad = || ScpError::BadLine(text.chars().take(80).collect());
        let Some((&kind, rest)) = line.split_first() else {
            return Err(bad());
        };
        let rest = std::str::from_utf8(rest).map_err(|_| bad())?;
        match kind {
            b'T' => {
                let f: Vec<&str> = rest.split(' ').collect();
                match f.as_slice() {
                    [m, "0", a, "0"] => Ok(ScpEvent::Times {
                        mtime: m.parse().map_err(|_| bad())?,
                        atime: a.parse().map_err(|_| bad())?,
                    }),
                    _ => Err(bad()),
                }
            }
            b'C' | b'D' => {
                let mut f = rest.splitn(3, ' ');
                let (Some(mode), Some(size), Some(name)) = (f.next(), f.next(), f.next()) else {
                    return Err(bad());
                };
                if mode.len() != 4 || !mode.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                    return Err(bad());
                }
                let mode = u32::from_str_radix(mode, 8).map_err(|_| bad())?;
                if !size.bytes().all(|b| b.is_ascii_digit()) || size.is_empty() {
                    return Err(bad());
                }
                let size: u64 = size.parse().map_err(|_| bad())?;
                if name.is_empty() || name == "." || name == ".." || name.contains('/') {
                    return Err(ScpError::BadName(name.to_owned()));
                }
                let name = name.to_owned();
                if kind == b'D' {
                    if self.depth >= MAX_DEPTH {
                        return Err(bad());
                    }
                    self.depth += 1;
                    return Ok(ScpEvent::Dir { mode, name });
                }
                self.state = if size == 0 {
                    State::Status
                } else {
                    State::Body { left: size }
                };
                Ok(ScpEvent::File { mode, size, name })
            }
            b'E' if rest.is_empty() => {
                if self.depth == 0 {
                    return Err(ScpError::Unbalanced);
                }
                self.depth -= 1;
                Ok(ScpEvent::DirEnd)
            }
            1 | 2 => Ok(ScpEvent::Error {
                fatal: kind == 2,
                message: rest.to_owned(),
            }),
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests;
