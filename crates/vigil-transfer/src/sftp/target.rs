//! The gateway as the target's SFTP client: a whole file read into the spool, and an allowed
//! file written to the target in one pass, both with requests pipelined (a window of
//! [`IN_FLIGHT`] chunks: throughput without holding more than a megabyte).

use futures::stream::{FuturesOrdered, FuturesUnordered, StreamExt};
use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as ClientError;
use russh_sftp::protocol::{FileAttributes, OpenFlags, StatusCode};
use russh_sftp::server::StatusReply;

use super::from_target;
use crate::inspect::Incoming;
use crate::spool::Spooled;

/// Bytes per request (OpenSSH's server takes up to about 255 KiB per message).
const CHUNK: u32 = 128 * 1024;
/// Requests in flight at once.
const IN_FLIGHT: usize = 16;

/// Reads the target's file at `path` into `incoming`, whole.
pub(super) async fn fetch(
    target: &RawSftpSession,
    path: &str,
    incoming: &mut Incoming,
) -> Result<(), StatusReply> {
    let handle = target
        .open(path, OpenFlags::READ, FileAttributes::empty())
        .await
        .map_err(from_target)?
        .handle;
    let result = fetch_open(target, &handle, incoming).await;
    let _ = target.close(handle).await;
    result.map_err(from_target)
}

async fn fetch_open(
    target: &RawSftpSession,
    handle: &str,
    incoming: &mut Incoming,
) -> Result<(), ClientError> {
    // Where the next request starts; a short answer restarts the window after what came.
    let mut next = 0u64;
    'window: loop {
        let mut reads = FuturesOrdered::new();
        for _ in 0..IN_FLIGHT {
            let offset = next;
            reads.push_back(async move { (offset, target.read(handle, offset, CHUNK).await) });
            next += u64::from(CHUNK);
        }
        while let Some((offset, result)) = reads.next().await {
            match result {
                Ok(data) => {
                    let got = data.data.len();
                    incoming.write_at(offset, data.data).await;
                    let end = offset + got as u64;
                    if got < CHUNK as usize {
                        // Reads after this one asked past what the server gave: ask again
                        // from where this one ended (the window's other reads are dropped).
                        next = end;
                        continue 'window;
                    }
                }
                Err(ClientError::Status(s)) if s.status_code == StatusCode::Eof => {
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Where and how an allowed upload lands.
pub(super) struct Landing<'a> {
    pub(super) path: &'a str,
    pub(super) exclusive: bool,
    /// The attributes the client opened the file with (its permissions).
    pub(super) attrs: FileAttributes,
    /// The attributes the client set on its handle before CLOSE (`put -p`: times, mode).
    pub(super) set_later: Option<FileAttributes>,
}

/// Writes `file` to the target as `landing` says.
pub(super) async fn land(
    target: &RawSftpSession,
    landing: Landing<'_>,
    file: &Spooled,
) -> Result<(), ClientError> {
    let mut flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE;
    if landing.exclusive {
        flags |= OpenFlags::EXCLUDE;
    }
    let mut attrs = landing.attrs;
    attrs.size = None;
    let handle = target.open(landing.path, flags, attrs).await?.handle;
    let written = write_all(target, &handle, file).await;
    let set = match (&written, landing.set_later) {
        (Ok(()), Some(a)) => target.fsetstat(handle.as_str(), a).await.map(|_| ()),
        _ => Ok(()),
    };
    let closed = target.close(handle).await.map(|_| ());
    written.and(set).and(closed)
}

async fn write_all(
    target: &RawSftpSession,
    handle: &str,
    file: &Spooled,
) -> Result<(), ClientError> {
    let io = |e: std::io::Error| ClientError::IO(e.to_string());
    let mut blocks = file.blocks();
    // The block being cut into requests, and how much of it is sent.
    let (mut block, mut sent) = (Vec::new(), 0);
    let mut writes = FuturesUnordered::new();
    let mut offset = 0u64;
    let mut eof = false;
    loop {
        while !eof && writes.len() < IN_FLIGHT {
            if sent == block.len() {
                match blocks.next().await.map_err(io)? {
                    Some(b) => (block, sent) = (b, 0),
                    None => {
                        eof = true;
                        break;
                    }
                }
            }
            let end = block.len().min(sent + CHUNK as usize);
            let chunk = block[sent..end].to_vec();
            sent = end;
            let at = offset;
            offset += chunk.len() as u64;
            writes.push(async move { target.write(handle, at, chunk).await });
        }
        match writes.next().await {
            Some(result) => {
                result?;
            }
            None => return Ok(()),
        }
    }
}
