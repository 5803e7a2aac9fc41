//! The audited-command stage of a channel without a terminal whose program reads its commands
//! from standard input (`ssh host bash`, `ssh -T host`, `ssh host sudo -i`): each line is held
//! until its newline, decided, and sent whole or not at all. Nothing edits these lines (there
//! is no terminal), so what is decided is exactly what the shell reads (source `stdin-line`).
//!
//! A refused line never reaches the target; the operator is told on stderr. A last line
//! without its newline is decided when the operator's input ends.
//!
//! What it is not: a shell parser across lines. A command split over lines (a `\` at the end,
//! an open quote, a here-document) is decided line by line; what a program other than the
//! shell reads from the stream (`sudo -S`'s password, a here-document's body) is decided as a
//! line too. A line that follows output asking for a password is such a secret: its text is
//! not logged (only a rule hit is, with its length).

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

use crate::audit::{CommandRules, Source, marker, verdict};
use crate::recent::Recent;
use crate::shell::Decided;
use crate::stage::{Action, Stage};

/// A line longer than this is decided as it is, without waiting for its newline (a stream of
/// data, not a command a person wrote).
const MAX_LINE: usize = 64 * 1024;

/// How much of the latest output is kept to see a password prompt.
const RECENT: usize = 256;

pub(crate) struct StdinStage {
    rules: CommandRules,
    evidence: mpsc::UnboundedSender<crate::shell::Note>,
    line: BytesMut,
    /// Output since the last line was sent.
    recent: Recent,
}

impl StdinStage {
    pub(crate) fn new(
        rules: CommandRules,
        evidence: mpsc::UnboundedSender<crate::shell::Note>,
    ) -> Self {
        StdinStage {
            rules,
            evidence,
            line: BytesMut::new(),
            recent: Recent::new(RECENT),
        }
    }

    /// Decides the held line (with its newline, if it had one) and empties it.
    fn decide(&mut self, out: &mut Vec<Action>) {
        let bytes = self.line.split().freeze();
        let text = String::from_utf8_lossy(&bytes);
        let text = text.strip_suffix('\n').unwrap_or(&text);
        let text = text.strip_suffix('\r').unwrap_or(text).to_owned();
        if text.trim().is_empty() {
            out.push(Action::Forward(bytes));
            return;
        }
        let secret = {
            let recent = self.recent.as_str().to_ascii_lowercase();
            recent.contains("password") || recent.contains("passphrase")
        };
        self.recent.clear();
        let decision = self.rules.decide(&text);
        let v = verdict(&text, decision.clone());
        let mut decided = Decided::new(text, Source::StdinLine, decision);
        if secret {
            if decided.decision().action.is_none() {
                forward_or_refuse(v, bytes, out);
                return;
            }
            decided.redact("a line typed after a password prompt");
        }
        out.push(Action::Mark(marker(decided.line(), decided.decision())));
        let _ = self.evidence.send(decided.into());
        forward_or_refuse(v, bytes, out);
    }
}

fn forward_or_refuse(v: crate::audit::CommandVerdict, line: Bytes, out: &mut Vec<Action>) {
    if v.run {
        out.push(Action::Forward(line));
        return;
    }
    let notice = v.notice.unwrap_or_else(|| "vigil: command refused".into());
    out.push(match v.end {
        Some(reason) => Action::End { reason, notice },
        None => Action::Tell(notice),
    });
}

impl Stage for StdinStage {
    fn on_input(&mut self, data: Bytes) -> Vec<Action> {
        let mut out = Vec::new();
        let mut rest = &data[..];
        while !rest.is_empty() {
            match rest.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    self.line.extend_from_slice(&rest[..=i]);
                    rest = &rest[i + 1..];
                    self.decide(&mut out);
                }
                None => {
                    let room = MAX_LINE.saturating_sub(self.line.len());
                    let take = rest.len().min(room);
                    self.line.extend_from_slice(&rest[..take]);
                    rest = &rest[take..];
                    if self.line.len() >= MAX_LINE {
                        self.decide(&mut out);
                    }
                }
            }
        }
        out
    }

    fn on_output(&mut self, data: Bytes) -> Vec<Action> {
        self.recent.push(&data);
        vec![Action::Forward(data)]
    }

    fn on_input_end(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        if !self.line.is_empty() {
            self.decide(&mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests;
