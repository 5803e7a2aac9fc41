//! What a wrapper needs to know of itself, carried at the end of its own executable: the agent
//! installs a copy of `vigil-rec` at each wrapped path with this trailer appended (an ELF file
//! runs the same with bytes after its sections), so a wrapper needs no configuration file
//! and cannot be pointed at another one: `/proc/self/exe` is the only source it reads.
//!
//! Layout: the JSON of [`WrapperConfig`], its length (u32, little endian), then [`MAGIC`].

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub const MAGIC: &[u8; 8] = b"VIGILREC";
const MAX_CONFIG: u32 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WrapperConfig {
    /// The agent's state directory (its socket and cached policies).
    pub state_dir: PathBuf,
    /// The policy paths this wrapper stands for: the wrapped path itself and, for
    /// symbolic-link rules, the links that resolve to it.
    pub paths: Vec<String>,
    /// The program itself, moved aside.
    pub original: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum TrailerError {
    #[error("cannot read the wrapper's own executable: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "this vigil-rec carries no wrapper configuration: it runs only where vigil-agent installed it"
    )]
    Missing,
    #[error("the wrapper configuration is malformed: {0}")]
    Malformed(String),
}

/// The trailer to append to a copy of `vigil-rec`.
pub fn encode(config: &WrapperConfig) -> Vec<u8> {
    let mut out = serde_json::to_vec(config).unwrap_or_default();
    let len = u32::try_from(out.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(MAGIC);
    out
}

/// The configuration at the end of `file`.
pub fn read(mut file: impl Read + Seek) -> Result<WrapperConfig, TrailerError> {
    let end = file.seek(SeekFrom::End(0))?;
    if end < 12 {
        return Err(TrailerError::Missing);
    }
    let mut tail = [0u8; 12];
    file.seek(SeekFrom::End(-12))?;
    file.read_exact(&mut tail)?;
    if &tail[4..] != MAGIC {
        return Err(TrailerError::Missing);
    }
    let len = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
    if len > MAX_CONFIG || u64::from(len) + 12 > end {
        return Err(TrailerError::Malformed(format!("a length of {len} bytes")));
    }
    let mut json = vec![0u8; len as usize];
    file.seek(SeekFrom::End(-12 - i64::from(len)))?;
    file.read_exact(&mut json)?;
    serde_json::from_slice(&json).map_err(|e| TrailerError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Cursor;

    #[test]
    fn a_trailer_is_read_back_from_the_end_of_a_binary() {
        let config = WrapperConfig {
            state_dir: "/var/lib/vigil-agent".into(),
            paths: vec!["/usr/bin/psql".into()],
            original: "/usr/lib/vigil-agent/orig/usr/bin/psql".into(),
        };
        let mut binary = b"\x7fELF and the rest of the program".to_vec();
        binary.extend(encode(&config));
        assert_eq!(read(Cursor::new(binary)).unwrap(), config);
    }

    #[test]
    fn a_binary_without_a_trailer_says_so() {
        for bytes in [
            &b""[..],
            b"short",
            b"\x7fELF a program without any trailer at all",
        ] {
            assert!(matches!(
                read(Cursor::new(bytes.to_vec())),
                Err(TrailerError::Missing)
            ));
        }
        let mut lying = b"xx".to_vec();
        lying.extend_from_slice(&1000u32.to_le_bytes());
        lying.extend_from_slice(MAGIC);
        assert!(matches!(
            read(Cursor::new(lying)),
            Err(TrailerError::Malformed(_))
        ));
    }
}
