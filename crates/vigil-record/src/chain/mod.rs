//! Tamper evidence for recordings (issue 15): the stored bytes are hash-chained as they are
//! written, and each link is signed by the node that wrote it.
//!
//! After each flush (once a second while output flows) the writer appends a **link**: a zstd
//! skippable frame (zstd readers, asciinema's included, pass over it) holding the link's
//! number, the time since the recording started, how many stored bytes it covers, the chain
//! hash `SHA-256(previous hash ‖ digest(the bytes since the previous link) ‖ stored bytes)`
//! (the digest is BLAKE3 in version 2 chains, SHA-256 in version 1: see [`digest`]),
//! the node's public key and its Ed25519 signature over all of that and the recording's key.
//! When the recording ends, the last link is a **seal**. So:
//! - a changed byte breaks the hash of its link (or the zstd frame it is in);
//! - links cannot be reordered, dropped or moved to another recording (numbers, the
//!   previous hash and the key are signed);
//! - a recording cut short keeps verifiable links up to its last flush, and whether it was
//!   sealed says whether it ended (the caller compares that with the session's state: a
//!   closed session's recording without a seal was truncated after the fact).
//!
//! [`verify`] walks a stored recording frame by frame with the zstd decoder (streaming,
//! bounded memory) and checks every link. What it is not: proof against the node's own key
//! being stolen (whoever holds it can write a new chain), nor a judgement of the session's
//! state (the caller's).

mod digest;

use std::io::{self, BufRead, Read};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::{BlobFuture, LiveBlob, RecordingStore};
pub use digest::Version;
use digest::{Reading, Segment};

/// The skippable frame magic our links use (zstd reserves 0x184D2A50..=0x184D2A5F).
pub const LINK_MAGIC: u32 = 0x184D_2A5E;
const ZSTD_MAGIC: u32 = 0xFD2F_B528;
const PAYLOAD: usize = 1 + 1 + 8 + 8 + 8 + 32 + 32 + 64;

/// A link's kind: more may follow, or the recording ended here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Link = 1,
    Seal = 2,
}

/// One link of a recording's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub version: Version,
    pub kind: LinkKind,
    /// 1 for the first link.
    pub seq: u64,
    /// Milliseconds since the recording started.
    pub at_ms: u64,
    /// Stored bytes before this link (links themselves not counted).
    pub stored: u64,
    pub hash: [u8; 32],
    /// The signing node's Ed25519 public key.
    pub signer: [u8; 32],
    pub signature: [u8; 64],
}

/// Signs links: the node's key.
pub trait LinkSigner: Send + Sync {
    fn public(&self) -> [u8; 32];
    fn sign(&self, message: &[u8]) -> [u8; 64];
}

/// What the verifier knows of a signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck {
    Valid,
    /// The key signed it, but the signature does not match.
    Invalid,
    /// No node has this key.
    Unknown,
}

/// Checks signatures against the nodes' keys.
pub trait LinkKeys {
    fn check(&self, signer: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> KeyCheck;
}

fn start_hash(key: &str) -> [u8; 32] {
    Sha256::digest(format!("vigil-recording-v1\n{key}")).into()
}

fn next_hash(previous: &[u8; 32], segment: [u8; 32], stored: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(previous);
    h.update(segment);
    h.update(stored.to_le_bytes());
    h.finalize().into()
}

impl Link {
    /// What the signature covers.
    pub fn message(&self, key: &str) -> Vec<u8> {
        let mut m = format!("vigil-recording-link-v{}\n{key}\n", self.version as u8).into_bytes();
        m.push(self.kind as u8);
        m.extend_from_slice(&self.seq.to_le_bytes());
        m.extend_from_slice(&self.at_ms.to_le_bytes());
        m.extend_from_slice(&self.stored.to_le_bytes());
        m.extend_from_slice(&self.hash);
        m.extend_from_slice(&self.signer);
        m
    }

    /// The link as a zstd skippable frame.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + PAYLOAD);
        out.extend_from_slice(&LINK_MAGIC.to_le_bytes());
        out.extend_from_slice(&(PAYLOAD as u32).to_le_bytes());
        out.push(self.version as u8);
        out.push(self.kind as u8);
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.at_ms.to_le_bytes());
        out.extend_from_slice(&self.stored.to_le_bytes());
        out.extend_from_slice(&self.hash);
        out.extend_from_slice(&self.signer);
        out.extend_from_slice(&self.signature);
        out
    }

    /// A link frame's payload (after magic and size).
    pub fn decode(payload: &[u8]) -> Option<Link> {
        if payload.len() != PAYLOAD {
            return None;
        }
        let version = Version::from_byte(payload[0])?;
        let kind = match payload[1] {
            1 => LinkKind::Link,
            2 => LinkKind::Seal,
            _ => return None,
        };
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&payload[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&payload[26..58]);
        let mut signer = [0u8; 32];
        signer.copy_from_slice(&payload[58..90]);
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&payload[90..154]);
        Some(Link {
            version,
            kind,
            seq: u64_at(2),
            at_ms: u64_at(10),
            stored: u64_at(18),
            hash,
            signer,
            signature,
        })
    }
}

/// The writer's side: absorbs the stored bytes as they are written, makes links.
pub struct Chain {
    key: String,
    hash: [u8; 32],
    version: Version,
    segment: Segment,
    stored: u64,
    seq: u64,
}

impl Chain {
    pub fn new(key: &str) -> Chain {
        Chain::of_version(key, Version::CURRENT)
    }

    /// A chain in an older `version`: for tests that prove such recordings still verify.
    pub fn of_version(key: &str, version: Version) -> Chain {
        Chain {
            key: key.to_owned(),
            hash: start_hash(key),
            version,
            segment: Segment::new(version),
            stored: 0,
            seq: 0,
        }
    }

    /// Bytes written to the recording (not links).
    pub fn absorb(&mut self, stored: &[u8]) {
        self.segment.update(stored);
        self.stored += stored.len() as u64;
    }

    /// Ends the current segment: the link frame to append after the bytes absorbed so far.
    pub fn link(&mut self, kind: LinkKind, at_ms: u64, signer: &dyn LinkSigner) -> Vec<u8> {
        let segment = self.segment.take();
        self.hash = next_hash(&self.hash, segment, self.stored);
        self.seq += 1;
        let mut link = Link {
            version: self.version,
            kind,
            seq: self.seq,
            at_ms,
            stored: self.stored,
            hash: self.hash,
            signer: signer.public(),
            signature: [0; 64],
        };
        link.signature = signer.sign(&link.message(&self.key));
        link.encode()
    }
}

/// A live recording whose stored bytes are chained: every flush appends a link, the end a
/// seal (see the module doc). Wraps any store's live blob.
pub struct ChainedBlob {
    inner: Box<dyn LiveBlob>,
    chain: Chain,
    signer: Arc<dyn LinkSigner>,
    started: Instant,
}

/// `inner`, chained and signed by `signer` as the recording `key`.
pub fn chained(
    inner: Box<dyn LiveBlob>,
    key: &str,
    signer: Arc<dyn LinkSigner>,
) -> Box<dyn LiveBlob> {
    Box::new(ChainedBlob {
        inner,
        chain: Chain::new(key),
        signer,
        started: Instant::now(),
    })
}

impl ChainedBlob {
    fn at_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

impl LiveBlob for ChainedBlob {
    fn append(&mut self, bytes: Bytes) -> BlobFuture<'_, ()> {
        self.chain.absorb(&bytes);
        self.inner.append(bytes)
    }

    fn flush(&mut self) -> BlobFuture<'_, ()> {
        Box::pin(async move {
            let at = self.at_ms();
            let link = self.chain.link(LinkKind::Link, at, self.signer.as_ref());
            self.inner.append(Bytes::from(link)).await?;
            self.inner.flush().await
        })
    }

    fn finish(mut self: Box<Self>) -> BlobFuture<'static, ()> {
        Box::pin(async move {
            let at = self.at_ms();
            let seal = self.chain.link(LinkKind::Seal, at, self.signer.as_ref());
            self.inner.append(Bytes::from(seal)).await?;
            self.inner.finish().await
        })
    }
}

/// A recording store whose new recordings are chained and signed (reading and deleting are
/// the inner store's).
pub struct ChainedStore {
    pub inner: Arc<dyn RecordingStore>,
    pub signer: Arc<dyn LinkSigner>,
}

impl RecordingStore for ChainedStore {
    fn create_live<'a>(&'a self, key: &'a str) -> BlobFuture<'a, Box<dyn LiveBlob>> {
        Box::pin(async move {
            let blob = self.inner.create_live(key).await?;
            let mut blob = chained(blob, key, Arc::clone(&self.signer));
            // The first link, written and flushed now: a store that cannot take bytes (a full
            // disk) refuses the recording before its session reaches a target (fail closed),
            // instead of at the first flush, a second after output began to pass.
            blob.flush().await?;
            Ok(blob)
        })
    }

    fn open<'a>(&'a self, key: &'a str) -> BlobFuture<'a, crate::BlobReader> {
        self.inner.open(key)
    }

    fn delete<'a>(&'a self, key: &'a str) -> BlobFuture<'a, ()> {
        self.inner.delete(key)
    }
}

/// Something wrong with a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Stored bytes that are not a frame of a recording, or a zstd frame that does not decode.
    Damaged {
        frame: u64,
        after_ms: u64,
        why: String,
    },
    /// A segment's bytes do not hash to what its link says: changed, inserted or removed.
    Altered { link: u64, after_ms: u64 },
    /// A link out of order, or one that repeats or skips a number.
    Reordered { link: u64, expected: u64 },
    /// A link signed by a key no node has.
    UnknownKey { link: u64, signer: [u8; 32] },
    /// A link whose signature does not match its key.
    BadSignature { link: u64 },
    /// Bytes after the seal.
    AfterSeal { bytes: u64 },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = |ms: &u64| *ms as f64 / 1000.0;
        match self {
            Problem::Damaged {
                frame,
                after_ms,
                why,
            } => write!(
                f,
                "frame {frame} (after {:.1} s) is damaged: {why}",
                secs(after_ms)
            ),
            Problem::Altered { link, after_ms } => write!(
                f,
                "the bytes before link {link} (after {:.1} s) were altered: they do not hash to what the link says",
                secs(after_ms)
            ),
            Problem::Reordered { link, expected } => {
                write!(
                    f,
                    "link {link} where link {expected} belongs: links were reordered or removed"
                )
            }
            Problem::UnknownKey { link, .. } => {
                write!(
                    f,
                    "link {link} is signed by a key no node of this store has"
                )
            }
            Problem::BadSignature { link } => {
                write!(f, "link {link}'s signature does not match its key")
            }
            Problem::AfterSeal { bytes } => write!(f, "{bytes} bytes follow the seal"),
        }
    }
}

/// What the walk of a recording found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Walk {
    /// Valid links seen (the seal included).
    pub links: u64,
    pub sealed: bool,
    /// The time of the last valid link (ms since the recording started).
    pub verified_ms: u64,
    /// Stored bytes covered by the last valid link.
    pub verified_bytes: u64,
    /// Stored bytes after the last valid link (a crash's last second), unverified.
    pub unverified_bytes: u64,
    /// The first problem met (the walk stops there).
    pub problem: Option<Problem>,
    /// Zstd frames seen.
    pub frames: u64,
    /// The recording has no chain at all (written before tamper evidence, or plain).
    pub unchained: bool,
}

/// Walks a stored recording of `key`, checking every link against `keys`.
pub fn verify(stored: impl Read, key: &str, keys: &dyn LinkKeys) -> io::Result<Walk> {
    let mut r = io::BufReader::with_capacity(256 * 1024, stored);
    let mut walk = Walk::default();
    let mut hash = start_hash(key);
    let mut segment = Reading::default();
    let mut stored_bytes = 0u64;
    let mut dctx = zstd::zstd_safe::DCtx::create();
    let mut out = vec![0u8; 128 * 1024];
    let mut magic = [0u8; 4];
    loop {
        if r.fill_buf()?.is_empty() {
            break;
        }
        if let Err(e) = r.read_exact(&mut magic) {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                // A frame cut short in its first bytes (a crash mid-write): unverified.
                break;
            }
            return Err(e);
        }
        let m = u32::from_le_bytes(magic);
        if walk.sealed {
            let rest = io::copy(&mut r, &mut io::sink())?;
            walk.problem = Some(Problem::AfterSeal { bytes: 4 + rest });
            break;
        }
        if m == LINK_MAGIC {
            let mut size = [0u8; 4];
            let mut payload = vec![0u8; PAYLOAD];
            let whole = r.read_exact(&mut size).and_then(|()| {
                if u32::from_le_bytes(size) as usize == PAYLOAD {
                    r.read_exact(&mut payload)
                } else {
                    Err(io::Error::other("size"))
                }
            });
            let Some(link) = whole.ok().and_then(|()| Link::decode(&payload)) else {
                walk.problem = Some(Problem::Damaged {
                    frame: walk.frames + 1,
                    after_ms: walk.verified_ms,
                    why: "a link frame that does not parse".into(),
                });
                break;
            };
            let expected = walk.links + 1;
            if link.seq != expected {
                walk.problem = Some(Problem::Reordered {
                    link: link.seq,
                    expected,
                });
                break;
            }
            let Some(digest) = segment.take(link.version) else {
                walk.problem = Some(Problem::Damaged {
                    frame: walk.frames + 1,
                    after_ms: walk.verified_ms,
                    why: format!(
                        "a link of chain version {} after links of another version",
                        link.version as u8
                    ),
                });
                break;
            };
            let want = next_hash(&hash, digest, stored_bytes);
            if link.hash != want || link.stored != stored_bytes {
                walk.problem = Some(Problem::Altered {
                    link: link.seq,
                    after_ms: walk.verified_ms,
                });
                break;
            }
            match keys.check(&link.signer, &link.message(key), &link.signature) {
                KeyCheck::Valid => {}
                KeyCheck::Invalid => {
                    walk.problem = Some(Problem::BadSignature { link: link.seq });
                    break;
                }
                KeyCheck::Unknown => {
                    walk.problem = Some(Problem::UnknownKey {
                        link: link.seq,
                        signer: link.signer,
                    });
                    break;
                }
            }
            hash = want;
            walk.links = link.seq;
            walk.verified_ms = link.at_ms;
            walk.verified_bytes = stored_bytes;
            walk.sealed = link.kind == LinkKind::Seal;
            continue;
        }
        if m != ZSTD_MAGIC {
            walk.problem = Some(Problem::Damaged {
                frame: walk.frames + 1,
                after_ms: walk.verified_ms,
                why: "bytes that are not a zstd frame".into(),
            });
            break;
        }
        walk.frames += 1;
        segment.update(&magic);
        stored_bytes += 4;
        match decode_frame(
            &mut r,
            &mut dctx,
            &mut out,
            &magic,
            &mut segment,
            &mut stored_bytes,
        ) {
            Ok(true) => {}
            Ok(false) => {
                walk.unverified_bytes = stored_bytes - walk.verified_bytes;
                break;
            }
            Err(why) => {
                walk.problem = Some(Problem::Damaged {
                    frame: walk.frames,
                    after_ms: walk.verified_ms,
                    why,
                });
                break;
            }
        }
    }
    if walk.problem.is_none() && !walk.sealed {
        walk.unverified_bytes = stored_bytes - walk.verified_bytes;
    }
    walk.unchained = walk.links == 0 && walk.problem.is_none() && walk.frames > 0;
    Ok(walk)
}

/// Decodes one zstd frame (its magic already read), hashing its stored bytes; false when the
/// input ends inside it.
fn decode_frame(
    r: &mut impl BufRead,
    dctx: &mut zstd::zstd_safe::DCtx<'_>,
    out: &mut [u8],
    magic: &[u8; 4],
    segment: &mut Reading,
    stored: &mut u64,
) -> Result<bool, String> {
    let fail = |code: usize| zstd::zstd_safe::get_error_name(code).to_owned();
    let mut pending: &[u8] = magic;
    loop {
        if !pending.is_empty() {
            let mut input = zstd::zstd_safe::InBuffer::around(pending);
            let mut output = zstd::zstd_safe::OutBuffer::around(out);
            let left = dctx
                .decompress_stream(&mut output, &mut input)
                .map_err(fail)?;
            pending = &pending[input.pos()..];
            if left == 0 {
                return Ok(true);
            }
            continue;
        }
        let buf = r.fill_buf().map_err(|e| e.to_string())?;
        if buf.is_empty() {
            return Ok(false);
        }
        let mut input = zstd::zstd_safe::InBuffer::around(buf);
        let mut output = zstd::zstd_safe::OutBuffer::around(out);
        let left = dctx
            .decompress_stream(&mut output, &mut input)
            .map_err(fail)?;
        let used = input.pos();
        segment.update(&buf[..used]);
        *stored += used as u64;
        r.consume(used);
        if left == 0 {
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests;
