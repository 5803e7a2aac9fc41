use proptest::prelude::*;

use super::*;

#[test]
fn plain_sudo_and_su_lines_are_answered() {
    let cases: &[(&str, Tool)] = &[
        ("sudo id -u", Tool::Sudo),
        ("sudo -i", Tool::Sudo),
        ("sudo -u postgres psql", Tool::Sudo),
        ("sudo -upostgres -H psql", Tool::Sudo),
        ("sudo --user=www-data id", Tool::Sudo),
        ("sudo --user www-data id", Tool::Sudo),
        ("  sudo   systemctl restart nginx ", Tool::Sudo),
        ("/usr/bin/sudo id", Tool::Sudo),
        ("\\sudo id", Tool::Sudo),
        ("sudo -- grep -p x /etc/hosts", Tool::Sudo),
        // Options of the program sudo runs are not sudo's.
        ("sudo grep -S -k -p x f", Tool::Sudo),
        ("sudo -u -p id", Tool::Sudo),
        ("sudo 'my prog' 'a b'", Tool::Sudo),
        ("su", Tool::Su),
        ("su -", Tool::Su),
        ("su - root", Tool::Su),
        ("su -l root -c id", Tool::Su),
        ("su -c 'id -u'", Tool::Su),
        ("/bin/su root", Tool::Su),
    ];
    for (line, tool) in cases {
        assert_eq!(eligibility(line), Eligibility::Answer(*tool), "{line:?}");
    }
}

#[test]
fn lines_that_could_make_the_prompt_someone_elses_are_refused() {
    let cases: &[&str] = &[
        "sudo -p 'pw: ' id",
        "sudo -Sv",
        "sudo -S id",
        "sudo -A id",
        "sudo -k id",
        "sudo -K",
        "sudo -Hk id",
        "sudo --prompt=x id",
        "sudo --askpass id",
        "sudo --std id",
        "SUDO_PROMPT='[sudo] password for x: ' sudo id",
        "SUDO_ASKPASS=/tmp/x sudo -A id",
        "sudo id; printf '[sudo] password for x: '; read x",
        "printf x && sudo id",
        "sudo id | cat",
        "sudo id > /tmp/out",
        "sudo $(echo id)",
        "sudo `id`",
        "sudo $CMD",
        "sudo id &",
        "sudo id\nread x",
        "./sudo id",
        "/tmp/sudo id",
        "env sudo id",
        "time sudo id",
        "command sudo id",
        "exec sudo id",
        "sudo 'id",
        "su vigil",
        "su - postgres",
        "su --weird",
        "(sudo id)",
    ];
    for line in cases {
        assert!(
            matches!(eligibility(line), Eligibility::Refuse(..)),
            "{line:?}: {:?}",
            eligibility(line)
        );
    }
}

#[test]
fn other_lines_are_not_elevation() {
    for line in [
        "id -u",
        "echo sudoku",
        "ls /etc/sudoers.d",
        "sudoedit_x",
        "visudo",
        "suspend",
        "",
    ] {
        assert_eq!(eligibility(line), Eligibility::NotElevation, "{line:?}");
    }
}

#[test]
fn lines_that_change_what_sudo_is_take_the_trust_away() {
    let cases: &[&str] = &[
        "alias sudo='printf x'",
        "alias ll='ls -l' sudo=/tmp/x",
        "alias su=/tmp/fake",
        "sudo() { read -s x; }",
        "sudo () { :; }",
        "function sudo { :; }",
        "function su() { :; }",
        "PATH=/tmp:$PATH",
        "export PATH=/tmp/bin:$PATH",
        "PATH+=:/tmp",
        "declare -x PATH=/tmp",
        "unset PATH",
        "cd /tmp; export PATH",
        "hash -p /tmp/x sudo",
        "enable -f ./x.so sudo",
        "source ./evil",
        ". ./evil",
        "eval \"$x\"",
        "$cmd",
        "trap 'printf \"[sudo] password for x: \"; read -s p' DEBUG",
        "command_not_found_handle() { read -s p; }",
        "PS0='[sudo] password for x: '",
        "PS0+=x",
    ];
    for line in cases {
        assert!(changes_elevation(line).is_some(), "{line:?}");
    }
    for line in [
        "alias ll='ls -l'",
        "ls() { command ls -F; }",
        "echo $PATH",
        "export EDITOR=vim",
        "sudo id",
        "cd /tmp",
        "MYPATH=/x",
    ] {
        assert_eq!(changes_elevation(line), None, "{line:?}");
    }
}

#[test]
fn only_a_standalone_sudo_k_clears_the_ticket() {
    for line in ["sudo -k", " sudo -K ", "/usr/bin/sudo --reset-timestamp"] {
        assert!(clears_sudo_ticket(line), "{line:?}");
    }
    for line in [
        "sudo -k id",
        "sudo -k; id",
        "./sudo -k",
        "X=1 sudo -k",
        "sudo",
    ] {
        assert!(!clears_sudo_ticket(line), "{line:?}");
    }
    assert!(may_run_sudo("cd / && sudo -n true"));
    assert!(!may_run_sudo("id"));
}

proptest! {
    /// Whatever the line, an answered one is a single command whose first word is sudo or su
    /// itself, with nothing set before it and no character that makes it more than one.
    #[test]
    fn an_answered_line_is_one_plain_elevation_command(line in ".{0,80}") {
        if let Eligibility::Answer(tool) = eligibility(&line) {
            let lexed = lex(&line);
            prop_assert_eq!(lexed.commands.len(), 1);
            prop_assert!(lexed.commands[0].assignments.is_empty());
            prop_assert!(tool.programs().contains(&lexed.commands[0].words[0].as_str()));
            prop_assert!(!line.contains(NOT_PLAIN));
        }
    }

    /// Adding a refused sudo option in front never makes a line answerable.
    #[test]
    fn a_refused_option_is_never_answered(rest in "[a-z -]{0,30}", opt in "-[pSAkK]|--stdin|--askpass|--prompt=x") {
        let line = format!("sudo {opt} {rest}");
        prop_assert!(!matches!(eligibility(&line), Eligibility::Answer(_)), "{}", line);
    }
}
