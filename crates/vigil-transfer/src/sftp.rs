//! Relays one SFTP session (the `sftp` subsystem, which OpenSSH's `scp` also uses) between
//! the operator's client and the target's `sftp-server`, holding every file at the gateway
//! until the policy decided it.
//!
//! The gateway is an SFTP server to the operator (russh-sftp's server) and an SFTP client to
//! the target (its `RawSftpSession`). What a file is, is decided here, not on the target:
//! - **Upload** (an open for writing): nothing is opened on the target. WRITEs go to the
//!   spool by offset (holes read as zeros; `APPEND` writes at the end; a resumed upload, an
//!   open without `TRUNCATE`, starts from the target's current file). At CLOSE the policy
//!   decides the whole file; an allowed file is then written to the target in one pass
//!   (open with `TRUNCATE`, pipelined writes, the attributes the client set, close) and the
//!   client's CLOSE answers with the target's result. A refused file is never opened on the
//!   target: CLOSE answers `SSH_FX_PERMISSION_DENIED` with the plugin and the reason.
//! - **Download** (an open for reading): at OPEN the gateway reads the whole file from the
//!   target into the spool and decides; a refused file fails the OPEN (permission denied,
//!   with the reason); an allowed one is served from the spool.
//! - Everything else (listings, stat, mkdir, remove, rename, symlink, readlink, realpath,
//!   setstat) is passed to the target; what changes the target is logged with its outcome.
//!
//! What it is not: a full SFTP v3 server. File names must be UTF-8 (russh-sftp's types);
//! no extensions are offered to the client (no `posix-rename`, `statvfs`, `hardlink`,
//! `fsync`: OpenSSH's clients fall back or say the server does not support them); reading
//! from a file opened for writing is refused; a file with bytes never written (a sparse
//! upload: a write far past the end) is refused at CLOSE, since its holes would be inspected
//! and delivered as zeros the client never sent; the server side answers one request at a
//! time.

use std::collections::HashMap;
use std::sync::Arc;

use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as ClientError;
use russh_sftp::protocol::{
    Attrs, Data, FileAttributes, Handle, Name, OpenFlags, Status, StatusCode, Version,
};
use russh_sftp::server::{Handler, StatusReply};
use tokio::io::{AsyncRead, AsyncWrite};
use vigil_core::Direction;

use crate::inspect::{Incoming, Inspector, Outcome};
use crate::spool::Spooled;

mod target;

/// How long one request to the target may take.
const TARGET_TIMEOUT_SECS: u64 = 120;
/// The largest READ answered (OpenSSH asks for 32 KiB; its server allows 256 KiB packets).
const MAX_READ: u32 = 256 * 1024;

/// Which directions the session's policy allows (files of a refused direction are refused
/// at OPEN, logged like any refusal).
#[derive(Debug, Clone, Copy)]
pub struct Directions {
    pub upload: bool,
    pub download: bool,
}

impl Directions {
    /// The directions `policy` allows.
    pub fn of(policy: &vigil_core::TransferPolicy) -> Directions {
        Directions {
            upload: policy.upload == vigil_core::Permit::Allow,
            download: policy.download == vigil_core::Permit::Allow,
        }
    }
}

/// Where the relay sends what the operator must read. OpenSSH's `sftp` and `scp` print a
/// status's code ("Permission denied"), not the server's message, so each refusal is also
/// sent here (the gateway writes it to the channel's stderr, which the client shows).
pub type Notices = tokio::sync::mpsc::UnboundedSender<String>;

/// Why the relay could not start.
#[derive(Debug, thiserror::Error)]
pub enum SftpRelayError {
    #[error("the target's SFTP server did not start: {0}")]
    Target(String),
}

/// Relays until the operator's client ends the session; then the target's side is closed.
pub async fn relay<O, T>(
    operator: O,
    target: T,
    inspector: Arc<Inspector>,
    directions: Directions,
    notices: Notices,
) -> Result<(), SftpRelayError>
where
    O: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let session = RawSftpSession::new(target);
    session.set_timeout(TARGET_TIMEOUT_SECS);
    session
        .init()
        .await
        .map_err(|e| SftpRelayError::Target(e.to_string()))?;
    let (done_tx, done) = tokio::sync::oneshot::channel::<()>();
    let gateway = Gateway {
        target: Arc::new(session),
        inspector,
        directions,
        notices,
        open: HashMap::new(),
        next_handle: 0,
        _done: done_tx,
    };
    russh_sftp::server::run(operator, gateway).await;
    // The server's task drops the gateway (and with it the target's session) when the
    // operator's stream ends.
    let _ = done.await;
    Ok(())
}

/// An open handle of the operator's.
enum Open {
    Dir { target: String },
    Upload(Box<Upload>),
    Download(Box<Download>),
}

/// An allowed download, served from the spool.
struct Download {
    spooled: Spooled,
    attrs: FileAttributes,
    /// The spooled bytes from `ahead_at`: clients read in order in small requests, so one
    /// read from the disk serves many of them.
    ahead: Vec<u8>,
    ahead_at: u64,
}

/// Bytes read from the spool at once for a download.
const READ_AHEAD: usize = 256 * 1024;

impl Download {
    /// Up to `len` bytes from `offset`; empty at the end of the file.
    async fn read(&mut self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let end = self.ahead_at + self.ahead.len() as u64;
        if offset < self.ahead_at || offset.saturating_add(len as u64) > end {
            self.ahead = self.spooled.read_at(offset, READ_AHEAD.max(len)).await?;
            self.ahead_at = offset;
        }
        // In range: offset >= ahead_at and, unless the file ends first, offset + len <= end.
        let from = usize::try_from(offset - self.ahead_at)
            .unwrap_or(usize::MAX)
            .min(self.ahead.len());
        let to = from.saturating_add(len).min(self.ahead.len());
        Ok(self.ahead[from..to].to_vec())
    }
}

/// A file being written by the operator, held at the gateway until CLOSE.
struct Upload {
    path: String,
    exclusive: bool,
    append: bool,
    /// The attributes given at OPEN (the new file's permissions), then FSETSTAT's.
    attrs: FileAttributes,
    set_later: Option<FileAttributes>,
    incoming: Incoming,
}

struct Gateway {
    target: Arc<RawSftpSession>,
    inspector: Arc<Inspector>,
    directions: Directions,
    notices: Notices,
    open: HashMap<String, Open>,
    next_handle: u64,
    /// Dropped with the gateway: the relay's end.
    _done: tokio::sync::oneshot::Sender<()>,
}

fn ok(id: u32) -> Status {
    Status {
        id,
        status_code: StatusCode::Ok,
        error_message: "Ok".into(),
        language_tag: "en-US".into(),
    }
}

impl Gateway {
    /// A refusal: the client's status says it, and the operator reads why.
    fn denied(&self, message: String) -> StatusReply {
        let _ = self.notices.send(message.clone());
        StatusCode::PermissionDenied.with_message(message)
    }
}

fn failure(message: impl Into<String>) -> StatusReply {
    StatusCode::Failure.with_message(message)
}

/// The target's answer, passed on as it was.
fn from_target(e: ClientError) -> StatusReply {
    match e {
        ClientError::Status(s) => s.status_code.with_message(s.error_message),
        other => failure(format!("vigil: the target's SFTP server failed: {other}")),
    }
}

fn bad_handle() -> StatusReply {
    failure("vigil: no such handle")
}

impl Gateway {
    fn new_handle(&mut self, open: Open) -> String {
        self.next_handle += 1;
        let h = format!("vigil-{}", self.next_handle);
        self.open.insert(h.clone(), open);
        h
    }

    /// A file of a direction the policy refuses: logged, then refused.
    async fn refuse_direction(&self, path: &str, direction: Direction) -> StatusReply {
        let reason = format!(
            "{}s are refused by this login's transfer policy",
            direction.as_str()
        );
        let message = self
            .inspector
            .refuse_now(path, direction, "policy", &reason)
            .await;
        self.denied(message)
    }

    async fn open_upload(
        &mut self,
        id: u32,
        path: String,
        flags: OpenFlags,
        attrs: FileAttributes,
    ) -> Result<Handle, StatusReply> {
        if !self.directions.upload {
            return Err(self.refuse_direction(&path, Direction::Upload).await);
        }
        let exists = match self.target.stat(path.clone()).await {
            Ok(_) => true,
            Err(ClientError::Status(s)) if s.status_code == StatusCode::NoSuchFile => false,
            Err(e) => return Err(from_target(e)),
        };
        if exists && flags.contains(OpenFlags::EXCLUDE) {
            return Err(failure(format!("{path}: file exists")));
        }
        if !exists && !flags.contains(OpenFlags::CREATE) {
            return Err(StatusCode::NoSuchFile.with_message(format!("{path}: no such file")));
        }
        let mut incoming = self.inspector.incoming(&path, Direction::Upload).await;
        if exists && !flags.contains(OpenFlags::TRUNCATE) {
            // A resumed or appended upload: the file is what the target has plus the writes.
            target::fetch(&self.target, &path, &mut incoming).await?;
        }
        let upload = Upload {
            path,
            exclusive: flags.contains(OpenFlags::EXCLUDE),
            append: flags.contains(OpenFlags::APPEND),
            attrs,
            set_later: None,
            incoming,
        };
        let handle = self.new_handle(Open::Upload(Box::new(upload)));
        Ok(Handle { id, handle })
    }

    async fn open_download(&mut self, id: u32, path: String) -> Result<Handle, StatusReply> {
        if !self.directions.download {
            return Err(self.refuse_direction(&path, Direction::Download).await);
        }
        let attrs = self
            .target
            .stat(path.clone())
            .await
            .map_err(from_target)?
            .attrs;
        let mut incoming = self.inspector.incoming(&path, Direction::Download).await;
        target::fetch(&self.target, &path, &mut incoming).await?;
        let spooled = match self.inspector.decide(incoming).await {
            Outcome::Deliver(s) => s,
            Outcome::Refused { message } => return Err(self.denied(message)),
        };
        let handle = self.new_handle(Open::Download(Box::new(Download {
            spooled,
            attrs,
            ahead: Vec::new(),
            ahead_at: 0,
        })));
        Ok(Handle { id, handle })
    }

    /// CLOSE of an upload: decide, then write the whole file to the target.
    async fn finish_upload(&self, id: u32, upload: Upload) -> Result<Status, StatusReply> {
        let spooled = match self.inspector.decide(upload.incoming).await {
            Outcome::Deliver(s) => s,
            Outcome::Refused { message } => return Err(self.denied(message)),
        };
        let landing = target::Landing {
            path: &upload.path,
            exclusive: upload.exclusive,
            attrs: upload.attrs,
            set_later: upload.set_later,
        };
        match target::land(&self.target, landing, &spooled).await {
            Ok(()) => Ok(ok(id)),
            Err(e) => {
                let why = match &e {
                    ClientError::Status(s) => format!("{}: {}", s.status_code, s.error_message),
                    other => other.to_string(),
                };
                self.inspector.undelivered(&spooled.info, &why).await;
                Err(from_target(e))
            }
        }
    }

    /// Logs a change the operator made on the target, with its outcome.
    async fn logged<T>(
        &self,
        op: &str,
        path: &str,
        to: Option<&str>,
        result: Result<T, ClientError>,
    ) -> Result<T, StatusReply> {
        let error = result.as_ref().err().map(ToString::to_string);
        self.inspector
            .operation(op, path, to, error.as_deref())
            .await;
        result.map_err(from_target)
    }
}

impl Handler for Gateway {
    type Error = StatusReply;

    fn unimplemented(&self) -> Self::Error {
        StatusCode::OpUnsupported.into()
    }

    async fn init(
        &mut self,
        _version: u32,
        _extensions: HashMap<String, String>,
    ) -> Result<Version, Self::Error> {
        Ok(Version::new())
    }

    async fn open(
        &mut self,
        id: u32,
        filename: String,
        pflags: OpenFlags,
        attrs: FileAttributes,
    ) -> Result<Handle, Self::Error> {
        let writes = pflags.intersects(
            OpenFlags::WRITE | OpenFlags::APPEND | OpenFlags::CREATE | OpenFlags::TRUNCATE,
        );
        if writes {
            self.open_upload(id, filename, pflags, attrs).await
        } else {
            self.open_download(id, filename).await
        }
    }

    async fn close(&mut self, id: u32, handle: String) -> Result<Status, Self::Error> {
        match self.open.remove(&handle) {
            None => Err(bad_handle()),
            Some(Open::Dir { target }) => self
                .target
                .close(target)
                .await
                .map(|_| ok(id))
                .map_err(from_target),
            Some(Open::Download(_)) => Ok(ok(id)),
            Some(Open::Upload(upload)) => self.finish_upload(id, *upload).await,
        }
    }

    async fn read(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        len: u32,
    ) -> Result<Data, Self::Error> {
        match self.open.get_mut(&handle) {
            Some(Open::Download(d)) => {
                let data = d
                    .read(offset, len.min(MAX_READ) as usize)
                    .await
                    .map_err(|e| failure(format!("vigil: spool read failed: {e}")))?;
                if data.is_empty() {
                    return Err(StatusCode::Eof.into());
                }
                Ok(Data { id, data })
            }
            Some(Open::Upload(_)) => Err(failure(
                "vigil: a file being uploaded cannot be read back through the gateway",
            )),
            Some(Open::Dir { .. }) | None => Err(bad_handle()),
        }
    }

    async fn write(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<Status, Self::Error> {
        match self.open.get_mut(&handle) {
            Some(Open::Upload(u)) => {
                let at = if u.append { u.incoming.size() } else { offset };
                u.incoming.write_at(at, data).await;
                Ok(ok(id))
            }
            Some(Open::Download(_)) => {
                Err(StatusCode::PermissionDenied
                    .with_message("vigil: the file was opened for reading"))
            }
            Some(Open::Dir { .. }) | None => Err(bad_handle()),
        }
    }

    async fn fstat(&mut self, id: u32, handle: String) -> Result<Attrs, Self::Error> {
        match self.open.get(&handle) {
            Some(Open::Download(d)) => Ok(Attrs {
                id,
                attrs: d.attrs.clone(),
            }),
            Some(Open::Upload(u)) => {
                let mut attrs = u.attrs.clone();
                attrs.size = Some(u.incoming.size());
                Ok(Attrs { id, attrs })
            }
            Some(Open::Dir { target }) => {
                let target = target.clone();
                let a = self.target.fstat(target).await.map_err(from_target)?;
                Ok(Attrs { id, attrs: a.attrs })
            }
            None => Err(bad_handle()),
        }
    }

    async fn fsetstat(
        &mut self,
        id: u32,
        handle: String,
        attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        match self.open.get_mut(&handle) {
            Some(Open::Upload(u)) => {
                if let Some(size) = attrs.size {
                    u.incoming.truncate(size).await;
                }
                let mut later = attrs;
                later.size = None;
                u.set_later = Some(later);
                Ok(ok(id))
            }
            Some(Open::Download(_)) => Ok(ok(id)),
            Some(Open::Dir { target }) => {
                let target = target.clone();
                self.target
                    .fsetstat(target, attrs)
                    .await
                    .map(|_| ok(id))
                    .map_err(from_target)
            }
            None => Err(bad_handle()),
        }
    }

    async fn opendir(&mut self, id: u32, path: String) -> Result<Handle, Self::Error> {
        let result = self.target.opendir(path.clone()).await;
        let h = self.logged("list", &path, None, result).await?;
        let handle = self.new_handle(Open::Dir { target: h.handle });
        Ok(Handle { id, handle })
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Result<Name, Self::Error> {
        let Some(Open::Dir { target }) = self.open.get(&handle) else {
            return Err(bad_handle());
        };
        let target = target.clone();
        let name = self.target.readdir(target).await.map_err(from_target)?;
        Ok(Name {
            id,
            files: name.files,
        })
    }

    async fn lstat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        let a = self.target.lstat(path).await.map_err(from_target)?;
        Ok(Attrs { id, attrs: a.attrs })
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        let a = self.target.stat(path).await.map_err(from_target)?;
        Ok(Attrs { id, attrs: a.attrs })
    }

    async fn setstat(
        &mut self,
        id: u32,
        path: String,
        attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        let result = self.target.setstat(path.clone(), attrs).await;
        self.logged("setstat", &path, None, result)
            .await
            .map(|_| ok(id))
    }

    async fn remove(&mut self, id: u32, filename: String) -> Result<Status, Self::Error> {
        let result = self.target.remove(filename.clone()).await;
        self.logged("remove", &filename, None, result)
            .await
            .map(|_| ok(id))
    }

    async fn mkdir(
        &mut self,
        id: u32,
        path: String,
        attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        let result = self.target.mkdir(path.clone(), attrs).await;
        self.logged("mkdir", &path, None, result)
            .await
            .map(|_| ok(id))
    }

    async fn rmdir(&mut self, id: u32, path: String) -> Result<Status, Self::Error> {
        let result = self.target.rmdir(path.clone()).await;
        self.logged("rmdir", &path, None, result)
            .await
            .map(|_| ok(id))
    }

    async fn realpath(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        let name = self.target.realpath(path).await.map_err(from_target)?;
        Ok(Name {
            id,
            files: name.files,
        })
    }

    async fn rename(
        &mut self,
        id: u32,
        oldpath: String,
        newpath: String,
    ) -> Result<Status, Self::Error> {
        // A name the policy refuses is refused as a new name too (`x.txt` renamed `x.exe`).
        if let Some(message) = self
            .inspector
            .refuses_name(&newpath, Direction::Upload)
            .await
        {
            return Err(self.denied(message));
        }
        let result = self.target.rename(oldpath.clone(), newpath.clone()).await;
        self.logged("rename", &oldpath, Some(&newpath), result)
            .await
            .map(|_| ok(id))
    }

    async fn readlink(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        let name = self.target.readlink(path).await.map_err(from_target)?;
        Ok(Name {
            id,
            files: name.files,
        })
    }

    async fn symlink(
        &mut self,
        id: u32,
        linkpath: String,
        targetpath: String,
    ) -> Result<Status, Self::Error> {
        // OpenSSH sends the two paths in the other order than the draft says: both are
        // names the policy checks.
        for name in [&linkpath, &targetpath] {
            if let Some(message) = self.inspector.refuses_name(name, Direction::Upload).await {
                return Err(self.denied(message));
            }
        }
        let result = self
            .target
            .symlink(linkpath.clone(), targetpath.clone())
            .await;
        self.logged("symlink", &linkpath, Some(&targetpath), result)
            .await
            .map(|_| ok(id))
    }
}

#[cfg(test)]
mod tests;
