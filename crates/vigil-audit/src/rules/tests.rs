use super::*;

fn rule(name: &str, pattern: Pattern, score: u32, action: Action) -> Rule {
    Rule {
        name: name.into(),
        pattern,
        score,
        action,
        enabled: true,
        scope: Scope::default(),
    }
}

fn here() -> Where {
    Where {
        target: "web01".into(),
        login: "root".into(),
        user: "alice".into(),
    }
}

fn set() -> RuleSet {
    RuleSet::compile(vec![
        rule(
            "rm-root",
            Pattern::Regex(r"^rm\s+(-\w*[rR]\w*\s+)*-?\w*f?\w*\s*/\s*$".into()),
            50,
            Action::Prohibit,
        ),
        rule(
            "shutdown",
            Pattern::Command("shutdown".into()),
            30,
            Action::Interrupt,
        ),
        rule(
            "stop-nginx",
            Pattern::Command("systemctl stop nginx".into()),
            10,
            Action::Alert,
        ),
        rule(
            "passwd-file",
            Pattern::Regex(r"/etc/shadow".into()),
            5,
            Action::Alert,
        ),
        rule(
            "obfuscated",
            Pattern::Class(Class::PipeToShell),
            20,
            Action::Prohibit,
        ),
        rule(
            "useradd",
            Pattern::Command("useradd".into()),
            40,
            Action::Deactivate,
        ),
    ])
    .unwrap()
}

#[test]
fn decides_every_command_of_a_line() {
    let rules = set();
    let cases: &[(&str, Option<Action>, Option<&str>, u32)] = &[
        ("ls -la", None, None, 0),
        ("rm -rf /", Some(Action::Prohibit), Some("rm-root"), 50),
        ("ls; rm -rf /", Some(Action::Prohibit), Some("rm-root"), 50),
        (
            "ls && \\rm -rf /",
            Some(Action::Prohibit),
            Some("rm-root"),
            50,
        ),
        (
            "sudo /bin/rm -rf /",
            Some(Action::Prohibit),
            Some("rm-root"),
            50,
        ),
        (
            "bash -c 'r\"m\" -rf /'",
            Some(Action::Prohibit),
            Some("rm-root"),
            50,
        ),
        ("rm -rf /tmp/x", None, None, 0),
        ("rmdir x", None, None, 0),
        (
            "shutdown -h now",
            Some(Action::Interrupt),
            Some("shutdown"),
            30,
        ),
        (
            "systemctl stop nginx",
            Some(Action::Alert),
            Some("stop-nginx"),
            10,
        ),
        ("systemctl status nginx", None, None, 0),
        (
            "cat /etc/shadow | grep root",
            Some(Action::Alert),
            Some("passwd-file"),
            5,
        ),
        (
            "echo x | base64 -d | sh",
            Some(Action::Prohibit),
            Some("obfuscated"),
            20,
        ),
        // The most severe action wins; scores add up.
        (
            "cat /etc/shadow; shutdown now; useradd eve",
            Some(Action::Deactivate),
            Some("useradd"),
            75,
        ),
    ];
    for (line, action, rule, score) in cases {
        let d = rules.decide(line, &here());
        assert_eq!(
            (d.action, d.rule.as_deref(), d.score),
            (*action, *rule, *score),
            "{line:?}: {d:?}"
        );
    }
}

#[test]
fn scope_limits_where_a_rule_applies() {
    let mut r = rule("only-db", Pattern::Command("psql".into()), 1, Action::Alert);
    r.scope.targets = vec!["db01".into()];
    let mut s = rule(
        "only-bob",
        Pattern::Command("psql".into()),
        2,
        Action::Alert,
    );
    s.scope.users = vec!["bob".into()];
    let everywhere = rule("all", Pattern::Command("psql".into()), 4, Action::Alert);
    let rules = RuleSet::compile(vec![r, s, everywhere]).unwrap();
    assert_eq!(rules.decide("psql", &here()).score, 4);
    let db = Where {
        target: "db01".into(),
        ..here()
    };
    assert_eq!(rules.decide("psql", &db).score, 5);
}

#[test]
fn disabled_rules_do_not_match() {
    let mut r = rule("off", Pattern::Command("ls".into()), 1, Action::Prohibit);
    r.enabled = false;
    let rules = RuleSet::compile(vec![r]).unwrap();
    assert!(rules.is_empty());
    assert_eq!(rules.decide("ls", &here()).action, None);
}

#[test]
fn a_broken_regex_is_refused_with_where_and_why() {
    let err = RuleSet::compile(vec![rule(
        "bad",
        Pattern::Regex("rm (-rf".into()),
        1,
        Action::Alert,
    )])
    .unwrap_err();
    assert_eq!(err.rule, "bad");
    assert!(err.reason.contains("unclosed group"), "{}", err.reason);
    assert!(
        err.reason.contains('^'),
        "the position is shown: {}",
        err.reason
    );
}

#[test]
fn names_round_trip() {
    for a in Action::ALL {
        assert_eq!(Action::parse(a.as_str()), Some(a));
    }
    for p in [
        Pattern::Regex("x".into()),
        Pattern::Command("y".into()),
        Pattern::Class(Class::Eval),
    ] {
        assert_eq!(Pattern::from_parts(p.kind(), p.value()).unwrap(), p);
    }
    assert!(Pattern::from_parts("class", "nope").is_err());
}

#[test]
fn ten_thousand_rules_compile_into_one_set() {
    let rules: Vec<Rule> = (0..10_000)
        .map(|i| {
            let pattern = if i % 2 == 0 {
                Pattern::Regex(format!(r"^tool{i}\s+--danger"))
            } else {
                Pattern::Command(format!("tool{i} stop"))
            };
            rule(&format!("r{i}"), pattern, 1, Action::Alert)
        })
        .collect();
    let set = RuleSet::compile(rules).unwrap();
    assert_eq!(set.len(), 10_000);
    assert_eq!(
        set.decide("tool4242 --danger now", &here()).rule.as_deref(),
        Some("r4242")
    );
    assert_eq!(
        set.decide("tool4243 stop", &here()).rule.as_deref(),
        Some("r4243")
    );
    assert_eq!(set.decide("ls -la", &here()).action, None);
}
