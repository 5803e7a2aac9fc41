//! The terminal screen as a player would show it now, kept on the server with avt (asciinema's
//! own terminal), so a viewer who joins a live session late is shown the current screen at once
//! and what the server sees equals what the player shows.

use crate::utf8::{Text, Utf8Carry};

pub struct Screen {
    term: avt::Terminal,
    carry: Utf8Carry,
}

impl Screen {
    /// A blank screen; a zero size (clients without a terminal) becomes 80x24.
    pub fn new(cols: u16, rows: u16) -> Self {
        let (cols, rows) = sane(cols, rows);
        Screen {
            term: blank(cols, rows),
            carry: Utf8Carry::default(),
        }
    }

    /// Output as the terminal received it: split UTF-8 sequences are joined across chunks,
    /// invalid bytes show as U+FFFD (as in players).
    pub fn feed(&mut self, bytes: &[u8]) {
        match self.carry.push(bytes) {
            Some(Text::Exact(s)) => self.term.feed(s.as_ref()),
            Some(Text::Invalid(raw)) => self.term.feed(String::from_utf8_lossy(&raw).as_ref()),
            None => {}
        }
    }

    pub fn resize(&mut self, cols: u16, rows: u16) {
        let (cols, rows) = sane(cols, rows);
        self.term.resize(cols, rows);
    }

    pub fn size(&self) -> (u16, u16) {
        let (cols, rows) = self.term.size();
        (
            u16::try_from(cols).unwrap_or(u16::MAX),
            u16::try_from(rows).unwrap_or(u16::MAX),
        )
    }

    /// Escape sequences that draw the current screen (cursor and modes included) on a blank
    /// terminal of the same size.
    pub fn dump(&self) -> String {
        self.term.dump()
    }

    /// The visible lines as text, trailing blanks trimmed (for tests and search).
    pub fn text(&self) -> Vec<String> {
        self.term
            .screen()
            .text()
            .into_iter()
            .map(|l| l.trim_end().to_owned())
            .collect()
    }
}

/// The largest screen kept: a size is outside input (an operator's client sends any window
/// size, a stored recording says any), and avt allocates every cell, so 65535 x 65535 took
/// gigabytes (found by the `cast_reader` fuzz target). Wider or taller terminals are shown
/// cut to this.
pub(crate) const MAX_COLS: u16 = 1000;
pub(crate) const MAX_ROWS: u16 = 500;

fn sane(cols: u16, rows: u16) -> (usize, usize) {
    if cols == 0 || rows == 0 {
        (80, 24)
    } else {
        (
            usize::from(cols.min(MAX_COLS)),
            usize::from(rows.min(MAX_ROWS)),
        )
    }
}

/// avt refuses only a zero size, which `sane` never passes.
fn blank(cols: usize, rows: usize) -> avt::Terminal {
    avt::Terminal::new(cols, rows)
        .or_else(|_| avt::Terminal::new(80, 24))
        .unwrap_or_else(|e| unreachable!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_size_is_capped_not_allocated() {
        let mut s = Screen::new(u16::MAX, u16::MAX);
        assert_eq!(s.size(), (MAX_COLS, MAX_ROWS));
        s.feed(b"hello");
        s.resize(u16::MAX, 3);
        assert_eq!(s.size(), (MAX_COLS, 3));
        s.resize(u16::MAX, u16::MAX);
        assert_eq!(s.size(), (MAX_COLS, MAX_ROWS));
        assert_eq!(s.text()[0], "hello");
    }

    #[test]
    fn late_joiner_sees_the_current_screen() {
        let mut s = Screen::new(20, 4);
        s.feed(b"$ echo caf\xc3");
        s.feed(b"\xa9\r\ncaf\xc3\xa9\r\n$ ");
        assert_eq!(s.text()[..3], ["$ echo café", "café", "$"]);
        // Replaying the dump on a fresh terminal gives the same screen.
        let mut replay = Screen::new(20, 4);
        replay.feed(s.dump().as_bytes());
        assert_eq!(replay.text(), s.text());
        s.resize(0, 0);
        assert_eq!(s.size(), (80, 24));
    }
}
