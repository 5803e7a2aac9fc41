use super::*;

/// Types `keys` chunk by chunk, echoing each chunk's printable keys as a terminal would,
/// and returns what was submitted.
fn typed(chunks: &[&[u8]], echo: bool) -> Vec<Submitted> {
    let mut t = LineTracker::new();
    t.output(b"$ ");
    let mut out = Vec::new();
    for chunk in chunks {
        out.extend(t.input(chunk).into_iter().map(|s| s.what));
        if echo {
            let shown: Vec<u8> = chunk
                .iter()
                .copied()
                .filter(|b| *b >= 0x20 && *b != 0x7f)
                .collect();
            t.output(&shown);
        }
    }
    out
}

fn line(text: &str, exact: bool) -> Submitted {
    Submitted::Line {
        text: text.into(),
        exact,
        echo: Echo::Shown,
    }
}

fn at_once(text: &str, exact: bool) -> Submitted {
    Submitted::Line {
        text: text.into(),
        exact,
        echo: Echo::Unknown,
    }
}

#[test]
fn rebuilds_the_line_with_the_terminal_editing_keys() {
    let cases: &[(&[&[u8]], Submitted)] = &[
        (&[b"ls -la", b"\r"], line("ls -la", true)),
        (&[b"ls -la\r"], at_once("ls -la", true)),
        (
            &[b"rm -rf /tmpx", b"\x7f", b"\r"],
            line("rm -rf /tmp", true),
        ),
        (&[b"echo hi", b"\x08\x08", b"yo\r"], line("echo yo", true)),
        (&[b"whoami", b"\x15", b"id\r"], at_once("id", true)),
        (&[b"rm -rf /tmp", b"\x17", b"/\r"], line("rm -rf /", true)),
        (&[b"rm -rf /", b"\x03", b"ls\r"], at_once("ls", true)),
        (&[b"ls\x1b[D\x1b[Dx\r"], at_once("lsx", false)),
        // History recall: what runs is not what was typed.
        (&[b"\x1b[A\r"], at_once("", false)),
        (&[b"rm -rf /tm\t\r"], at_once("rm -rf /tm", false)),
        (&[b"caf\xc3", b"\xa9\r"], line("café", true)),
        (&[b"\r"], Submitted::Empty),
    ];
    for (chunks, want) in cases {
        let got = typed(chunks, true);
        assert_eq!(got.last(), Some(want), "{chunks:?}: {got:?}");
    }
}

#[test]
fn a_bracketed_paste_is_one_line_until_enter() {
    let got = typed(&[b"\x1b[200~ls\nrm -rf /\nid\x1b[201~", b"\r"], true);
    assert_eq!(got, [line("ls\nrm -rf /\nid", true)]);
    // Without bracketed paste each newline submits.
    let got = typed(&[b"ls\nrm -rf /\nid\n"], true);
    assert_eq!(
        got,
        [
            at_once("ls", true),
            at_once("rm -rf /", true),
            at_once("id", true)
        ]
    );
}

#[test]
fn an_unechoed_line_is_not_a_command() {
    let got = typed(&[b"s3cr3t-pa", b"ss", b"\r"], false);
    assert_eq!(
        got,
        [Submitted::Line {
            text: "s3cr3t-pass".into(),
            exact: true,
            echo: Echo::NotShown
        }]
    );
    // Typed and submitted at once: the output after it says.
    assert_eq!(typed(&[b"rm -rf /\r"], false), [at_once("rm -rf /", true)]);
    assert_eq!(echoed("rm -rf /", "rm -rf /\r\n"), Some(true));
    assert_eq!(echoed("rm -rf /", "\x1b[?2004lrm -rf /\r\n"), Some(true));
    assert_eq!(echoed("s3cr3t", "\r\ngot 6 chars\r\n$ "), Some(false));
    assert_eq!(echoed("s3cr3t", "s3c"), None);
}

#[test]
fn a_long_output_does_not_hide_the_next_lines_echo() {
    let mut t = LineTracker::new();
    t.output(&vec![b'x'; 100_000]);
    t.output(b"\r\n$ ");
    t.input(b"ls -l");
    t.output(b"ls -l");
    let got: Vec<_> = t.input(b"a\r").into_iter().map(|s| s.what).collect();
    assert_eq!(got, [line("ls -la", true)]);
}

#[test]
fn detection_pauses_on_the_alternate_screen() {
    let mut t = LineTracker::new();
    t.output(b"\x1b[?1049h");
    assert!(t.paused());
    assert!(t.input(b":wq\r").is_empty());
    t.output(b"\x1b[?1049l$ ");
    assert!(!t.paused());
    let got: Vec<_> = t.input(b"ls\r").into_iter().map(|s| s.what).collect();
    assert_eq!(got, [at_once("ls", true)]);
}

#[test]
fn the_offset_of_each_submit_key_is_given() {
    let mut t = LineTracker::new();
    let got = t.input(b"ls\rid\r");
    assert_eq!(got.iter().map(|s| s.at).collect::<Vec<_>>(), [2, 5]);
}

proptest::proptest! {
    #[test]
    fn never_panics(chunks in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64), 0..8)) {
        let mut t = LineTracker::new();
        for c in &chunks {
            let _ = t.input(c);
            t.output(c);
        }
    }
}

#[test]
fn prompts_are_told_from_other_output() {
    let table = [
        ("user@host:~$ ", true),
        (
            "\x1b]0;user@host: ~\x07\x1b[01;32muser@host\x1b[00m:~# ",
            true,
        ),
        ("motd\r\n$ ", true),
        ("\x1b[32mroot\x1b[0m\r\r\n# ", true),
        ("host% ", true),
        ("> ", true),
        ("Password: ", false),
        ("Choose an option [1-3]: ", false),
        ("$ ls\r\nfile\r\n", false),
        ("", false),
        ("echo $", true),
    ];
    for (output, want) in table {
        assert_eq!(ends_with_prompt(output), want, "{output:?}");
    }
}

#[test]
fn every_key_the_tracker_cannot_follow_counts_as_an_edit_and_restarts_the_tail() {
    for keys in [
        &b"ab\x1b[A"[..],
        b"ab\x1b[D",
        b"ab\x1bOA",
        b"ab\x1bb",
        b"ab\t",
        b"ab\x01",
    ] {
        let mut t = LineTracker::new();
        t.input(keys);
        assert_eq!(t.edits(), 1, "{keys:?}");
        assert_eq!(t.typed_tail(), "", "{keys:?}");
        t.input(b"cd");
        assert_eq!(t.typed_tail(), "cd", "{keys:?}");
    }
    let mut t = LineTracker::new();
    t.input(b"plain \x1b[200~pasted\x1b[201~");
    assert_eq!((t.edits(), t.typed_tail()), (0, "plain pasted"));
}

#[test]
fn an_escape_cut_by_another_escape_does_not_keep_the_alternate_screen() {
    // Found by the line_tracker fuzz target: output that ends with a lone ESC (or inside a
    // sequence) swallowed the next ESC, and with it the sequence that leaves the alternate
    // screen, so detection stayed paused.
    for cut in [&b"\x1b"[..], b"\x1b[?4", b"\x1b[\x18"] {
        let mut t = LineTracker::new();
        t.output(b"\x1b[?1049h");
        assert!(t.paused());
        t.output(cut);
        t.output(b"\x1b[?1049l");
        assert!(!t.paused(), "{cut:?}");
    }
    let mut t = LineTracker::new();
    let got = t.input(b"\x1b[1\x1b[Bls\r");
    assert!(matches!(&got[0].what, Submitted::Line { exact: false, .. }));
}
