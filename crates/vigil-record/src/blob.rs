//! Where recording bytes live. The live file is one zstd frame appended while the session runs
//! (see `compress.rs`); when the session ends the frame is finished and the file renamed to its
//! at-rest name. A later S3 backend implements the same trait.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::RecordError;
use crate::compress::UnfinishedFrame;

/// A place that keeps recordings by key. Methods block: call them from a blocking context.
pub trait RecordingStore: Send + Sync + 'static {
    /// Creates the live file for `key`, to receive a zstd frame; fails when the store cannot
    /// take it (fail closed).
    fn create_live(&self, key: &str) -> Result<File, RecordError>;
    /// Moves a finished recording (its frame complete) to rest.
    fn seal(&self, key: &str) -> Result<(), RecordError>;
    /// Opens a recording, live or sealed, as its plain asciicast bytes; a live one reads up to
    /// its last flush.
    fn open(&self, key: &str) -> Result<Box<dyn Read + Send>, RecordError>;
    /// Removes a recording in whatever state it is.
    fn delete(&self, key: &str) -> Result<(), RecordError>;
    /// Every file the store keeps for `key`, for checks and exports.
    fn files(&self, key: &str) -> Vec<PathBuf>;
}

/// Recordings under one local directory: `KEY.cast.zst.part` while live, `KEY.cast.zst` at
/// rest. (`KEY.cast`, a plain live file of versions before live compression, is still read and
/// sealed.)
#[derive(Debug, Clone)]
pub struct LocalRecordingStore {
    root: PathBuf,
}

impl LocalRecordingStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn live_path(&self, key: &str) -> PathBuf {
        self.root.join(format!("{key}.cast.zst.part"))
    }

    fn plain_live_path(&self, key: &str) -> PathBuf {
        self.root.join(format!("{key}.cast"))
    }

    fn sealed_path(&self, key: &str) -> PathBuf {
        self.root.join(format!("{key}.cast.zst"))
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RecordError + '_ {
    move |source| RecordError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl RecordingStore for LocalRecordingStore {
    fn create_live(&self, key: &str) -> Result<File, RecordError> {
        let path = self.live_path(key);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o640);
        options.open(&path).map_err(io_err(&path))
    }

    fn seal(&self, key: &str) -> Result<(), RecordError> {
        let live = self.live_path(key);
        let sealed = self.sealed_path(key);
        if live.exists() {
            File::open(&live)
                .and_then(|f| f.sync_all())
                .map_err(io_err(&live))?;
            return std::fs::rename(&live, &sealed).map_err(io_err(&sealed));
        }
        self.seal_plain(key)
    }

    fn open(&self, key: &str) -> Result<Box<dyn Read + Send>, RecordError> {
        let sealed = self.sealed_path(key);
        if sealed.exists() {
            let file = File::open(&sealed).map_err(io_err(&sealed))?;
            let decoder = zstd::stream::Decoder::new(file).map_err(io_err(&sealed))?;
            return Ok(Box::new(decoder));
        }
        let live = self.live_path(key);
        match File::open(&live) {
            Ok(f) => {
                let frame = UnfinishedFrame::new(f).map_err(io_err(&live))?;
                return Ok(Box::new(frame));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&live)(e)),
        }
        let plain = self.plain_live_path(key);
        match File::open(&plain) {
            Ok(f) => Ok(Box::new(f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(RecordError::NotFound(key.to_owned()))
            }
            Err(e) => Err(io_err(&plain)(e)),
        }
    }

    fn delete(&self, key: &str) -> Result<(), RecordError> {
        for path in self.files(key) {
            std::fs::remove_file(&path).map_err(io_err(&path))?;
        }
        Ok(())
    }

    fn files(&self, key: &str) -> Vec<PathBuf> {
        [
            self.live_path(key),
            self.plain_live_path(key),
            self.sealed_path(key),
        ]
        .into_iter()
        .filter(|p| p.exists())
        .collect()
    }
}

impl LocalRecordingStore {
    /// Compresses a plain live file left by an older version.
    fn seal_plain(&self, key: &str) -> Result<(), RecordError> {
        let live = self.plain_live_path(key);
        let sealed = self.sealed_path(key);
        let partial = self.root.join(format!("{key}.cast.zst.partial"));
        let input = File::open(&live).map_err(io_err(&live))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o640);
        let output = options.open(&partial).map_err(io_err(&partial))?;
        let mut encoder = zstd::stream::Encoder::new(output, 3).map_err(io_err(&partial))?;
        std::io::copy(&mut BufReader::with_capacity(1 << 16, input), &mut encoder)
            .map_err(io_err(&partial))?;
        let file = encoder.finish().map_err(io_err(&partial))?;
        file.sync_all().map_err(io_err(&partial))?;
        // Rename before removing the live file: at every instant one complete copy exists.
        std::fs::rename(&partial, &sealed).map_err(io_err(&sealed))?;
        std::fs::remove_file(&live).map_err(io_err(&live))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn live_then_sealed_reads_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalRecordingStore::new(dir.path());
        let mut f = store.create_live("2026/11/22/abc").unwrap();
        let body = b"{\"version\":3}\n[0.1, \"o\", \"hi\"]\n".repeat(100);
        let mut compressor = crate::LiveCompressor::default();
        f.write_all(&compressor.push(&body, 0).unwrap()).unwrap();
        f.write_all(&compressor.flush().unwrap()).unwrap();
        let rest = compressor.finish().unwrap();
        assert!(
            store.create_live("2026/11/22/abc").is_err(),
            "never overwrite a recording"
        );
        let mut got = Vec::new();
        store
            .open("2026/11/22/abc")
            .unwrap()
            .read_to_end(&mut got)
            .unwrap();
        assert_eq!(got, body, "a live recording reads up to its last flush");
        f.write_all(&rest).unwrap();
        drop(f);
        store.seal("2026/11/22/abc").unwrap();
        let files = store.files("2026/11/22/abc");
        assert_eq!(files.len(), 1);
        assert!(files[0].to_string_lossy().ends_with(".zst"));
        assert!(std::fs::metadata(&files[0]).unwrap().len() < body.len() as u64 / 4);
        got.clear();
        store
            .open("2026/11/22/abc")
            .unwrap()
            .read_to_end(&mut got)
            .unwrap();
        assert_eq!(got, body);
        store.delete("2026/11/22/abc").unwrap();
        assert!(matches!(
            store.open("2026/11/22/abc"),
            Err(RecordError::NotFound(_))
        ));
    }

    #[test]
    fn plain_live_files_of_older_versions_still_read_and_seal() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalRecordingStore::new(dir.path());
        let body = b"{\"version\":3}\n[0.1, \"o\", \"old\"]\n".repeat(10);
        std::fs::write(dir.path().join("old.cast"), &body).unwrap();
        let mut got = Vec::new();
        store.open("old").unwrap().read_to_end(&mut got).unwrap();
        assert_eq!(got, body);
        store.seal("old").unwrap();
        assert_eq!(store.files("old"), vec![dir.path().join("old.cast.zst")]);
        got.clear();
        store.open("old").unwrap().read_to_end(&mut got).unwrap();
        assert_eq!(got, body);
    }
}
