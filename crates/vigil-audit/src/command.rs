//! From a lexed line to the commands it runs: each simple command, the program name with its
//! path normalised, looked through wrappers (`sudo`, `env VAR=x`, `nohup`, `time`, `exec`,
//! `command`, `builtin`, `nice`, `timeout`, `xargs`, `stdbuf`, `ionice`, `doas`), and the
//! strings a shell is asked to run (`sh -c '...'`, `su -c '...'`) lexed as lines of their own.
//! Each command carries the obfuscation classes it shows, for rules that act on them.
//!
//! What it is not: it does not know what a script, an alias or a function does, nor what a
//! program runs by itself (`find -exec`, `vim`'s `:!`, `awk 'system()'`, a Makefile). Those
//! are limits of any gateway-side detector; the classes below let an administrator act on the
//! forms that hide a command from it.

use crate::lex::{Simple, lex};

/// A way a line hides what it runs from anyone reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// `eval ...`: the command is built at run time.
    Eval,
    /// A shell reading its commands from a pipe (`base64 -d | sh`, `curl ... | bash`).
    PipeToShell,
    /// The command name, or a shell's `-c` string, holds a variable or a substitution.
    DynamicCommand,
    /// An alias, a function, a key binding (`bind`) or a trap is defined, or history
    /// expansion turned on (`set -H`): later lines may mean something else.
    Definition,
}

impl Class {
    pub const ALL: [Class; 4] = [
        Class::Eval,
        Class::PipeToShell,
        Class::DynamicCommand,
        Class::Definition,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Eval => "eval",
            Class::PipeToShell => "pipe-to-shell",
            Class::DynamicCommand => "dynamic-command",
            Class::Definition => "definition",
        }
    }

    pub fn parse(s: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// One command a line runs, as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The command as typed (quotes removed), program path normalised: `/bin/../bin/rm -rf /`.
    pub text: String,
    /// Every form a rule is matched against: the text, the text with the program's base name
    /// (`rm -rf /`), and the same for each wrapper looked through (`sudo rm x` also gives
    /// `rm x`).
    pub views: Vec<String>,
    pub classes: Vec<Class>,
}

/// The commands `line` runs, in order.
pub fn commands(line: &str) -> Vec<Command> {
    let mut out = Vec::new();
    collect(line, 0, &mut out);
    out
}

const SHELLS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox", "fish",
];

/// Nested `sh -c` strings deeper than this are not looked into.
const MAX_DEPTH: usize = 8;

fn collect(line: &str, depth: usize, out: &mut Vec<Command>) {
    let lexed = lex(line);
    for simple in &lexed.commands {
        out.push(command_of(simple));
        if depth < MAX_DEPTH {
            // What a shell is asked to run is decided as a line of its own.
            for inner in shell_strings(simple) {
                collect(&inner, depth + 1, out);
            }
        }
    }
}

fn command_of(simple: &Simple) -> Command {
    let mut classes = Vec::new();
    let words: Vec<String> = simple.words.clone();
    let program = words.first().map(|w| base_name(w)).unwrap_or_default();
    if simple.dynamic_name {
        classes.push(Class::DynamicCommand);
    }
    if program == "eval" {
        classes.push(Class::Eval);
    }
    let history_on = program == "set"
        && (words
            .windows(2)
            .any(|w| w[0] == "-o" && w[1] == "histexpand")
            || words
                .iter()
                .skip(1)
                .any(|w| w.starts_with('-') && !w.starts_with("--") && w.contains('H')));
    // `bind` and `trap` change what a key or an event runs; `set -H` turns history
    // expansion back on (`!!` then runs something the line does not say).
    if matches!(
        program.as_str(),
        "alias" | "function" | "bind" | "trap" | "bindkey" | "zle"
    ) || words.iter().any(|w| w.ends_with("()"))
        || history_on
    {
        classes.push(Class::Definition);
    }
    let text = join(&normalised(&words));
    let mut views = vec![text.clone()];
    let mut rest: &[String] = &words;
    loop {
        let named = with_base_name(rest);
        if !views.contains(&named) {
            views.push(named);
        }
        match unwrap(rest) {
            Some(inner) if !inner.is_empty() && inner.len() < rest.len() => {
                rest = inner;
                let plain = join(&normalised(rest));
                if !views.contains(&plain) {
                    views.push(plain);
                }
            }
            _ => break,
        }
    }
    let inner_program = rest.first().map(|w| base_name(w)).unwrap_or_default();
    if simple.piped && SHELLS.contains(&inner_program.as_str()) && !has_c_flag(rest) {
        let reads_stdin = rest[1..].iter().all(|a| a.starts_with('-'));
        if reads_stdin {
            classes.push(Class::PipeToShell);
        }
    }
    if SHELLS.contains(&inner_program.as_str()) || inner_program == "su" {
        let offset = words.len() - rest.len();
        if let Some(i) = c_string_index(rest)
            && simple.expanded.contains(&(i + offset))
        {
            classes.push(Class::DynamicCommand);
        }
    }
    classes.sort();
    classes.dedup();
    Command {
        text,
        views,
        classes,
    }
}

/// Whether a channel running `command` (`None`: the login shell, a shell request) reads the
/// commands it runs from its standard input: the login shell, or a shell (`bash`, `sh -s`,
/// `bash -l`), `su` without `-c`, or `sudo -s` / `sudo -i` without a command, anywhere in the
/// line (`cd /srv && bash`). Such a channel's input is a stream of command lines to decide.
/// A script file (`bash x.sh`) or a `-c` string is not: the exec request itself was decided.
pub fn reads_commands_from_stdin(command: Option<&str>) -> bool {
    let Some(command) = command else {
        return true;
    };
    lex(command).commands.iter().any(|simple| {
        let mut rest: &[String] = &simple.words;
        loop {
            match unwrap(rest) {
                // `sudo -i`, `sudo -u postgres -s`: a shell, with no command to run.
                Some([]) => {
                    let program = rest.first().map(|w| base_name(w)).unwrap_or_default();
                    return matches!(program.as_str(), "sudo" | "doas")
                        && rest[1..].iter().any(|a| {
                            matches!(a.as_str(), "--login" | "--shell")
                                || (a.starts_with('-')
                                    && !a.starts_with("--")
                                    && (a.contains('s') || a.contains('i')))
                        });
                }
                Some(inner) if inner.len() < rest.len() => rest = inner,
                _ => break,
            }
        }
        let program = rest.first().map(|w| base_name(w)).unwrap_or_default();
        (SHELLS.contains(&program.as_str()) || program == "su")
            && !has_c_flag(rest)
            && rest[1..]
                .iter()
                .all(|a| a.starts_with('-') || (program == "su" && !a.starts_with('-')))
    })
}

/// The `-c` strings of a shell (or `su -c`) this command runs, after wrappers.
fn shell_strings(simple: &Simple) -> Vec<String> {
    let mut rest: &[String] = &simple.words;
    while let Some(inner) = unwrap(rest) {
        if inner.is_empty() || inner.len() >= rest.len() {
            break;
        }
        rest = inner;
    }
    let program = rest.first().map(|w| base_name(w)).unwrap_or_default();
    if !(SHELLS.contains(&program.as_str()) || program == "su") {
        return Vec::new();
    }
    c_string_index(rest)
        .and_then(|i| rest.get(i).cloned())
        .into_iter()
        .collect()
}

fn has_c_flag(args: &[String]) -> bool {
    c_string_index(args).is_some()
}

/// Where the string after `-c` (or a flag group holding `c`, as in `-lc`) is.
fn c_string_index(args: &[String]) -> Option<usize> {
    let mut i = 1;
    while i < args.len() {
        let a = &args[i];
        if a == "--" || !a.starts_with('-') || a == "-" {
            return None;
        }
        if a == "--command" || (!a.starts_with("--") && a[1..].contains('c')) {
            return (i + 1 < args.len()).then_some(i + 1);
        }
        i += 1;
    }
    None
}

/// The command a wrapper runs (the words after the wrapper and its options), or `None`
/// when `words` does not start with a wrapper.
fn unwrap(words: &[String]) -> Option<&[String]> {
    let program = base_name(words.first()?);
    // Options that take a value, per wrapper.
    let (valued, first_arg_is_value): (&[&str], bool) = match program.as_str() {
        "sudo" => (
            &[
                "-u",
                "-g",
                "-C",
                "-D",
                "-h",
                "-p",
                "-r",
                "-t",
                "-T",
                "-U",
                "--user",
                "--group",
                "--chdir",
                "--prompt",
                "--role",
                "--type",
                "--close-from",
                "--host",
                "--other-user",
                "--command-timeout",
            ],
            false,
        ),
        "doas" => (&["-u", "-C"], false),
        "env" => (
            &["-u", "-C", "-S", "--unset", "--chdir", "--split-string"],
            false,
        ),
        "nohup" | "command" | "builtin" | "time" | "exec" | "stdbuf" => {
            (&["-a", "-o", "-e", "-i"], false)
        }
        "nice" => (&["-n", "--adjustment"], false),
        "ionice" => (&["-c", "-n", "-p", "--class", "--classdata"], false),
        "timeout" => (&["-s", "-k", "--signal", "--kill-after"], true),
        "xargs" => (
            &[
                "-a",
                "-d",
                "-E",
                "-e",
                "-I",
                "-i",
                "-L",
                "-l",
                "-n",
                "-P",
                "-s",
                "--arg-file",
                "--delimiter",
                "--max-args",
                "--max-procs",
                "--max-lines",
                "--replace",
            ],
            false,
        ),
        _ => return None,
    };
    let mut i = 1;
    while i < words.len() {
        let w = &words[i];
        if w == "--" {
            i += 1;
            break;
        }
        if program == "env" && w.contains('=') && !w.starts_with('-') {
            i += 1;
            continue;
        }
        if !w.starts_with('-') || w == "-" {
            break;
        }
        // `nice -5 cmd` and `-n5` carry their value inside.
        if valued.contains(&w.as_str()) {
            i += 2;
        } else {
            i += 1;
        }
    }
    if first_arg_is_value {
        // `timeout 10 cmd`: the duration comes first.
        i += 1;
    }
    words.get(i..)
}

/// The program's path with `.`, `..` and repeated slashes resolved as text.
fn normalised(words: &[String]) -> Vec<String> {
    let mut out = words.to_vec();
    if let Some(first) = out.first_mut()
        && first.contains('/')
    {
        *first = normalise_path(first);
    }
    out
}

fn with_base_name(words: &[String]) -> String {
    let mut out = words.to_vec();
    if let Some(first) = out.first_mut() {
        *first = base_name(first);
    }
    join(&out)
}

fn normalise_path(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_owned()
    } else {
        joined
    }
}

fn base_name(word: &str) -> String {
    let normal = normalise_path(word);
    normal.rsplit('/').next().unwrap_or(&normal).to_owned()
}

fn join(words: &[String]) -> String {
    words.join(" ")
}

#[cfg(test)]
mod tests;
