//! The shell's own answer to "which line is about to run": a hidden, nonce-tagged key binding
//! the gateway installs in bash at the start of a session, which prints readline's buffer
//! when the gateway sends its key. It is exact where typed keys are not: after cursor edits,
//! history recall, tab completion and pastes, the buffer is what bash will run.
//!
//! The protocol (private OSC 7767, ignored by terminals; every message carries the channel's
//! nonce, and the adapter removes them from what the operator sees and what is recorded):
//! - [`setup_line`] is typed once into the shell. Any POSIX shell answers `H` (hello) with
//!   `bash`, `zsh` or nothing. zsh gets a ZLE widget on [`QUERY_KEY`] printing
//!   `${(qqqq)BUFFER}`, a `precmd` prompt message and `NO_BANG_HIST`. bash binds
//!   [`QUERY_KEY`] in its emacs and vi keymaps, adds a
//!   `P` message to `PROMPT_COMMAND` (after what is there: a `PS1` the operator sets later
//!   keeps it), turns history expansion off (`set +H`: `!!` would otherwise run something
//!   other than the buffer) and removes the setup line from its history.
//! - `P` comes before each prompt of that shell: the query may be sent (a foreground program
//!   must never receive the key). Readline's redraw after a query does not send it.
//! - `L` answers the query with the buffer, quoted by bash's `${READLINE_LINE@Q}` or zsh's
//!   `${(qqqq)BUFFER}` (both decoded by [`decode`]).
//! - `E` (bash: added to `PS0`) comes when bash has accepted a line and is about to run it:
//!   what follows it in the output is the line's own (used to tell sudo's prompt from the
//!   shell's redraw; an operator who resets `PS0` only loses sudo answering).
//!
//! [`Replies`] is the I/O-free scanner of target output for those messages.
//!
//! What it is not: proof against the operator. Anyone at the prompt can read the binding
//! (`bind -X`) and rebind the key to print another line, or reset `PROMPT_COMMAND` (the
//! query then stops, and the typed line is used). The adapter therefore decides the typed line too when
//! it is exact, and rules can act on `bind`, `trap` and `set -H` (the `definition` class).
//! It does not reach nested shells (`bash` run from the prompt, `su`, `ssh`, `tmux` inside: their lines are typed
//! lines again), nor bash older than 4.4 (no `@Q`). A login shell that is not POSIX (fish, csh) shows the setup
//! line's error once.

use crate::lex::lex;

/// The key the gateway sends to ask bash for its buffer (an unused function key).
pub const QUERY_KEY: &[u8] = b"\x1b[9999~";

const OSC: &[u8] = b"\x1b]7767;";

/// A reply longer than this is not waited for (a huge paste): the line falls back to the
/// typed one.
const MAX_REPLY: usize = 1 << 20;

/// Output held while the setup runs, at most (its echo and answer are a few hundred bytes).
const MAX_SETUP_HELD: usize = 64 * 1024;

/// What the operator sees in place of the setup's echo: the start of a clean line, on which
/// the shell draws its next prompt.
const SETUP_ERASED: &[u8] = b"\r\x1b[K";

/// The line typed into the shell (with its Enter) to install the query. It starts with a
/// space so that a bash keeping `ignorespace` does not record it; otherwise bash removes it
/// from its history (zsh cannot remove one entry: it keeps it). zsh's part is given to `eval`
/// in single quotes, so that sh, dash and bash never parse its syntax.
pub fn setup_line(nonce: &str) -> String {
    let bind = |map: &str| {
        format!(
            "bind -m {map} -x '\"\\e[9999~\": printf \"\\033]7767;L;{nonce};%s\\007\" \"${{READLINE_LINE@Q}}\"'; "
        )
    };
    let zsh = format!(
        "vigil_q() {{ printf '\\''\\033]7767;L;{nonce};%s\\007'\\'' \"${{(qqqq)BUFFER}}\" }}; zle -N vigil_q; bindkey -M emacs '\\''\\e[9999~'\\'' vigil_q; bindkey -M viins '\\''\\e[9999~'\\'' vigil_q; bindkey -M vicmd '\\''\\e[9999~'\\'' vigil_q; vigil_p() {{ printf '\\''\\033]7767;P;{nonce}\\007'\\'' }}; precmd_functions+=(vigil_p); setopt NO_BANG_HIST"
    );
    format!(
        " case ${{BASH_VERSION-}} in ?*) {}{}{}PROMPT_COMMAND=\"${{PROMPT_COMMAND:+$PROMPT_COMMAND$'\\n'}}printf '\\033]7767;P;{nonce}\\007'\"; PS0=\"${{PS0-}}\\033]7767;E;{nonce}\\007\"; set +H; case $(HISTTIMEFORMAT= history 1) in *{nonce}*) history -d -1;; esac;; esac; case ${{ZSH_VERSION-}} in ?*) eval '{zsh}';; esac; printf '\\033]7767;H;{nonce};%s\\007' \"${{BASH_VERSION:+bash}}${{ZSH_VERSION:+zsh}}\"\r",
        bind("emacs"),
        bind("vi-insert"),
        bind("vi-command"),
    )
}

/// A message from the installed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The setup ran in `shell` (`bash`, `zsh`, or empty for a shell without the query).
    Hello { shell: String },
    /// The shell drew its prompt.
    Prompt,
    /// The buffer, decoded; `None` when the answer could not be decoded.
    Line(Option<String>),
    /// The shell accepted a line and runs it now (bash's `PS0`).
    Running,
}

/// What one chunk of output held: the bytes to show, and the replies in it, in order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scanned {
    pub show: Vec<u8>,
    pub replies: Vec<Reply>,
    /// Where in `show` the last [`Reply::Running`] came: what follows is the line's output.
    pub running_at: Option<usize>,
}

/// Scans target output for the query's messages (see the module doc).
#[derive(Debug)]
pub struct Replies {
    nonce: String,
    /// The end of the last chunk that may start a message.
    partial: Vec<u8>,
    /// While the setup runs: the output held, none of it shown (the setup's echo).
    setup: Option<Vec<u8>>,
}

impl Replies {
    pub fn new(nonce: impl Into<String>) -> Replies {
        Replies {
            nonce: nonce.into(),
            partial: Vec::new(),
            setup: None,
        }
    }

    /// The setup line was just sent: hold output until its hello, then show a clean line in
    /// place of it (the echo of the setup line and its effects are not the operator's).
    pub fn expect_setup(&mut self) {
        self.setup = Some(Vec::new());
    }

    /// Whether the setup's hello is still awaited.
    pub fn setting_up(&self) -> bool {
        self.setup.is_some()
    }

    /// The setup got no answer: what was held is shown after all.
    pub fn give_up_setup(&mut self) -> Vec<u8> {
        self.setup.take().unwrap_or_default()
    }

    /// One chunk of target output.
    pub fn feed(&mut self, bytes: &[u8]) -> Scanned {
        let mut data = std::mem::take(&mut self.partial);
        data.extend_from_slice(bytes);
        let mut out = Scanned::default();
        let mut at = 0;
        while at < data.len() {
            let Some(start) = find_start(&data[at..]).map(|i| at + i) else {
                self.text(&data[at..], &mut out);
                return out;
            };
            self.text(&data[at..start], &mut out);
            if data.len() - start < OSC.len() {
                // The start of a message, cut by the chunk.
                self.partial = data[start..].to_vec();
                return out;
            }
            let body = start + OSC.len();
            match terminator(&data[body..]) {
                Some((len, term)) => {
                    let end = body + len + term;
                    match self.message(&data[body..body + len]) {
                        Some(reply) => self.reply(reply, &mut out),
                        None => self.text(&data[start..end], &mut out),
                    }
                    at = end;
                }
                None if data.len() - start > MAX_REPLY => {
                    self.text(&data[start..], &mut out);
                    return out;
                }
                None => {
                    self.partial = data[start..].to_vec();
                    return out;
                }
            }
        }
        out
    }

    fn text(&mut self, bytes: &[u8], out: &mut Scanned) {
        match &mut self.setup {
            Some(held) => {
                held.extend_from_slice(bytes);
                if held.len() > MAX_SETUP_HELD {
                    // Not the setup's echo: something else is talking. Show it all.
                    out.show.append(held);
                    self.setup = None;
                }
            }
            None => out.show.extend_from_slice(bytes),
        }
    }

    fn reply(&mut self, reply: Reply, out: &mut Scanned) {
        if matches!(reply, Reply::Hello { .. }) && self.setup.take().is_some() {
            out.show.extend_from_slice(SETUP_ERASED);
        }
        if reply == Reply::Running {
            out.running_at = Some(out.show.len());
        }
        out.replies.push(reply);
    }

    /// A message with this channel's nonce; `None` for anything else (shown as it came).
    fn message(&self, body: &[u8]) -> Option<Reply> {
        let body = std::str::from_utf8(body).ok()?;
        let (kind, rest) = body.split_once(';')?;
        let (nonce, payload) = match rest.split_once(';') {
            Some((n, p)) => (n, Some(p)),
            None => (rest, None),
        };
        if nonce != self.nonce {
            return None;
        }
        match (kind, payload) {
            ("H", Some(shell)) => Some(Reply::Hello {
                shell: shell.to_owned(),
            }),
            ("P", None) => Some(Reply::Prompt),
            ("E", None) => Some(Reply::Running),
            ("L", Some(quoted)) => Some(Reply::Line(decode(quoted))),
            _ => None,
        }
    }
}

/// The first place in `data` where a message starts, or where its start is cut by the end.
fn find_start(data: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = data[from..].iter().position(|&b| b == 0x1b) {
        let at = from + i;
        let rest = &data[at..];
        let n = rest.len().min(OSC.len());
        if rest[..n] == OSC[..n] {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The length of a message's body and of its terminator (BEL, or ESC `\`).
fn terminator(data: &[u8]) -> Option<(usize, usize)> {
    for (i, &b) in data.iter().enumerate() {
        match b {
            0x07 => return Some((i, 1)),
            0x1b if data.get(i + 1) == Some(&b'\\') => return Some((i, 2)),
            _ => {}
        }
    }
    None
}

/// Bash's `@Q` quoting undone: one word (`'text'`, `$'a\nb'`, or both joined).
pub fn decode(quoted: &str) -> Option<String> {
    if quoted.is_empty() || quoted == "''" {
        return Some(String::new());
    }
    let lexed = lex(quoted);
    match lexed.commands.as_slice() {
        [one]
            if !lexed.incomplete
                && one.assignments.is_empty()
                && one.words.len() == 1
                && one.expanded.is_empty() =>
        {
            one.words.first().cloned()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
