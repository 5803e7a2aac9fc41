//! Relays one legacy SCP run (`scp -t` or `scp -f`) between the side that sends files (the
//! source) and the side that receives them (the sink), holding every file at the gateway
//! until the policy decided it.
//!
//! The protocol is step by step: the source says a line (or a file's body) and waits for the
//! sink's answer (`\0`, or an error line). Times, directories and their ends pass through
//! with the sink's answer. A file does not: the gateway answers the source's `C` line itself,
//! spools the body, decides, and only then replays `C`, the body and its status byte to the
//! sink, whose answer goes back to the source. So a refused file never reaches the sink, not
//! even as an empty file (OpenSSH's sink creates the file when it reads `C`).
//!
//! A refusal is an SCP error line (`\x01scp: vigil: PATH refused by PLUGIN: REASON`) to the
//! operator's client, which prints it, goes on with the next file and exits 1 at the end: on
//! an upload, as the answer to the body; on a download, in place of the file, while the
//! target's `scp -f` is answered `\0` and goes on.
//!
//! What it is not: a sink. It checks what it relays with [`ScpSource`] and stops at the first
//! line that is not SCP, telling both sides.

use std::collections::VecDeque;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use vigil_core::Direction;

use crate::inspect::{Incoming, Inspector, Outcome};
use crate::scp::{MAX_LINE, ScpError, ScpEvent, ScpSource};

/// Why a relay stopped before the source's end.
#[derive(Debug, thiserror::Error)]
pub enum ScpRelayError {
    #[error("the SCP stream is not valid: {0}")]
    Protocol(#[from] ScpError),
    #[error("the {side} answered with something that is not SCP")]
    BadAnswer { side: &'static str },
    #[error("the transfer's channel failed: {0}")]
    Io(#[from] std::io::Error),
}

/// One end of the relay: what it says, and how to answer it.
pub struct End<R, W> {
    pub read: R,
    pub write: W,
}

/// Where the files go and come from, for their paths in the evidence.
#[derive(Debug, Clone)]
pub struct ScpRun {
    pub direction: Direction,
    /// The paths of the command (`scp -t PATH`, `scp -f PATH...`).
    pub paths: Vec<String>,
}

impl ScpRun {
    /// The path on the target of file `name` inside `dirs`, and the other path it may land
    /// under (a sink decides whether the command's path is a directory).
    fn file_path(&self, dirs: &[String], name: &str) -> (String, Option<String>) {
        let join = |base: &str, rest: &[&str]| {
            let mut p = base.trim_end_matches('/').to_owned();
            for r in rest {
                p.push('/');
                p.push_str(r);
            }
            p
        };
        let mut rest: Vec<&str> = dirs.iter().map(String::as_str).collect();
        rest.push(name);
        match self.direction {
            Direction::Upload => {
                let base = self.paths.last().map_or(".", String::as_str);
                let inside = join(base, &rest);
                // `scp a host:/tmp/x` writes /tmp/x unless it is a directory; `scp -r d
                // host:/tmp/new` makes /tmp/new from d when /tmp/new does not exist.
                let instead = join(base, &rest[1..]);
                let base_name = base.trim_end_matches('/').rsplit('/').next();
                if rest.len() == 1 && base_name == Some(name) {
                    (base.to_owned(), Some(inside))
                } else {
                    (inside, Some(instead))
                }
            }
            Direction::Download => {
                let first = rest[0];
                let from = self
                    .paths
                    .iter()
                    .find(|p| p.trim_end_matches('/').rsplit('/').next() == Some(first));
                match from {
                    Some(p) => (join(p, &rest[1..]), None),
                    None => (join(".", &rest), None),
                }
            }
        }
    }
}

/// What the sink answered a step: `\0`, or its error line (kept whole, to pass on).
struct Answer(Vec<u8>);

impl Answer {
    fn ok(&self) -> bool {
        self.0 == [0]
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0[1..]).trim_end().to_owned()
    }
}

async fn answer<R: AsyncRead + Unpin>(
    sink: &mut BufReader<R>,
    side: &'static str,
) -> Result<Option<Answer>, ScpRelayError> {
    let mut first = [0u8; 1];
    if sink.read(&mut first).await? == 0 {
        return Ok(None);
    }
    match first[0] {
        0 => Ok(Some(Answer(vec![0]))),
        1 | 2 => {
            let mut line = vec![first[0]];
            let mut limited = (&mut *sink).take(MAX_LINE as u64);
            limited.read_until(b'\n', &mut line).await?;
            if line.last() != Some(&b'\n') {
                return Err(ScpRelayError::BadAnswer { side });
            }
            Ok(Some(Answer(line)))
        }
        _ => Err(ScpRelayError::BadAnswer { side }),
    }
}

/// The file whose body is being read.
struct Receiving {
    line: Vec<u8>,
    incoming: Incoming,
    offset: u64,
}

struct Relay<'a, SR, SW, KR, KW> {
    run: &'a ScpRun,
    inspector: &'a Inspector,
    source: End<BufReader<SR>, SW>,
    sink: End<BufReader<KR>, KW>,
    dirs: Vec<String>,
    file: Option<Receiving>,
    /// The source could not read the file it sent and sends its error next (see the loop).
    failed_body: bool,
}

/// Relays one run until the source's end (then the sink's input is closed) or an error
/// (both sides are told; then the caller closes the channel).
pub async fn relay<SR, SW, KR, KW>(
    run: &ScpRun,
    inspector: &Inspector,
    source: End<SR, SW>,
    sink: End<KR, KW>,
) -> Result<(), ScpRelayError>
where
    SR: AsyncRead + Unpin,
    SW: AsyncWrite + Unpin,
    KR: AsyncRead + Unpin,
    KW: AsyncWrite + Unpin,
{
    let mut relay = Relay {
        run,
        inspector,
        source: End {
            read: BufReader::with_capacity(64 * 1024, source.read),
            write: source.write,
        },
        sink: End {
            read: BufReader::new(sink.read),
            write: sink.write,
        },
        dirs: Vec::new(),
        file: None,
        failed_body: false,
    };
    let result = relay.steps().await;
    if let Err(e) = &result {
        let line = format!("\x02scp: vigil: {e}\n");
        let _ = relay.source.write.write_all(line.as_bytes()).await;
        let _ = relay.source.write.flush().await;
    }
    let _ = relay.sink.write.shutdown().await;
    result
}

impl<SR, SW, KR, KW> Relay<'_, SR, SW, KR, KW>
where
    SR: AsyncRead + Unpin,
    SW: AsyncWrite + Unpin,
    KR: AsyncRead + Unpin,
    KW: AsyncWrite + Unpin,
{
    async fn steps(&mut self) -> Result<(), ScpRelayError> {
        // The sink speaks first: ready (or why not).
        let side = self.sink_name();
        match answer(&mut self.sink.read, side).await? {
            Some(a) => self.tell_source(&a.0).await?,
            None => return Ok(()),
        }
        let mut parser = ScpSource::new();
        let mut events = VecDeque::new();
        loop {
            let chunk = self.source.read.fill_buf().await?;
            if chunk.is_empty() {
                return Ok(());
            }
            let n = chunk.len();
            let mut out = Vec::new();
            let parsed = parser.feed(chunk, &mut out);
            self.source.read.consume(n);
            events.extend(out);
            while let Some(event) = events.pop_front() {
                self.step(event, &mut parser).await?;
            }
            parsed?;
        }
    }

    fn sink_name(&self) -> &'static str {
        match self.run.direction {
            Direction::Upload => "target",
            Direction::Download => "operator's client",
        }
    }

    async fn tell_source(&mut self, bytes: &[u8]) -> Result<(), ScpRelayError> {
        self.source.write.write_all(bytes).await?;
        Ok(self.source.write.flush().await?)
    }

    async fn tell_sink(&mut self, bytes: &[u8]) -> Result<(), ScpRelayError> {
        self.sink.write.write_all(bytes).await?;
        Ok(self.sink.write.flush().await?)
    }

    /// Sends a line to the sink and returns its answer.
    async fn ask_sink(&mut self, line: &[u8]) -> Result<Answer, ScpRelayError> {
        self.tell_sink(line).await?;
        let side = self.sink_name();
        answer(&mut self.sink.read, side)
            .await?
            .ok_or_else(|| ScpRelayError::Io(std::io::ErrorKind::UnexpectedEof.into()))
    }

    /// Passes a step to the sink and its answer back to the source.
    async fn pass(&mut self, line: &[u8]) -> Result<Answer, ScpRelayError> {
        let a = self.ask_sink(line).await?;
        self.tell_source(&a.0).await?;
        Ok(a)
    }

    async fn step(&mut self, event: ScpEvent, parser: &mut ScpSource) -> Result<(), ScpRelayError> {
        match event {
            ScpEvent::Times { mtime, atime } => {
                self.pass(format!("T{mtime} 0 {atime} 0\n").as_bytes())
                    .await?;
            }
            ScpEvent::Dir { mode, name } => {
                let a = self
                    .pass(format!("D{mode:04o} 0 {name}\n").as_bytes())
                    .await?;
                if a.ok() {
                    self.dirs.push(name);
                } else {
                    // The source skips a directory the sink refused, without its `E`.
                    parser.dir_refused();
                }
            }
            ScpEvent::DirEnd => {
                self.dirs.pop();
                self.pass(b"E\n").await?;
            }
            ScpEvent::Error { fatal, message } => {
                if std::mem::take(&mut self.failed_body) {
                    // The body the source could not read was never offered to the sink:
                    // the source's error is its status, and it waits for an answer.
                    self.tell_source(b"\0").await?;
                } else {
                    let kind = if fatal { 2 } else { 1 };
                    let mut line = vec![kind];
                    line.extend_from_slice(message.as_bytes());
                    line.push(b'\n');
                    self.tell_sink(&line).await?;
                }
            }
            ScpEvent::File { mode, size, name } => {
                let (path, alias) = self.run.file_path(&self.dirs, &name);
                let mut incoming = self.inspector.incoming(&path, self.run.direction).await;
                if let Some(alias) = alias {
                    incoming.also_named(alias);
                }
                self.file = Some(Receiving {
                    line: format!("C{mode:04o} {size} {name}\n").into_bytes(),
                    incoming,
                    offset: 0,
                });
                // The gateway, not the sink, takes the file: nothing reaches the sink yet.
                self.tell_source(b"\0").await?;
            }
            ScpEvent::Data(bytes) => {
                if let Some(f) = &mut self.file {
                    f.incoming.write_at(f.offset, &bytes[..]).await;
                    f.offset += bytes.len() as u64;
                }
            }
            ScpEvent::FileEnd { ok } => {
                let Some(file) = self.file.take() else {
                    return Ok(());
                };
                if ok {
                    self.deliver(file).await?;
                } else {
                    self.failed_body = true;
                }
            }
        }
        Ok(())
    }

    /// Decides a complete file; delivers it to the sink, or tells the operator why not.
    async fn deliver(&mut self, file: Receiving) -> Result<(), ScpRelayError> {
        let spooled = match self.inspector.decide(file.incoming).await {
            Outcome::Deliver(s) => s,
            Outcome::Refused { message } => {
                let line = format!("\x01scp: {message}\n");
                return match self.run.direction {
                    // The operator's client waits for the answer to the body.
                    Direction::Upload => self.tell_source(line.as_bytes()).await,
                    // The operator's client is told in place of the file; the target's
                    // `scp -f` is told the file was taken and goes on.
                    Direction::Download => {
                        self.tell_sink(line.as_bytes()).await?;
                        self.tell_source(b"\0").await
                    }
                };
            }
        };
        let a = self.ask_sink(&file.line).await?;
        if !a.ok() {
            self.inspector.undelivered(&spooled.info, &a.text()).await;
            return self.tell_source(&a.0).await;
        }
        let mut blocks = spooled.blocks();
        while let Some(block) = blocks.next().await? {
            self.sink.write.write_all(&block).await?;
        }
        let a = self.ask_sink(b"\0").await?;
        if !a.ok() {
            self.inspector.undelivered(&spooled.info, &a.text()).await;
        }
        self.tell_source(&a.0).await
    }
}

#[cfg(test)]
mod tests;
