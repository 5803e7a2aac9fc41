//! A shell command line, lexed the way a POSIX shell would before running it: quotes and
//! backslashes removed (`\rm`, `r''m` and `"rm"` are all `rm`), split into simple commands on
//! `;`, `&`, `&&`, `|`, `||`, `|&`, newlines and `( )`, with the commands inside `$( )`,
//! backticks and `<( )` / `>( )` taken out as commands of their own. Redirections and their
//! targets are not words of a command; assignments before the command name are kept apart.
//!
//! What it is not: a shell. It does not expand variables, globs, aliases or functions (a word
//! that holds an expansion is marked so the rules can treat it as dynamic), it does not read
//! here-documents' bodies, and `case` patterns and `for` word lists are taken for commands.
//! It never fails: an unterminated quote or substitution ends at the end of the line and the
//! line is marked incomplete (a shell would ask for more).

/// One simple command as the shell would run it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Simple {
    /// `NAME=value` words before the command name.
    pub assignments: Vec<String>,
    /// The command name and its arguments, quotes removed.
    pub words: Vec<String>,
    /// Whether the command name holds an expansion (`$x`, `$(..)`, a backtick): what runs is
    /// decided only when the shell expands it.
    pub dynamic_name: bool,
    /// Which words (by index) hold an unexpanded `$` or substitution.
    pub expanded: Vec<usize>,
    /// Read from a pipe (a `|` came before it).
    pub piped: bool,
}

/// A lexed line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Line {
    pub commands: Vec<Simple>,
    /// A quote, substitution or continuation was left open.
    pub incomplete: bool,
}

/// Lexes `line` (which may hold several lines: a paste).
pub fn lex(line: &str) -> Line {
    let mut lexer = Lexer {
        chars: line.chars().collect(),
        at: 0,
        out: Line::default(),
    };
    lexer.run(0);
    lexer.out
}

/// Nesting deeper than this is lexed as plain text (a line is typed by a person).
const MAX_DEPTH: usize = 16;

struct Lexer {
    chars: Vec<char>,
    at: usize,
    out: Line,
}

/// The word being built.
#[derive(Default)]
struct Word {
    text: String,
    /// Something was quoted, so an empty word still counts.
    quoted: bool,
    expanded: bool,
    started: bool,
}

/// The simple command being built.
#[derive(Default)]
struct Current {
    simple: Simple,
    /// The next word is a redirection's target, not a word of the command.
    redirect_target: bool,
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    /// Lexes until the end, or until an unmatched `)` when `depth > 0` (a substitution).
    fn run(&mut self, depth: usize) {
        let mut cur = Current::default();
        let mut word = Word::default();
        let mut piped = false;
        // Subshells opened at this level: their `)` is not the end of a substitution.
        let mut subshells = 0usize;
        while let Some(c) = self.peek(0) {
            match c {
                ' ' | '\t' => {
                    self.at += 1;
                    self.end_word(&mut cur, &mut word);
                }
                '\\' => {
                    self.at += 1;
                    match self.peek(0) {
                        // A continuation joins the lines.
                        Some('\n') => self.at += 1,
                        Some(next) => {
                            self.at += 1;
                            word.text.push(next);
                            word.started = true;
                            word.quoted = true;
                        }
                        None => self.out.incomplete = true,
                    }
                }
                '\'' => {
                    self.at += 1;
                    word.started = true;
                    word.quoted = true;
                    self.single_quoted(&mut word);
                }
                '"' => {
                    self.at += 1;
                    word.started = true;
                    word.quoted = true;
                    self.double_quoted(&mut word, depth);
                }
                '`' => {
                    self.at += 1;
                    word.started = true;
                    word.expanded = true;
                    self.backticks(depth);
                }
                '$' => {
                    word.started = true;
                    self.dollar(&mut word, depth);
                }
                '#' if !word.started => {
                    // A comment, to the end of the line.
                    while let Some(c) = self.peek(0) {
                        if c == '\n' {
                            break;
                        }
                        self.at += 1;
                    }
                }
                '<' | '>' if matches!(self.peek(1), Some('(')) => {
                    // Process substitution: its commands run too.
                    self.at += 2;
                    word.started = true;
                    word.expanded = true;
                    self.nested(depth);
                }
                '<' | '>' => {
                    // A redirection: a word of digits just before it is its descriptor.
                    if word.started && !word.quoted && word.text.chars().all(|c| c.is_ascii_digit())
                    {
                        word = Word::default();
                    } else {
                        self.end_word(&mut cur, &mut word);
                    }
                    self.at += 1;
                    while let Some('<' | '>' | '&' | '|' | '-') = self.peek(0) {
                        self.at += 1;
                    }
                    // `2>&1` and `>&-`: the target is glued on; anything else is the next word.
                    if self.chars.get(self.at - 1) == Some(&'&') {
                        while let Some(c) = self.peek(0) {
                            if c.is_ascii_digit() {
                                self.at += 1;
                            } else {
                                break;
                            }
                        }
                    }
                    cur.redirect_target = true;
                }
                '&' if matches!(self.peek(1), Some('>')) => {
                    // `&>file`: both streams redirected.
                    self.end_word(&mut cur, &mut word);
                    self.at += 2;
                    if self.peek(0) == Some('>') {
                        self.at += 1;
                    }
                    cur.redirect_target = true;
                }
                '(' if word.started && self.peek(1) == Some(')') => {
                    // `name()`: a function definition; its body is commands of its own.
                    self.at += 2;
                    word.text.push_str("()");
                    self.end_word(&mut cur, &mut word);
                    self.end_command(&mut cur, piped);
                    piped = false;
                }
                ';' | '&' | '|' | '\n' | '(' => {
                    self.end_word(&mut cur, &mut word);
                    self.end_command(&mut cur, piped);
                    piped = c == '|' && self.peek(1) != Some('|');
                    if c == '(' {
                        subshells += 1;
                    }
                    self.at += 1;
                    // `&&`, `||`, `;;`, `|&`
                    if matches!(self.peek(0), Some('&' | '|' | ';')) && c != '\n' && c != '(' {
                        self.at += 1;
                    }
                }
                ')' => {
                    self.end_word(&mut cur, &mut word);
                    self.end_command(&mut cur, piped);
                    piped = false;
                    self.at += 1;
                    if subshells > 0 {
                        subshells -= 1;
                    } else if depth > 0 {
                        return;
                    }
                }
                _ => {
                    self.at += 1;
                    word.text.push(c);
                    word.started = true;
                }
            }
        }
        self.end_word(&mut cur, &mut word);
        self.end_command(&mut cur, piped);
        if depth > 0 {
            self.out.incomplete = true;
        }
    }

    fn single_quoted(&mut self, word: &mut Word) {
        while let Some(c) = self.peek(0) {
            self.at += 1;
            if c == '\'' {
                return;
            }
            word.text.push(c);
        }
        self.out.incomplete = true;
    }

    fn double_quoted(&mut self, word: &mut Word, depth: usize) {
        while let Some(c) = self.peek(0) {
            match c {
                '"' => {
                    self.at += 1;
                    return;
                }
                '\\' => {
                    self.at += 1;
                    match self.peek(0) {
                        Some(n @ ('"' | '\\' | '$' | '`')) => {
                            self.at += 1;
                            word.text.push(n);
                        }
                        Some('\n') => self.at += 1,
                        _ => word.text.push('\\'),
                    }
                }
                '`' => {
                    self.at += 1;
                    word.expanded = true;
                    self.backticks(depth);
                }
                '$' => self.dollar(word, depth),
                _ => {
                    self.at += 1;
                    word.text.push(c);
                }
            }
        }
        self.out.incomplete = true;
    }

    /// `$name`, `${..}`, `$(..)`, `$((..))`, `$'..'`; at a `$`.
    fn dollar(&mut self, word: &mut Word, depth: usize) {
        self.at += 1;
        match self.peek(0) {
            Some('(') if self.peek(1) == Some('(') => {
                // Arithmetic: no command runs (its own substitutions aside, rare).
                self.at += 2;
                word.expanded = true;
                word.text.push_str("$((");
                let mut open = 2usize;
                while let Some(c) = self.peek(0) {
                    self.at += 1;
                    word.text.push(c);
                    match c {
                        '(' => open += 1,
                        ')' => {
                            open -= 1;
                            if open == 0 {
                                return;
                            }
                        }
                        _ => {}
                    }
                }
                self.out.incomplete = true;
            }
            Some('(') => {
                self.at += 1;
                word.expanded = true;
                word.text.push_str("$(..)");
                self.nested(depth);
            }
            Some('{') => {
                word.expanded = true;
                word.text.push('$');
                while let Some(c) = self.peek(0) {
                    self.at += 1;
                    word.text.push(c);
                    if c == '}' {
                        return;
                    }
                }
                self.out.incomplete = true;
            }
            Some('\'') => {
                // ANSI-C quoting: `$'\x72m'` is `rm` once the shell decodes it.
                self.at += 1;
                word.quoted = true;
                self.ansi_c_quoted(word);
            }
            Some(c) if c.is_ascii_alphanumeric() || "_@*#?$!-".contains(c) => {
                word.expanded = true;
                word.text.push('$');
                if c.is_ascii_alphabetic() || c == '_' {
                    while let Some(c) = self.peek(0) {
                        if c.is_ascii_alphanumeric() || c == '_' {
                            self.at += 1;
                            word.text.push(c);
                        } else {
                            break;
                        }
                    }
                } else {
                    self.at += 1;
                    word.text.push(c);
                }
            }
            _ => word.text.push('$'),
        }
    }

    fn ansi_c_quoted(&mut self, word: &mut Word) {
        while let Some(c) = self.peek(0) {
            self.at += 1;
            match c {
                '\'' => return,
                '\\' => {
                    let Some(e) = self.peek(0) else { break };
                    self.at += 1;
                    match e {
                        'n' => word.text.push('\n'),
                        't' => word.text.push('\t'),
                        'r' => word.text.push('\r'),
                        'a' => word.text.push('\u{7}'),
                        'b' => word.text.push('\u{8}'),
                        'e' | 'E' => word.text.push('\u{1b}'),
                        'f' => word.text.push('\u{c}'),
                        'v' => word.text.push('\u{b}'),
                        'x' => {
                            let hex: String = (0..2)
                                .map_while(|i| self.peek(i).filter(char::is_ascii_hexdigit))
                                .collect();
                            self.at += hex.len();
                            match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                                Some(ch) => word.text.push(ch),
                                None => word.text.push_str("\\x"),
                            }
                        }
                        '0'..='7' => {
                            let mut oct = String::from(e);
                            while oct.len() < 3 {
                                match self.peek(0) {
                                    Some(d @ '0'..='7') => {
                                        self.at += 1;
                                        oct.push(d);
                                    }
                                    _ => break,
                                }
                            }
                            match u32::from_str_radix(&oct, 8).ok().and_then(char::from_u32) {
                                Some(ch) => word.text.push(ch),
                                None => word.text.push('\\'),
                            }
                        }
                        other => word.text.push(other),
                    }
                }
                _ => word.text.push(c),
            }
        }
        self.out.incomplete = true;
    }

    fn backticks(&mut self, depth: usize) {
        let start = self.at;
        while let Some(c) = self.peek(0) {
            self.at += 1;
            match c {
                '\\' => self.at += 1,
                '`' => {
                    let inner: String = self.chars[start..self.at - 1].iter().collect();
                    self.sub_line(&inner, depth);
                    return;
                }
                _ => {}
            }
        }
        self.out.incomplete = true;
        let inner: String = self.chars[start..].iter().collect();
        self.sub_line(&inner, depth);
    }

    /// The commands of a substitution, up to its `)`.
    fn nested(&mut self, depth: usize) {
        if depth >= MAX_DEPTH {
            self.out.incomplete = true;
            return;
        }
        self.run(depth + 1);
    }

    fn sub_line(&mut self, inner: &str, depth: usize) {
        if depth >= MAX_DEPTH {
            self.out.incomplete = true;
            return;
        }
        let mut sub = Lexer {
            chars: inner.chars().collect(),
            at: 0,
            out: Line::default(),
        };
        sub.run(depth + 1);
        // The sub-lexer's own `)`-less end is not an open substitution here.
        self.out.commands.extend(sub.out.commands);
    }

    fn end_word(&mut self, cur: &mut Current, word: &mut Word) {
        if !word.started {
            return;
        }
        let w = std::mem::take(word);
        if cur.redirect_target {
            cur.redirect_target = false;
            return;
        }
        if w.text == "{" && !w.quoted && cur.simple.words.first().is_some_and(|f| f == "function") {
            // `function name {`: the definition ends here, the body is commands of its own.
            self.end_command(cur, false);
            return;
        }
        let simple = &mut cur.simple;
        let is_assignment = simple.words.is_empty()
            && !w.quoted
            && w.text
                .split_once('=')
                .is_some_and(|(name, _)| is_name(name));
        if is_assignment {
            simple.assignments.push(w.text);
            return;
        }
        if w.expanded {
            if simple.words.is_empty() {
                simple.dynamic_name = true;
            }
            simple.expanded.push(simple.words.len());
        }
        simple.words.push(w.text);
    }

    fn end_command(&mut self, cur: &mut Current, piped: bool) {
        let mut done = std::mem::take(cur);
        if done.simple.words.is_empty() && done.simple.assignments.is_empty() {
            return;
        }
        strip_keywords(&mut done.simple);
        if done.simple.words.is_empty() && done.simple.assignments.is_empty() {
            return;
        }
        done.simple.piped = piped;
        self.out.commands.push(done.simple);
    }
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Reserved words that only introduce the command after them (`if rm x; then ...`).
fn strip_keywords(simple: &mut Simple) {
    const LEADING: &[&str] = &[
        "if", "then", "else", "elif", "do", "while", "until", "!", "{", "}", "fi", "done", "esac",
    ];
    let skip = simple
        .words
        .iter()
        .take_while(|w| LEADING.contains(&w.as_str()))
        .count();
    if skip > 0 {
        simple.words.drain(..skip);
        simple.expanded = simple
            .expanded
            .iter()
            .filter(|i| **i >= skip)
            .map(|i| i - skip)
            .collect();
        simple.dynamic_name = simple.expanded.first() == Some(&0);
    }
}

#[cfg(test)]
mod tests;
