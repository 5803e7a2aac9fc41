//! Which submitted lines the gateway may answer `sudo`'s (or `su`'s) password prompt for, and
//! which lines take that trust away (issue 12).
//!
//! A prompt's bytes and the terminal's echo state prove nothing: `printf '[sudo] password
//! for x: '; read x` is byte-identical to sudo's prompt. What the gateway does know is the
//! line the operator submitted, read exactly from the shell's own buffer. So the password is
//! offered only after a line that is one simple command whose program is `sudo` (or `su` to
//! root) itself, by its plain name or its system path, with nothing that could make the
//! prompt someone else's: no operator, redirection, substitution, expansion or variable set
//! before it, and none of sudo's options that change how the password is asked for (`-p`,
//! `-S`, `-A`) or that throw away the credential cache the gateway keeps track of (`-k`,
//! `-K`).
//!
//! What it is not: it does not know what `sudo` resolves to. A function, an alias or a `PATH`
//! set before the session (a prepared `.bashrc`) is beyond it; one defined during the session
//! is caught by [`changes_elevation`], and the session stops answering for the rest of it.
//! It cannot tell whether sudo's credential is still cached (a cached sudo runs its program
//! without a prompt, and that program may print a fake one): the session keeps that account
//! with [`may_run_sudo`] and [`clears_sudo_ticket`].

use crate::lex::{Simple, lex};

/// The program that asks for a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Sudo,
    Su,
}

impl Tool {
    pub fn as_str(self) -> &'static str {
        match self {
            Tool::Sudo => "sudo",
            Tool::Su => "su",
        }
    }

    /// The exact program words accepted: the name (found through `PATH`, which the session
    /// watches) or the system's own paths.
    fn programs(self) -> &'static [&'static str] {
        match self {
            Tool::Sudo => &["sudo", "/usr/bin/sudo", "/bin/sudo"],
            Tool::Su => &["su", "/usr/bin/su", "/bin/su"],
        }
    }
}

/// What a submitted line means for the elevation prompt that may follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eligibility {
    /// The line does not run sudo or su: a prompt after it is never answered (and not
    /// worth a log entry).
    NotElevation,
    /// One simple `sudo` / `su` command the gateway may answer for.
    Answer(Tool),
    /// It runs sudo or su in a way the gateway will not answer for, and why.
    Refuse(Tool, &'static str),
}

/// Characters that make a line more than one plain command: operators, redirections,
/// substitutions, expansions, several lines.
const NOT_PLAIN: &[char] = &[';', '&', '|', '<', '>', '(', ')', '`', '$', '\n', '\r'];

/// sudo's options that take a value (the value is not an option).
const SUDO_VALUED_SHORT: &[char] = &['C', 'D', 'g', 'h', 'p', 'r', 't', 'T', 'U', 'u'];
const SUDO_VALUED_LONG: &[&str] = &[
    "--close-from",
    "--chdir",
    "--group",
    "--host",
    "--prompt",
    "--role",
    "--type",
    "--command-timeout",
    "--other-user",
    "--user",
];
/// sudo's options after which the gateway does not answer.
const SUDO_REFUSED_SHORT: &[char] = &['p', 'S', 'A', 'k', 'K'];
const SUDO_REFUSED_LONG: &[&str] = &[
    "--prompt",
    "--stdin",
    "--askpass",
    "--reset-timestamp",
    "--remove-timestamp",
];

/// Whether the gateway may answer the prompt that follows `line` (see the module doc).
pub fn eligibility(line: &str) -> Eligibility {
    let lexed = lex(line);
    let Some(tool) = named_tool(&lexed.commands) else {
        return Eligibility::NotElevation;
    };
    let refuse = |why| Eligibility::Refuse(tool, why);
    if lexed.incomplete {
        return refuse("the line is not complete");
    }
    if lexed.commands.len() != 1 || line.contains(NOT_PLAIN) {
        return refuse(
            "the line is more than one plain command (an operator, a redirection, a substitution or an expansion)",
        );
    }
    let simple = &lexed.commands[0];
    if !simple.assignments.is_empty() {
        return refuse(
            "variables are set for the command (SUDO_PROMPT, SUDO_ASKPASS and others change the prompt)",
        );
    }
    let program = simple.words.first().map(String::as_str).unwrap_or("");
    if !tool.programs().contains(&program) {
        return refuse("the program is not sudo or su itself (a wrapper or another path runs it)");
    }
    let args = &simple.words[1..];
    let checked = match tool {
        Tool::Sudo => sudo_options(args),
        Tool::Su => su_options(args),
    };
    match checked {
        Ok(()) => Eligibility::Answer(tool),
        Err(why) => refuse(why),
    }
}

/// The tool a line runs anywhere (any word whose base name is `sudo` or `su`).
fn named_tool(commands: &[Simple]) -> Option<Tool> {
    let words = || commands.iter().flat_map(|c| c.words.iter());
    let named = |name: &str| words().any(|w| w.rsplit('/').next() == Some(name));
    if named("sudo") {
        Some(Tool::Sudo)
    } else if named("su") {
        Some(Tool::Su)
    } else {
        None
    }
}

fn sudo_options(args: &[String]) -> Result<(), &'static str> {
    const REFUSED: &str = "sudo is told to ask for the password its own way (-p, -S, -A) or to drop its cached credential (-k, -K)";
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        if arg == "--" || !arg.starts_with('-') || arg == "-" {
            return Ok(());
        }
        if let Some(long) = arg.strip_prefix("--") {
            let name = format!("--{}", long.split('=').next().unwrap_or(""));
            if SUDO_REFUSED_LONG
                .iter()
                .any(|r| r.starts_with(&name) && name.len() > 3)
            {
                return Err(REFUSED);
            }
            if SUDO_VALUED_LONG.contains(&name.as_str()) && !long.contains('=') {
                i += 1;
            }
        } else {
            for (at, c) in arg.char_indices().skip(1) {
                if SUDO_REFUSED_SHORT.contains(&c) {
                    return Err(REFUSED);
                }
                if SUDO_VALUED_SHORT.contains(&c) {
                    // The value is the rest of this word, or the next word.
                    if at + c.len_utf8() == arg.len() {
                        i += 1;
                    }
                    break;
                }
            }
        }
        i += 1;
    }
    Ok(())
}

fn su_options(args: &[String]) -> Result<(), &'static str> {
    let mut i = 0;
    let mut user = None;
    while i < args.len() {
        let arg = args[i].as_str();
        match arg {
            "-" | "-l" | "--login" | "-m" | "-p" | "--preserve-environment" => {}
            "-c" | "--command" | "-s" | "--shell" | "-g" | "--group" | "-G" | "-w" => i += 1,
            _ if arg.starts_with("--command=") || arg.starts_with("--shell=") => {}
            _ if arg.starts_with('-') => {
                return Err("su is given an option the gateway does not know");
            }
            _ if user.is_none() => user = Some(arg),
            // Arguments after the user go to the shell.
            _ => {}
        }
        i += 1;
    }
    match user {
        None | Some("root") => Ok(()),
        Some(_) => {
            Err("su switches to a user other than root, whose password the gateway does not hold")
        }
    }
}

/// Why a line takes away the trust on-demand answering needs, if it does: it defines an alias
/// or a function named `sudo` or `su` (or `command_not_found_handle`), changes `PATH`, `PS0`
/// or where the shell finds a command, sets a trap (a DEBUG trap runs before sudo), or runs
/// code the gateway did not read.
pub fn changes_elevation(line: &str) -> Option<&'static str> {
    if defines_function(line, "sudo") || defines_function(line, "su") {
        return Some("it defines a function named sudo or su");
    }
    if line.contains("command_not_found_handle") {
        return Some("it changes what runs for a command that is not found");
    }
    // PS0 is printed between the line and its program (the gateway's marker is in it).
    if line.contains("PS0") {
        return Some("it changes PS0");
    }
    let lexed = lex(line);
    for simple in &lexed.commands {
        if simple.assignments.iter().any(|a| sets_path(a))
            || simple.words.first().is_some_and(|w| sets_path(w))
        {
            return Some("it changes PATH");
        }
        let words = &simple.words;
        let Some(program) = words.first() else {
            continue;
        };
        let program = program.rsplit('/').next().unwrap_or(program);
        let rest = &words[1..];
        // `NAME()` definitions are found on the raw line above; these name it in a word.
        let names_tool = |w: &str| matches!(w.split(['=', '(']).next(), Some("sudo" | "su"));
        match program {
            "alias" | "function" if rest.iter().any(|w| names_tool(w)) => {
                return Some("it defines an alias or a function named sudo or su");
            }
            "export" | "declare" | "typeset" | "readonly" | "local" | "unset"
                if rest.iter().any(|w| w == "PATH" || sets_path(w)) =>
            {
                return Some("it changes PATH");
            }
            "hash" | "enable" => return Some("it changes where the shell finds a command"),
            // A DEBUG trap runs before every command, sudo included.
            "trap" => return Some("it sets a trap"),
            "source" | "." | "eval" => return Some("it runs code the gateway did not read"),
            _ if simple.dynamic_name => return Some("it runs a command named at run time"),
            _ => {}
        }
    }
    None
}

/// Whether `line` holds `NAME ()` (a function definition's head, which the lexer splits).
fn defines_function(line: &str, name: &str) -> bool {
    let word_char = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/');
    line.match_indices(name).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + name.len()..].trim_start();
        !before.is_some_and(word_char)
            && after
                .strip_prefix('(')
                .is_some_and(|a| a.trim_start().starts_with(')'))
    })
}

fn sets_path(word: &str) -> bool {
    word.starts_with("PATH=") || word.starts_with("PATH+=")
}

/// Whether `line` may have run sudo (and so left a cached credential on this terminal).
/// Deliberately broad: any mention counts.
pub fn may_run_sudo(line: &str) -> bool {
    line.contains("sudo")
}

/// Whether `line` is a standalone `sudo -k` or `sudo -K`: sudo's cached credential for this
/// terminal is gone after it.
pub fn clears_sudo_ticket(line: &str) -> bool {
    let lexed = lex(line);
    if lexed.incomplete || lexed.commands.len() != 1 || line.contains(NOT_PLAIN) {
        return false;
    }
    let simple = &lexed.commands[0];
    simple.assignments.is_empty()
        && simple.words.len() == 2
        && Tool::Sudo.programs().contains(&simple.words[0].as_str())
        && matches!(
            simple.words[1].as_str(),
            "-k" | "-K" | "--reset-timestamp" | "--remove-timestamp"
        )
}

#[cfg(test)]
mod tests;
