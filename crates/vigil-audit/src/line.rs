//! The line an operator is typing at an interactive shell, rebuilt from the keys they send
//! and what the terminal shows back, so that the gateway can decide it when a key submits it.
//!
//! It follows the terminal's own editing rules for a shell without a line editor (dash, sh):
//! erase (DEL, ^H) removes a character, kill (^U) the line, ^W a word, ^C abandons it; Enter
//! (CR or LF) submits it. Text pasted in bracketed-paste mode is part of the line, newlines
//! included (the shell runs it at the next Enter). It stops while a full-screen program holds
//! the alternate screen, and starts again on a fresh line after.
//!
//! What it is not: a line editor. Cursor keys, history recall, tab completion and any other
//! escape sequence make the line `exact: false` (what the shell runs may differ from what it
//! saw typed); the adapter should then ask a better source (the shell's own buffer, the
//! screen). Every line is handed out to be decided (a terminal with echo turned off, `stty
//! -echo`, does not hide commands from the rules); whether its text may be logged is its
//! [`Echo`]: a line whose keys were not shown is a secret typed at a prompt. A program's own
//! prompt (`mysql>`, `python`) looks like a shell to it.

/// What a submit key ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// A line: decide it. Whether it is a command or a secret typed at a prompt that does
    /// not echo is `echo`'s to say; see [`Echo`].
    Line {
        text: String,
        /// No cursor movement, recall or completion was used: the text is what was typed.
        exact: bool,
        echo: Echo,
    },
    /// Enter on an empty line.
    Empty,
}

/// Whether the terminal showed a line as it was typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    /// Its earlier keys came back on the screen: a command line.
    Shown,
    /// Its earlier keys did not: a secret at a prompt (a password); never log its text.
    NotShown,
    /// It was typed and submitted in one chunk: the echo, if any, comes after. Look at the
    /// output that follows ([`echoed`]) before logging its text.
    Unknown,
}

/// Whether `output` (what the terminal showed after a line of unknown echo was submitted)
/// shows it: `Some(true)` when it holds the line's first line, `Some(false)` when it shows
/// something else, `None` when it is only the start of the line so far (wait for more).
pub fn echoed(line: &str, output: &str) -> Option<bool> {
    let first = line.lines().next().unwrap_or("").trim_end();
    if first.is_empty() {
        return Some(true);
    }
    let shown = strip_escapes(output);
    let shown = shown.trim_start_matches(['\r', '\n']);
    if shown.contains(first) {
        Some(true)
    } else if first.starts_with(shown.trim_end_matches(['\r', '\n'])) && !shown.contains('\n') {
        None
    } else {
        Some(false)
    }
}

/// Whether the end of `output` looks like a shell's prompt waiting for a line: its last
/// visible line ends with `$`, `#`, `%` or `>` and at most a space or two (what sh, bash,
/// zsh and their usual `PS1`s draw). A guess, used only to choose a moment for something a
/// shell would accept: a program's own prompt (`mysql>`) passes it too.
pub fn ends_with_prompt(output: &str) -> bool {
    let shown = strip_escapes(output);
    let last = shown.rsplit(['\n', '\r']).next().unwrap_or("");
    let trimmed = last.trim_end_matches(' ');
    last.len() - trimmed.len() <= 2 && trimmed.ends_with(['$', '#', '%', '>'])
}

/// Text with ANSI escape sequences removed (CSI and OSC sequences, two-byte escapes).
fn strip_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                for c in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                while let Some(c) = chars.next() {
                    if c == '\u{7}' {
                        break;
                    }
                    if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                        chars.next();
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// One submit key in a chunk of input: the byte offset of the key, and what it submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submit {
    pub at: usize,
    pub what: Submitted,
    /// What was typed since the last key the tracker cannot follow, up to the submit key
    /// (see [`LineTracker::typed_tail`]).
    pub tail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Esc {
    #[default]
    None,
    /// After ESC.
    Start,
    /// In a CSI sequence (`ESC [ ...`), collecting its parameters.
    Csi,
    /// After `ESC O` (an SS3 key).
    Ss3,
}

/// The state of one terminal channel's line.
#[derive(Debug, Default, Clone)]
pub struct LineTracker {
    line: String,
    exact: bool,
    /// Inside a bracketed paste (`ESC [200~` .. `ESC [201~`).
    pasting: bool,
    input_esc: Esc,
    csi: String,
    /// Bytes of an unfinished UTF-8 character typed so far.
    utf8: Vec<u8>,
    /// A full-screen program holds the alternate screen: no line is tracked.
    alternate: bool,
    /// What the terminal showed since the line began (escape sequences removed), to tell an
    /// echoed line from an unechoed one.
    shown: String,
    output_esc: Esc,
    output_csi: String,
    /// Characters of the line typed before the chunk being read: only those had time to be
    /// echoed.
    before_chunk: usize,
    /// What was typed since the last key the tracker cannot follow (all of the line when it
    /// is exact): text the screen must show before it can be read from it.
    tail: String,
    /// Keys the tracker could not follow, ever (see [`LineTracker::edits`]).
    edits: u64,
}

/// How much of the screen output is kept to look for a line's echo.
const SHOWN_LIMIT: usize = 16 * 1024;

impl LineTracker {
    pub fn new() -> LineTracker {
        LineTracker {
            exact: true,
            ..Default::default()
        }
    }

    /// Whether a full-screen program holds the screen (detection pauses).
    pub fn paused(&self) -> bool {
        self.alternate
    }

    /// The shell itself says it is at its prompt (the shell query's prompt message): whatever
    /// the screen mode, a line typed now is a command line. Ends a pause, so that a program
    /// that only switched to the alternate screen (`printf '\e[?1049h'`) does not hide the
    /// shell's lines.
    pub fn at_shell_prompt(&mut self) {
        if self.alternate {
            self.alternate = false;
            self.reset();
        }
    }

    /// The line as typed so far.
    pub fn current(&self) -> &str {
        &self.line
    }

    /// How many keys the tracker could not follow so far: when it grows, what the screen
    /// shows of the line is stale until the shell's redraw comes back.
    pub fn edits(&self) -> u64 {
        self.edits
    }

    /// What was typed since the last key the tracker cannot follow (recall, completion,
    /// cursor): a screen that shows the line must show this in it.
    pub fn typed_tail(&self) -> &str {
        &self.tail
    }

    /// Operator input; returns the submit keys it holds, in order.
    pub fn input(&mut self, bytes: &[u8]) -> Vec<Submit> {
        self.before_chunk = self.line.chars().count();
        let mut out = Vec::new();
        for (i, &b) in bytes.iter().enumerate() {
            let tail = if matches!(b, b'\r' | b'\n') {
                self.tail.clone()
            } else {
                String::new()
            };
            if let Some(what) = self.key(b) {
                out.push(Submit { at: i, what, tail });
            }
        }
        out
    }

    /// Terminal output: follows the alternate screen and keeps what was shown.
    pub fn output(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match self.output_esc {
                Esc::None => match b {
                    0x1b => self.output_esc = Esc::Start,
                    b'\r' | b'\n' | 0x08 | 0x07 => {}
                    _ => self.show(b),
                },
                Esc::Start => {
                    self.output_esc = match b {
                        b'[' => {
                            self.output_csi.clear();
                            Esc::Csi
                        }
                        // Another ESC starts the sequence again, as on a terminal.
                        0x1b => Esc::Start,
                        _ => Esc::None,
                    };
                }
                // ESC cancels a sequence and starts a new one; CAN and SUB cancel it.
                Esc::Csi | Esc::Ss3 if b == 0x1b => self.output_esc = Esc::Start,
                Esc::Csi | Esc::Ss3 if b == 0x18 || b == 0x1a => self.output_esc = Esc::None,
                Esc::Csi | Esc::Ss3 => {
                    if (0x40..=0x7e).contains(&b) {
                        self.output_esc = Esc::None;
                        let alt = matches!(self.output_csi.as_str(), "?1049" | "?1047" | "?47");
                        if alt && b == b'h' {
                            self.alternate = true;
                        } else if alt && b == b'l' {
                            self.alternate = false;
                            self.reset();
                        }
                    } else if self.output_csi.len() < 32 {
                        self.output_csi.push(b as char);
                    }
                }
            }
        }
    }

    /// Keeps the last part of what was shown (a long output before the line must not push
    /// the line's own echo out).
    fn show(&mut self, b: u8) {
        if self.shown.len() >= SHOWN_LIMIT {
            let cut = self.shown.len() - SHOWN_LIMIT / 2;
            let cut = (cut..self.shown.len())
                .find(|i| self.shown.is_char_boundary(*i))
                .unwrap_or(self.shown.len());
            self.shown.drain(..cut);
        }
        self.shown.push(b as char);
    }

    fn reset(&mut self) {
        self.line.clear();
        self.tail.clear();
        self.exact = true;
        self.shown.clear();
        self.utf8.clear();
    }

    fn key(&mut self, b: u8) -> Option<Submitted> {
        if self.alternate {
            return None;
        }
        match self.input_esc {
            Esc::Csi | Esc::Ss3 if b == 0x1b => {
                // A new key sequence cuts the one before short.
                self.inexact();
                self.input_esc = Esc::Start;
                return None;
            }
            Esc::Start => {
                self.input_esc = match b {
                    b'[' => {
                        self.csi.clear();
                        Esc::Csi
                    }
                    b'O' => Esc::Ss3,
                    0x1b => {
                        // ESC ESC: the first is a key of its own (meta).
                        self.inexact();
                        Esc::Start
                    }
                    _ => {
                        // ESC + key: a readline command (M-b, M-d ...).
                        self.inexact();
                        Esc::None
                    }
                };
                return None;
            }
            Esc::Csi => {
                if (0x40..=0x7e).contains(&b) {
                    self.input_esc = Esc::None;
                    match (self.csi.as_str(), b) {
                        ("200", b'~') => self.pasting = true,
                        ("201", b'~') => self.pasting = false,
                        // Any other key sequence: a cursor key, recall, a function key.
                        _ => self.inexact(),
                    }
                } else if self.csi.len() < 16 {
                    self.csi.push(b as char);
                }
                return None;
            }
            Esc::Ss3 => {
                self.input_esc = Esc::None;
                self.inexact();
                return None;
            }
            Esc::None => {}
        }
        match b {
            0x1b => self.input_esc = Esc::Start,
            b'\r' | b'\n' if self.pasting => self.line.push('\n'),
            b'\r' | b'\n' => return Some(self.submit()),
            0x7f | 0x08 => {
                self.line.pop();
                self.tail.pop();
            }
            0x15 => {
                self.line.clear();
                self.tail.clear();
            }
            0x17 => {
                let trimmed = self.line.trim_end_matches([' ', '\t']).len();
                self.line.truncate(trimmed);
                let word_start = self.line.rfind([' ', '\t']).map_or(0, |i| i + 1);
                self.line.truncate(word_start);
                self.tail.clear();
            }
            0x03 => self.reset(),
            b'\t' => {
                // Completion: the shell adds what it completes.
                self.inexact();
            }
            0x00..=0x1f => {
                // Another control key (a readline command such as ^A, ^E, ^R, ^K).
                self.inexact();
            }
            _ => self.printable(b),
        }
        None
    }

    /// A key the tracker cannot follow: the line may differ from what was typed.
    fn inexact(&mut self) {
        self.exact = false;
        self.tail.clear();
        self.edits += 1;
    }

    fn printable(&mut self, b: u8) {
        if b < 0x80 {
            self.utf8.clear();
            self.line.push(b as char);
            self.tail.push(b as char);
            return;
        }
        self.utf8.push(b);
        match std::str::from_utf8(&self.utf8) {
            Ok(s) => {
                self.line.push_str(s);
                self.tail.push_str(s);
                self.utf8.clear();
            }
            Err(e) if e.error_len().is_some() || self.utf8.len() >= 4 => {
                self.line.push(char::REPLACEMENT_CHARACTER);
                self.utf8.clear();
            }
            Err(_) => {}
        }
    }

    fn submit(&mut self) -> Submitted {
        let line = std::mem::take(&mut self.line);
        let exact = self.exact;
        // Only what was typed in earlier chunks had time to come back; a line typed and
        // submitted in one chunk counts as echoed (deciding it matters more than hiding it).
        let earlier: String = line.chars().take(self.before_chunk).collect();
        let earlier = earlier.trim_end();
        let echo = if earlier.is_empty() {
            Echo::Unknown
        } else if earlier.lines().all(|l| self.shown.contains(l.trim_end())) {
            Echo::Shown
        } else {
            Echo::NotShown
        };
        self.before_chunk = 0;
        self.reset();
        if line.trim().is_empty() && exact {
            return Submitted::Empty;
        }
        Submitted::Line {
            text: line,
            exact,
            echo,
        }
    }
}

#[cfg(test)]
mod tests;
