//! The spool: each run the agent takes is a directory under `STATE/spool/RUN` (root's alone)
//! until the server has confirmed everything of it.
//!
//! While the program runs, its two recordings grow as plain asciicast v3 (`output.cast`:
//! `o`, `r`, `m`, `x` events; `input.cast`: `i` events; both timed from the run's start),
//! flushed at least every second, so a crash of the agent or the machine loses at most that.
//! When the run ends they are compressed (`*.cast.zst`, what is uploaded), their sizes and
//! SHA-256 noted, and `report.json` written last: its presence is what makes a run ready to
//! upload. A run whose agent died before its end is made ready at the next start, ended at
//! its files' last change, with no exit status.

use std::fs::File;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use vigil_core::RunReport;
use vigil_record::{CastWriter, Header};

use crate::state::{StateError, io_err, parse, write_json};
use crate::wire::{Frame, RunEnd};

/// The two recordings of a recorded run, in the order they are uploaded.
pub const OBJECTS: [&str; 2] = ["output", "input"];
/// Plain recordings reach the disk at least this often.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// The size and SHA-256 of an object as it is uploaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sum {
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Sums {
    output: Option<Sum>,
    input: Option<Sum>,
}

#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
    /// The most the spool may hold, in bytes; a recorded run is refused beyond it.
    quota: u64,
}

/// A run the spool holds.
#[derive(Debug, Clone)]
pub struct SpooledRun {
    pub id: String,
    dir: PathBuf,
}

/// A run being recorded.
pub struct Recording {
    run: SpooledRun,
    report: RunReport,
    casts: Option<Casts>,
    last_flush: Instant,
}

struct Casts {
    output: CastWriter<BufWriter<File>>,
    input: CastWriter<BufWriter<File>>,
    /// Input typed without echo since the last typed input: when it began and how much.
    redacted: Option<(Duration, u64)>,
    end: Duration,
}

fn ns(at_ns: u64) -> Duration {
    Duration::from_nanos(at_ns)
}

impl Spool {
    pub fn new(dir: impl Into<PathBuf>, quota: u64) -> Spool {
        Spool {
            dir: dir.into(),
            quota,
        }
    }

    pub fn quota(&self) -> u64 {
        self.quota
    }

    /// Bytes the spool holds.
    pub fn used(&self) -> u64 {
        let mut total = 0;
        for run in self.runs() {
            if let Ok(entries) = std::fs::read_dir(&run.dir) {
                total += entries
                    .flatten()
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum::<u64>();
            }
        }
        total
    }

    pub fn is_full(&self) -> bool {
        self.used() >= self.quota
    }

    /// Every run held, oldest first (run ids are time-ordered UUIDs).
    pub fn runs(&self) -> Vec<SpooledRun> {
        let mut runs: Vec<SpooledRun> = std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.path().is_dir())
                    .filter_map(|e| {
                        let id = e.file_name().to_str()?.to_owned();
                        uuid::Uuid::parse_str(&id).ok()?;
                        Some(SpooledRun { id, dir: e.path() })
                    })
                    .collect()
            })
            .unwrap_or_default();
        runs.sort_by(|a, b| a.id.cmp(&b.id));
        runs
    }

    /// Starts spooling a run: its directory, what is known at its start, and (when it is
    /// recorded) its two recordings.
    pub fn begin(
        &self,
        report: RunReport,
        cols: u16,
        rows: u16,
        term: Option<String>,
    ) -> Result<Recording, StateError> {
        let dir = self.dir.join(&report.id);
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let run = SpooledRun {
            id: report.id.clone(),
            dir,
        };
        write_json(&run.dir.join("start.json"), &report, 0o600)?;
        let casts = if report.record {
            let header = Header {
                cols,
                rows,
                term_type: term,
                timestamp: u64::try_from(report.started_at / 1000).unwrap_or(0),
                title: Some(report.argv.join(" ")),
                command: Some(report.program.clone()),
            };
            let open = |name: &str| -> Result<CastWriter<BufWriter<File>>, StateError> {
                let path = run.dir.join(name);
                let file = File::create(&path).map_err(io_err(&path))?;
                CastWriter::new(BufWriter::new(file), &header).map_err(io_err(&path))
            };
            Some(Casts {
                output: open("output.cast")?,
                input: open("input.cast")?,
                redacted: None,
                end: Duration::ZERO,
            })
        } else {
            None
        };
        Ok(Recording {
            run,
            report,
            casts,
            last_flush: Instant::now(),
        })
    }

    /// Makes ready the runs whose agent died before they ended (call before taking new ones).
    pub fn recover_interrupted(&self) -> Vec<Result<SpooledRun, StateError>> {
        self.runs()
            .into_iter()
            .filter(|r| !r.is_ready())
            .map(|r| r.recover().map(|()| r))
            .collect()
    }
}

impl Recording {
    pub fn report(&self) -> &RunReport {
        &self.report
    }

    /// Writes one of the wrapper's frames. `End` is [`Recording::end`]'s.
    pub fn take(&mut self, frame: &Frame) -> std::io::Result<()> {
        let Some(c) = &mut self.casts else {
            return Ok(());
        };
        match frame {
            Frame::Output { at_ns, bytes } => {
                c.end = c.end.max(ns(*at_ns));
                c.output.output(ns(*at_ns), bytes)?;
            }
            Frame::Input { at_ns, bytes } => {
                c.end = c.end.max(ns(*at_ns));
                c.flush_redacted()?;
                c.input.input(ns(*at_ns), bytes)?;
            }
            Frame::Redacted { at_ns, bytes } => {
                let run = c.redacted.get_or_insert((ns(*at_ns), 0));
                run.1 += u64::from(*bytes);
            }
            Frame::Resize { at_ns, cols, rows } => {
                c.output
                    .resize(ns(*at_ns), u32::from(*cols), u32::from(*rows))?;
            }
            _ => {}
        }
        if self.last_flush.elapsed() >= FLUSH_EVERY {
            self.flush()?;
        }
        Ok(())
    }

    /// Puts what is held in memory (coalesced output, buffers) into the files, so a crash
    /// loses nothing before now. The service calls it at least every second.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.last_flush = Instant::now();
        if let Some(c) = &mut self.casts {
            c.output.flush_pending()?;
            c.output.get_mut().flush()?;
            c.input.get_mut().flush()?;
        }
        Ok(())
    }

    /// Ends the run as `end` says (`None`: the wrapper went away without saying, so the run
    /// ends now with no exit status) and makes it ready to upload.
    pub fn end(mut self, end: Option<&RunEnd>) -> Result<SpooledRun, StateError> {
        match end {
            Some(e) => {
                self.report.ended_at = e.ended_at.max(self.report.started_at);
                self.report.exit_status = e.exit_status;
                self.report.signal = e.signal.clone();
            }
            None => self.report.ended_at = crate::client::now_ms().max(self.report.started_at),
        }
        if let Some(mut c) = self.casts.take() {
            let at = end.map_or(c.end, |e| ns(e.at_ns).max(c.end));
            let path = self.run.dir.join("output.cast");
            let fail = io_err(&path);
            let written = (|| {
                c.flush_redacted()?;
                if let Some(code) = self.report.exit_status {
                    c.output.exit(at, i64::from(code))?;
                }
                c.output.finish(at)?;
                c.input.finish(at)?;
                for w in [c.output.into_inner(), c.input.into_inner()] {
                    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
                }
                Ok(())
            })();
            written.map_err(fail)?;
        }
        self.run.seal(&self.report)?;
        Ok(self.run)
    }
}

impl Casts {
    fn flush_redacted(&mut self) -> std::io::Result<()> {
        if let Some((at, n)) = self.redacted.take() {
            self.output
                .marker(at, &format!("input redacted: {n} bytes typed without echo"))?;
        }
        Ok(())
    }
}

impl SpooledRun {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Ended, compressed and summed: nothing of it changes any more.
    pub fn is_ready(&self) -> bool {
        self.dir.join("report.json").exists()
    }

    pub fn report(&self) -> Result<RunReport, StateError> {
        let path = self.dir.join("report.json");
        let bytes = std::fs::read(&path).map_err(io_err(&path))?;
        parse(&path, &bytes)
    }

    /// The compressed object as uploaded.
    pub fn object(&self, object: &str) -> PathBuf {
        self.dir.join(format!("{object}.cast.zst"))
    }

    pub fn sum(&self, object: &str) -> Result<Sum, StateError> {
        let path = self.dir.join("sums.json");
        let bytes = std::fs::read(&path).map_err(io_err(&path))?;
        let sums: Sums = parse(&path, &bytes)?;
        let sum = if object == "output" {
            sums.output
        } else {
            sums.input
        };
        sum.ok_or_else(|| StateError::Corrupt {
            path: path.display().to_string(),
            why: format!("no {object} recording"),
        })
    }

    /// Forgets the run (the server has all of it).
    pub fn remove(&self) -> Result<(), StateError> {
        std::fs::remove_dir_all(&self.dir).map_err(io_err(&self.dir))
    }

    /// Compresses and sums the recordings, then writes the report that makes the run ready.
    fn seal(&self, report: &RunReport) -> Result<(), StateError> {
        let mut sums = Sums::default();
        if report.record {
            for object in OBJECTS {
                let plain = self.dir.join(format!("{object}.cast"));
                let sum = compress(&plain, &self.object(object))?;
                if object == "output" {
                    sums.output = Some(sum);
                } else {
                    sums.input = Some(sum);
                }
            }
            write_json(&self.dir.join("sums.json"), &sums, 0o600)?;
        }
        write_json(&self.dir.join("report.json"), report, 0o600)?;
        for object in OBJECTS {
            let _ = std::fs::remove_file(self.dir.join(format!("{object}.cast")));
        }
        Ok(())
    }

    /// Ends a run whose agent died while it ran: the recordings up to their last whole line.
    fn recover(&self) -> Result<(), StateError> {
        let start = self.dir.join("start.json");
        let bytes = std::fs::read(&start).map_err(io_err(&start))?;
        let mut report: RunReport = parse(&start, &bytes)?;
        let mut last_change = report.started_at;
        if report.record {
            for object in OBJECTS {
                let path = self.dir.join(format!("{object}.cast"));
                if let Ok(meta) = std::fs::metadata(&path) {
                    if let Ok(m) = meta.modified() {
                        let ms = m
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| i64::try_from(d.as_millis()).unwrap_or(0))
                            .unwrap_or(0);
                        last_change = last_change.max(ms);
                    }
                    cut_to_last_line(&path)?;
                } else {
                    std::fs::write(&path, b"").map_err(io_err(&path))?;
                }
            }
        }
        report.ended_at = last_change;
        self.seal(&report)
    }
}

/// Drops a line cut short by a crash.
fn cut_to_last_line(path: &Path) -> Result<(), StateError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    if keep < bytes.len() {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io_err(path))?;
        f.set_len(keep as u64).map_err(io_err(path))?;
    }
    Ok(())
}

/// Compresses `plain` into `packed` (zstd), returning the packed file's size and SHA-256.
fn compress(plain: &Path, packed: &Path) -> Result<Sum, StateError> {
    let input = File::open(plain).map_err(io_err(plain))?;
    let out = File::create(packed).map_err(io_err(packed))?;
    let mut encoder =
        zstd::stream::write::Encoder::new(BufWriter::new(out), 3).map_err(io_err(packed))?;
    std::io::copy(&mut std::io::BufReader::new(input), &mut encoder).map_err(io_err(packed))?;
    let out = encoder
        .finish()
        .map_err(io_err(packed))?
        .into_inner()
        .map_err(|e| io_err(packed)(e.into_error()))?;
    out.sync_all().map_err(io_err(packed))?;
    sum_of(packed)
}

pub(crate) fn sum_of(path: &Path) -> Result<Sum, StateError> {
    let mut file = std::io::BufReader::new(File::open(path).map_err(io_err(path))?);
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    loop {
        let buf = file.fill_buf().map_err(io_err(path))?;
        if buf.is_empty() {
            break;
        }
        hasher.update(buf);
        size += buf.len() as u64;
        let n = buf.len();
        file.consume(n);
    }
    Ok(Sum {
        size,
        sha256: hex(&hasher.finalize()),
    })
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Read as _;

    fn report(record: bool) -> RunReport {
        RunReport {
            id: uuid::Uuid::now_v7().to_string(),
            user: "alice".into(),
            uid: 1000,
            primary_group: "staff".into(),
            program: "/usr/bin/psql".into(),
            real_path: Some("/usr/lib/vigil-agent/orig/usr/bin/psql".into()),
            argv: vec!["psql".into()],
            cwd: "/home/alice".into(),
            tty: None,
            started_at: 1_700_000_000_000,
            ended_at: 1_700_000_000_000,
            exit_status: None,
            signal: None,
            record,
            policies: vec!["psql".into()],
        }
    }

    fn unpacked(run: &SpooledRun, object: &str) -> String {
        let mut out = String::new();
        zstd::stream::read::Decoder::new(File::open(run.object(object)).unwrap())
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn a_recorded_run_is_sealed_with_its_two_recordings_summed() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path(), 1 << 30);
        let mut rec = spool.begin(report(true), 80, 24, None).unwrap();
        for frame in [
            Frame::Output {
                at_ns: 1_000,
                bytes: b"Password: ".to_vec(),
            },
            Frame::Redacted {
                at_ns: 2_000,
                bytes: 3,
            },
            Frame::Redacted {
                at_ns: 3_000,
                bytes: 4,
            },
            Frame::Input {
                at_ns: 4_000_000,
                bytes: b"\\q\r".to_vec(),
            },
            Frame::Resize {
                at_ns: 5_000_000,
                cols: 100,
                rows: 30,
            },
        ] {
            rec.take(&frame).unwrap();
        }
        assert!(!spool.runs()[0].is_ready());
        let end = RunEnd {
            at_ns: 6_000_000,
            ended_at: 1_700_000_000_006,
            exit_status: Some(2),
            signal: None,
        };
        let run = rec.end(Some(&end)).unwrap();
        assert!(run.is_ready());
        let r = run.report().unwrap();
        assert_eq!((r.ended_at, r.exit_status), (1_700_000_000_006, Some(2)));
        let output = unpacked(&run, "output");
        assert!(output.contains("Password: "), "{output}");
        assert!(
            output.contains("input redacted: 7 bytes typed without echo"),
            "{output}"
        );
        assert!(output.contains("\"r\", \"100x30\""), "{output}");
        assert!(output.contains("\"x\", \"2\""), "{output}");
        let input = unpacked(&run, "input");
        assert!(input.contains("\\\\q\\r"), "{input}");
        for object in OBJECTS {
            assert_eq!(
                run.sum(object).unwrap(),
                sum_of(&run.object(object)).unwrap()
            );
        }
        assert!(
            !run.dir().join("output.cast").exists(),
            "the plain copies are gone"
        );
        run.remove().unwrap();
        assert!(spool.runs().is_empty());
    }

    #[test]
    fn a_run_cut_short_by_a_crash_is_kept_up_to_its_last_whole_line() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path(), 1 << 30);
        let mut rec = spool.begin(report(true), 80, 24, None).unwrap();
        rec.take(&Frame::Output {
            at_ns: 1_000,
            bytes: b"before the crash\r\n".to_vec(),
        })
        .unwrap();
        let id = rec.report().id.clone();
        rec.flush().unwrap();
        // The agent dies: what reached the disk is a whole line and part of the next.
        drop(rec);
        let plain = dir.path().join(&id).join("output.cast");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&plain)
            .unwrap();
        f.write_all(b"[0.5, \"o\", \"half a li").unwrap();
        drop(f);
        let recovered: Vec<_> = spool.recover_interrupted();
        assert_eq!(recovered.len(), 1);
        let run = recovered.into_iter().next().unwrap().unwrap();
        assert!(run.is_ready());
        let output = unpacked(&run, "output");
        assert!(output.contains("before the crash"), "{output}");
        assert!(!output.contains("half a li"), "{output}");
        let r = run.report().unwrap();
        assert!(r.ended_at >= r.started_at);
        assert_eq!(r.exit_status, None);
        assert!(spool.recover_interrupted().is_empty(), "recovered once");
    }

    #[test]
    fn an_audited_run_has_no_recordings_and_the_quota_counts_what_is_held() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path(), 1);
        assert!(!spool.is_full());
        let rec = spool.begin(report(false), 80, 24, None).unwrap();
        let run = rec.end(None).unwrap();
        assert!(run.is_ready());
        assert!(!run.object("output").exists());
        assert!(spool.used() > 0);
        assert!(spool.is_full());
    }
}
