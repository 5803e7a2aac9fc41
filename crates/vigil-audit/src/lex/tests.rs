use super::*;

fn words(line: &str) -> Vec<Vec<String>> {
    lex(line).commands.into_iter().map(|c| c.words).collect()
}

#[test]
fn lexes_like_a_shell() {
    let cases: &[(&str, &[&[&str]])] = &[
        ("ls -la /tmp", &[&["ls", "-la", "/tmp"]]),
        ("  ls\t-l  ", &[&["ls", "-l"]]),
        (r"\rm -rf /", &[&["rm", "-rf", "/"]]),
        ("r''m -rf /", &[&["rm", "-rf", "/"]]),
        (r#""rm" '-rf' /"#, &[&["rm", "-rf", "/"]]),
        (r#"r"m" x"#, &[&["rm", "x"]]),
        ("$'\\x72m' -rf /", &[&["rm", "-rf", "/"]]),
        ("$'\\162m' x", &[&["rm", "x"]]),
        ("ls; rm x", &[&["ls"], &["rm", "x"]]),
        ("ls;rm x", &[&["ls"], &["rm", "x"]]),
        ("a && b || c", &[&["a"], &["b"], &["c"]]),
        ("a | b |& c", &[&["a"], &["b"], &["c"]]),
        ("a & b", &[&["a"], &["b"]]),
        ("a\nb\nc", &[&["a"], &["b"], &["c"]]),
        ("(cd /; rm x)", &[&["cd", "/"], &["rm", "x"]]),
        ("echo $(rm x)", &[&["rm", "x"], &["echo", "$(..)"]]),
        ("echo `rm x`", &[&["rm", "x"], &["echo", ""]]),
        ("echo \"$(id)\"", &[&["id"], &["echo", "$(..)"]]),
        ("echo $( (a); b )", &[&["a"], &["b"], &["echo", "$(..)"]]),
        (
            "diff <(ls a) <(ls b)",
            &[&["ls", "a"], &["ls", "b"], &["diff", "", ""]],
        ),
        ("echo hi > /tmp/x 2>&1", &[&["echo", "hi"]]),
        ("cat </etc/passwd >>out", &[&["cat"]]),
        ("ls &>/dev/null", &[&["ls"]]),
        ("FOO=1 BAR=2 make", &[&["make"]]),
        ("if rm x; then ls; fi", &[&["rm", "x"], &["ls"]]),
        ("while true; do rm x; done", &[&["true"], &["rm", "x"]]),
        ("ls # rm -rf /", &[&["ls"]]),
        ("echo a#b", &[&["echo", "a#b"]]),
        ("echo $((1+2))", &[&["echo", "$((1+2))"]]),
        ("rm \\\n -rf /", &[&["rm", "-rf", "/"]]),
        ("f() { rm x; }", &[&["f()"], &["rm", "x"]]),
        ("function f { rm x; }", &[&["function", "f"], &["rm", "x"]]),
        ("", &[]),
        (";;", &[]),
    ];
    for (line, want) in cases {
        let want: Vec<Vec<String>> = want
            .iter()
            .map(|c| c.iter().map(|w| w.to_string()).collect())
            .collect();
        assert_eq!(words(line), want, "{line:?}");
    }
}

#[test]
fn marks_what_the_shell_decides_only_at_run_time() {
    let line = lex("$cmd -rf /");
    assert!(line.commands[0].dynamic_name);
    let line = lex("FOO=$(id) ls $HOME");
    assert_eq!(line.commands.last().unwrap().assignments, ["FOO=$(..)"]);
    assert!(!line.commands.last().unwrap().dynamic_name);
    assert_eq!(line.commands.last().unwrap().expanded, [1]);
    let line = lex("`echo rm` x");
    assert!(line.commands.last().unwrap().dynamic_name);
}

#[test]
fn pipes_are_marked() {
    let line = lex("curl x | sh; ls || id");
    let piped: Vec<bool> = line.commands.iter().map(|c| c.piped).collect();
    assert_eq!(piped, [false, true, false, false]);
}

#[test]
fn an_open_quote_is_incomplete_not_an_error() {
    for line in ["echo 'abc", "echo \"abc", "echo $(ls", "echo `ls", "ls \\"] {
        assert!(lex(line).incomplete, "{line:?}");
    }
    assert!(!lex("echo 'a' \"b\" $(c) `d`").incomplete);
}

proptest::proptest! {
    #[test]
    fn never_panics(line in "\\PC{0,80}") {
        let _ = lex(&line);
    }

    #[test]
    fn plain_words_come_back_unchanged(words in proptest::collection::vec("[a-z0-9/._-]{1,8}", 1..6)) {
        let line = words.join(" ");
        let got = lex(&line);
        proptest::prop_assert_eq!(got.commands.len(), 1);
        proptest::prop_assert_eq!(&got.commands[0].words, &words);
    }
}
