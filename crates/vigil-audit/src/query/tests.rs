use proptest::prelude::*;

use super::*;

const N: &str = "abc123";

/// What bash 5.2 printed, captured from a real PTY, for the setup, a query after cursor
/// edits, and a query after a bracketed paste of two lines.
const SETUP_OUTPUT: &[u8] = b" case ${BASH_VERSION-} in ?*) bind ...\r\n\x1b[?2004l\r\x1b]7767;H;abc123;bash\x07\x1b]7767;P;abc123\x07\x1b[?2004hroot@vm:/tmp/q# ";
const QUERY_OUTPUT: &[u8] =
    b"\r\x1b[K\r\x1b]7767;L;abc123;'echo hi thexxre'\x07root@vm:/tmp/q# echo hi thexxre\x08\x08";
const PASTE_OUTPUT: &[u8] = b"\r\x1b[K\r\x1b[A\x1b[K\r\x1b]7767;L;abc123;$'echo a\\necho b'\x07root@vm:/tmp/q# \x1b]7767;P;abc123\x07";

fn feed_all(r: &mut Replies, chunks: &[&[u8]]) -> Scanned {
    let mut all = Scanned::default();
    for c in chunks {
        let s = r.feed(c);
        all.show.extend(s.show);
        all.replies.extend(s.replies);
    }
    all
}

#[test]
fn the_setup_is_hidden_and_answers_hello() {
    let mut r = Replies::new(N);
    r.expect_setup();
    let s = r.feed(SETUP_OUTPUT);
    assert_eq!(
        s.replies,
        vec![
            Reply::Hello {
                shell: "bash".into()
            },
            Reply::Prompt
        ]
    );
    assert_eq!(s.show, b"\r\x1b[K\x1b[?2004hroot@vm:/tmp/q# ".to_vec());
    assert!(!r.setting_up());
}

#[test]
fn dash_answers_hello_without_bash() {
    let mut r = Replies::new(N);
    r.expect_setup();
    let s = r.feed(b" case ${BASH_VERSION-} in\r\n\x1b]7767;H;abc123;\x07$ ");
    assert_eq!(
        s.replies,
        vec![Reply::Hello {
            shell: String::new()
        }]
    );
    assert_eq!(s.show, b"\r\x1b[K$ ".to_vec());
}

#[test]
fn queries_are_decoded_and_removed_from_the_screen() {
    let table: &[(&[u8], &str, &[u8])] = &[
        (
            QUERY_OUTPUT,
            "echo hi thexxre",
            b"\r\x1b[K\rroot@vm:/tmp/q# echo hi thexxre\x08\x08",
        ),
        (
            PASTE_OUTPUT,
            "echo a\necho b",
            b"\r\x1b[K\r\x1b[A\x1b[K\rroot@vm:/tmp/q# ",
        ),
    ];
    for (output, line, shown) in table {
        let mut r = Replies::new(N);
        let s = r.feed(output);
        assert_eq!(s.replies[0], Reply::Line(Some(line.to_string())));
        assert_eq!(&s.show, shown, "{}", String::from_utf8_lossy(&s.show));
    }
}

#[test]
fn another_nonce_or_an_unknown_message_is_shown_as_it_came() {
    for text in [
        &b"\x1b]7767;L;other;'rm x'\x07"[..],
        b"\x1b]7767;Z;abc123;x\x07",
        b"\x1b]7767;P;abc123;extra\x07",
        b"\x1b]0;title\x07",
        b"plain \x1b[1mbold\x1b[0m",
    ] {
        let mut r = Replies::new(N);
        let s = r.feed(text);
        assert!(s.replies.is_empty());
        assert_eq!(s.show, text.to_vec());
    }
}

#[test]
fn the_bash_quoting_forms_decode() {
    let table = [
        ("''", Some("")),
        ("'rm -rf /'", Some("rm -rf /")),
        ("'it'\\''s'", Some("it's")),
        ("$'a\\nb'", Some("a\nb")),
        ("$'\\E[A'", Some("\u{1b}[A")),
        ("'é ü'", Some("é ü")),
        (
            "$'echo \\'a\"b\\' $\\'\\\\t\\'!x'",
            Some("echo 'a\"b' $'\\t'!x"),
        ),
        ("'a' 'b'", None),
        ("'open", None),
    ];
    for (quoted, want) in table {
        assert_eq!(decode(quoted).as_deref(), want, "{quoted}");
    }
}

#[test]
fn a_setup_without_answer_is_given_back() {
    let mut r = Replies::new(N);
    r.expect_setup();
    let s = r.feed(b"fish: Unknown command\r\n> ");
    assert!(s.show.is_empty());
    assert_eq!(r.give_up_setup(), b"fish: Unknown command\r\n> ".to_vec());
    assert_eq!(r.feed(b"x").show, b"x".to_vec());
}

#[test]
fn a_long_reply_is_not_waited_for_forever() {
    let mut r = Replies::new(N);
    let mut big = b"\x1b]7767;L;abc123;'".to_vec();
    big.extend(std::iter::repeat_n(b'a', MAX_REPLY + 10));
    let s = r.feed(&big);
    assert!(s.replies.is_empty());
    assert_eq!(s.show.len(), big.len());
}

#[test]
fn the_setup_line_carries_the_nonce_and_one_enter() {
    let line = setup_line("n0nce");
    assert!(line.starts_with(' '));
    assert!(line.ends_with('\r'));
    assert_eq!(line.matches('\r').count(), 1);
    assert_eq!(line.matches("n0nce").count(), 9);
}

proptest! {
    /// Any chunking of the output gives the same replies and the same bytes on screen.
    #[test]
    fn chunking_does_not_matter(cuts in proptest::collection::vec(0usize..400, 0..12)) {
        let mut whole = Vec::new();
        whole.extend_from_slice(SETUP_OUTPUT);
        whole.extend_from_slice(b"typed");
        whole.extend_from_slice(QUERY_OUTPUT);
        whole.extend_from_slice(PASTE_OUTPUT);
        whole.extend_from_slice(b"\x1b]0;t\x07\x1b");
        let mut one = Replies::new(N);
        one.expect_setup();
        let want = feed_all(&mut one, &[&whole]);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % whole.len()).collect();
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut from = 0;
        for c in cuts {
            chunks.push(&whole[from..c]);
            from = c;
        }
        chunks.push(&whole[from..]);
        let mut many = Replies::new(N);
        many.expect_setup();
        let got = feed_all(&mut many, &chunks);
        // A trailing ESC may still wait for the next chunk.
        let mut got_show = got.show;
        got_show.extend(many.partial.clone());
        let mut want_show = want.show;
        want_show.extend(one.partial.clone());
        prop_assert_eq!(got.replies, want.replies);
        prop_assert_eq!(got_show, want_show);
    }
}

#[test]
fn running_says_where_the_lines_own_output_starts() {
    let mut r = Replies::new(N);
    let s = r.feed(b"redraw\r\n\x1b]7767;E;abc123\x07[sudo] password for x: ");
    assert_eq!(s.replies, vec![Reply::Running]);
    assert_eq!(s.running_at, Some(8));
    assert_eq!(&s.show[8..], b"[sudo] password for x: ");
    // Another nonce's is shown, and says nothing.
    let s = r.feed(b"\x1b]7767;E;other\x07");
    assert_eq!((s.replies.len(), s.running_at), (0, None));
}
