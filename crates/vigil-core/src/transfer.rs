//! Which exec channels are file transfers: `scp` (its server side, `scp -t` to receive and
//! `scp -f` to send) and `rsync --server`. Their bytes are file contents, not a terminal, so
//! they are counted and logged but kept out of the terminal recording (issue 9; inspected by a
//! later stage).
//!
//! What this is not: a shell parser. It answers "transfer" only for one plain command word
//! (`scp`, `rsync`, or an absolute path ending in them) followed by the server-side options,
//! with nothing a shell would treat specially outside single quotes (`;`, `&`, `|`, `` ` ``,
//! `$`, `(`, `)`, `<`, `>`, double quotes, backslashes, newlines, globs; single-quoted words,
//! as scp quotes paths, are literal). Anything else stays an ordinary recorded exec channel,
//! so dressing a command up as a transfer (`scp -t x; bash -i`) gets it recorded, never
//! hidden. A user whose own shell redefines `scp` on the target is outside what the gateway
//! can see.

/// The transfer tool an exec command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferTool {
    /// `scp -t` (the operator uploads) or `scp -f` (the operator downloads).
    Scp,
    /// `rsync --server` (either direction; `--sender` when the operator downloads).
    Rsync,
}

impl TransferTool {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferTool::Scp => "scp",
            TransferTool::Rsync => "rsync",
        }
    }
}

/// Which way a transfer's files go, from the operator's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Operator to target (`scp -t`, `rsync --server` receiving).
    Upload,
    /// Target to operator (`scp -f`, `rsync --server --sender`).
    Download,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Upload => "upload",
            Direction::Download => "download",
        }
    }
}

/// A transfer's server side, as an exec command runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    pub tool: TransferTool,
    pub direction: Direction,
}

/// Bytes a POSIX shell gives a meaning to outside quotes, beyond separating words.
const SHELL_SYNTAX: &[char] = &[
    ';', '&', '|', '`', '$', '(', ')', '<', '>', '"', '\\', '\n', '\r', '*', '?', '[', '{', '}',
    '~', '#', '=', '!', '\0',
];

/// The words of `command` when a shell would run it as one simple command with literal
/// arguments: plain words and single-quoted strings (literal in every POSIX shell), nothing
/// else. `None` when anything could make the shell do more.
fn literal_words(command: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quoted = false;
    for c in command.chars() {
        match (quoted, c) {
            (true, '\'') => quoted = false,
            (true, '\0') => return None,
            (true, c) => word.get_or_insert_with(String::new).push(c),
            (false, '\'') => {
                quoted = true;
                word.get_or_insert_with(String::new);
            }
            (false, ' ' | '\t') => words.extend(word.take()),
            (false, c) if SHELL_SYNTAX.contains(&c) => return None,
            (false, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    if quoted {
        return None;
    }
    words.extend(word);
    Some(words)
}

/// `Some(transfer)` when `command` (an exec request's command line) is exactly a transfer's
/// server side; `None` for everything else.
pub fn classify_exec(command: &str) -> Option<Transfer> {
    let words = literal_words(command)?;
    let (program, args) = words.split_first()?;
    let name = match program.rsplit_once('/') {
        // An absolute path (`/usr/bin/scp`); a relative one could be anything the user put there.
        Some((dir, name)) if program.starts_with('/') && !dir.is_empty() => name,
        Some(_) => return None,
        None => program.as_str(),
    };
    match name {
        "scp" => {
            let (mut to, mut from) = (false, false);
            for arg in args {
                if arg == "--" {
                    break;
                }
                if let Some(flags) = arg.strip_prefix('-') {
                    // Clustered short options, as scp's client sends them: `-prt`.
                    if !flags.chars().all(|c| "tfrpdqv3".contains(c)) {
                        return None;
                    }
                    to |= flags.contains('t');
                    from |= flags.contains('f');
                }
            }
            let direction = match (to, from) {
                (true, false) => Direction::Upload,
                (false, true) => Direction::Download,
                // Neither (a client, not a server side) or both (no real scp sends that).
                _ => return None,
            };
            Some(Transfer {
                tool: TransferTool::Scp,
                direction,
            })
        }
        "rsync" if args.first().map(String::as_str) == Some("--server") => Some(Transfer {
            tool: TransferTool::Rsync,
            direction: if args.iter().any(|a| a == "--sender") {
                Direction::Download
            } else {
                Direction::Upload
            },
        }),
        _ => None,
    }
}

/// The paths an exec transfer names (`scp -t PATH`: where files go; `scp -f PATH...`: what is
/// sent), as the shell would pass them; empty when `command` is not a transfer.
pub fn transfer_paths(command: &str) -> Vec<String> {
    if classify_exec(command).is_none() {
        return Vec::new();
    }
    let Some(words) = literal_words(command) else {
        return Vec::new();
    };
    let mut paths = Vec::new();
    let mut options = true;
    for word in words.into_iter().skip(1) {
        if options && word == "--" {
            options = false;
        } else if !(options && word.starts_with('-')) {
            paths.push(word);
        }
    }
    paths
}

/// Whether `command` may run a file-transfer program (`scp`, `rsync`, `sftp-server`) in a
/// form [`classify_exec`] does not take as exactly a transfer (a glob, a pipe, a shell
/// around it). A policy that inspects or restricts transfers refuses such commands rather
/// than let files through unseen. Loose on purpose: a false match only refuses a command
/// under such a policy; a miss would let files through.
pub fn mentions_transfer_tool(command: &str) -> bool {
    command
        .split(|c: char| c.is_whitespace() || SHELL_SYNTAX.contains(&c) || c == '\'')
        .filter(|w| !w.is_empty())
        .any(|w| {
            let name = w.rsplit('/').next().unwrap_or(w);
            matches!(name, "scp" | "rsync" | "sftp-server" | "sftp")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_loose_mentions() {
        assert_eq!(transfer_paths("scp -t -- /srv/a b"), ["/srv/a", "b"]);
        assert_eq!(transfer_paths("scp -r -t '/srv/my dir'"), ["/srv/my dir"]);
        assert_eq!(transfer_paths("scp -f /srv/-x"), ["/srv/-x"]);
        assert!(transfer_paths("ls /srv").is_empty());
        for loose in [
            "scp -f /srv/*.txt",
            "cd /srv && scp -f a",
            "/usr/lib/openssh/sftp-server",
            "bash -c 'rsync --server . x'",
            "x;scp -t y",
        ] {
            assert!(mentions_transfer_tool(loose), "{loose}");
        }
        for not in ["ls -l", "cat scp.txt", "echo rsyncd", "vim /etc/scp/x.conf"] {
            assert!(!mentions_transfer_tool(not), "{not}");
        }
    }

    #[test]
    fn table() {
        use TransferTool::*;
        let table: &[(&str, Option<TransferTool>)] = &[
            ("scp -tf x", None),
            ("scp -t /tmp/", Some(Scp)),
            ("scp -f /etc/hosts", Some(Scp)),
            ("scp -r -t /srv/data", Some(Scp)),
            ("scp -prt dir", Some(Scp)),
            ("/usr/bin/scp -t x", Some(Scp)),
            ("scp -v -d -t -- /tmp/a b", Some(Scp)),
            (
                "rsync --server -vlogDtpre.iLsfxCIvu . /tmp/dest",
                Some(Rsync),
            ),
            (
                "rsync --server --sender -vlogDtpre.iLsfxCIvu . /etc/hosts",
                Some(Rsync),
            ),
            // Not transfers: recorded as ordinary exec channels.
            ("scp -t x; bash -i", None),
            ("scp -t x && cat /etc/shadow", None),
            ("scp -t x | sh", None),
            ("scp -t $(id)", None),
            ("scp -t `id`", None),
            ("scp -t -- '/tmp/a b; c'", Some(Scp)),
            ("scp -t 'unterminated", None),
            ("scp -t 'a'\"b\"", None),
            ("scp -t x\nbash", None),
            ("scp host:/a /b", None),
            ("scp -o ProxyCommand=sh -t x", None),
            ("./scp -t x", None),
            ("bin/scp -t x", None),
            ("rsync -av src/ dst/", None),
            ("rsync --daemon", None),
            ("sh -c scp", None),
            ("cat file", None),
            ("", None),
            ("   ", None),
            ("sudo scp -t /root", None),
            ("scp -t x > /dev/null", None),
            ("SCP -t x", None),
        ];
        for (command, want) in table {
            assert_eq!(classify_exec(command).map(|t| t.tool), *want, "{command:?}");
        }
    }

    #[test]
    fn directions() {
        let table: &[(&str, Direction)] = &[
            ("scp -t /tmp/", Direction::Upload),
            ("scp -f /etc/hosts", Direction::Download),
            ("scp -pf -- /tmp/a-f-file", Direction::Download),
            ("scp -t -- /tmp/file-named-f", Direction::Upload),
            (
                "rsync --server -vlogDtpre.iLsfxCIvu . /tmp/d",
                Direction::Upload,
            ),
            (
                "rsync --server --sender -vlogDtpre.iLsfxCIvu . /etc",
                Direction::Download,
            ),
        ];
        for (command, want) in table {
            let got = classify_exec(command).map(|t| t.direction);
            assert_eq!(got, Some(*want), "{command:?}");
        }
    }
}
