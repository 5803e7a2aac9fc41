//! The line being edited, read from the screen (as JumpServer does): the output since the last
//! newline (the prompt's last line and the shell's echo and redraws of the line) replayed on a
//! terminal model of the channel's width, with the prompt shown when the line began taken off.
//! The source for lines the typed keys cannot give exactly at shells the gateway cannot ask
//! (zsh, a nested bash, ksh).
//!
//! What it is not: what the shell will run. It is what the shell shows; a shell or a widget
//! that shows one thing and runs another (set up by the operator) defeats it, and a line whose
//! last keys have not come back on the screen yet is not read (`read` returns nothing unless
//! the keys typed since the last editing key are on the screen).

use vigil_record::Screen;

/// Output since the last newline kept at most (a line a person edits is far shorter).
const MAX_KEPT: usize = 8 * 1024;

/// Rows of the model: a line that wraps over more is not read.
const ROWS: u16 = 8;

pub(crate) struct LineScreen {
    cols: u16,
    /// Output since the last newline; `None` after more than `MAX_KEPT` of it.
    since_newline: Option<Vec<u8>>,
    /// The output since the last newline when the line began (its prompt), rendered only
    /// when the line must be read from the screen.
    prompt: Option<Option<Vec<u8>>>,
}

impl LineScreen {
    pub(crate) fn new(cols: u16) -> LineScreen {
        LineScreen {
            cols: if cols == 0 { 80 } else { cols },
            since_newline: Some(Vec::new()),
            prompt: None,
        }
    }

    pub(crate) fn output(&mut self, bytes: &[u8]) {
        let after = match bytes.iter().rposition(|b| *b == b'\n') {
            Some(i) => {
                self.since_newline = Some(Vec::new());
                &bytes[i + 1..]
            }
            None => bytes,
        };
        if let Some(kept) = &mut self.since_newline {
            if kept.len() + after.len() > MAX_KEPT {
                self.since_newline = None;
            } else {
                kept.extend_from_slice(after);
            }
        }
    }

    /// A line begins: what the screen shows now is its prompt.
    pub(crate) fn line_began(&mut self) {
        self.prompt = Some(self.since_newline.clone());
    }

    /// The line ended (submitted or abandoned).
    pub(crate) fn line_ended(&mut self) {
        self.prompt = None;
    }

    pub(crate) fn line_open(&self) -> bool {
        self.prompt.is_some()
    }

    /// The line as the screen shows it after its prompt, if the screen shows `typed_tail`
    /// (the keys typed since the last editing key) in it.
    pub(crate) fn read(&self, typed_tail: &str) -> Option<String> {
        let prompt = self.render(self.prompt.as_ref()?.as_ref())?;
        let shown = self.render(self.since_newline.as_ref())?;
        let line = shown.strip_prefix(prompt.as_str())?.trim_start();
        (!line.is_empty() && line.contains(typed_tail)).then(|| line.trim_end().to_owned())
    }

    /// The text of a line's output on a blank model (wrapped rows joined).
    fn render(&self, kept: Option<&Vec<u8>>) -> Option<String> {
        let kept = kept?;
        let mut screen = Screen::new(self.cols, ROWS);
        screen.feed(kept);
        let rows = screen.text();
        let used = rows
            .iter()
            .rposition(|r| !r.is_empty())
            .map_or(0, |i| i + 1);
        if used >= usize::from(ROWS) {
            return None;
        }
        // A row filled to the width continues on the next; otherwise it ends the line.
        let mut text = String::new();
        for row in &rows[..used] {
            text.push_str(row);
        }
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recalled_and_edited_line_is_read_after_its_prompt() {
        let mut s = LineScreen::new(40);
        s.output(b"done\r\n\x1b[32muser@host\x1b[0m:~$ ");
        s.line_began();
        // zsh recalls `echo touch /x`, the operator moves home and deletes `echo `.
        s.output(b"echo touch /x\x1b[13D\x1b[5P");
        assert_eq!(s.read("").as_deref(), Some("touch /x"));
        // Keys typed after the last edit must be on the screen.
        assert_eq!(s.read("zz"), None);
        s.output(b"\x1b[8Czz");
        assert_eq!(s.read("zz").as_deref(), Some("touch /xzz"));
    }

    #[test]
    fn a_long_line_that_wraps_is_joined_and_an_unknown_prompt_reads_nothing() {
        let mut s = LineScreen::new(10);
        s.output(b"$ ");
        s.line_began();
        s.output(b"echo 0123456789abc");
        assert_eq!(s.read("").as_deref(), Some("echo 0123456789abc"));
        let mut fresh = LineScreen::new(10);
        fresh.output(b"$ ls");
        assert_eq!(fresh.read(""), None, "no prompt was seen");
        let mut flood = LineScreen::new(10);
        flood.output(b"$ ");
        flood.line_began();
        flood.output(&vec![b'x'; MAX_KEPT + 1]);
        assert_eq!(flood.read(""), None);
    }
}
