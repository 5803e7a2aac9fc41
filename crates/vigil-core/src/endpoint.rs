//! The endpoint manager's access policies (issue 14, seed 003): which programs on Linux
//! workstations are audited and recorded, for whom. A rule names one program path (the
//! guideline "binary run"), whether that path is a symbolic link (then the program it points
//! to is the one wrapped, and every name of it is covered), whether runs are audited (an exec
//! event) and recorded (a terminal recording), and who it is for: one user, or the users whose
//! **primary** group is the one named (supplementary groups never count). A rule applies to
//! every workstation or to one.
//!
//! What it is not: a sandbox. The agent enforces these rules with a wrapper at the path; root
//! can bypass it, a copy of the program or a program the user built is not covered, and an
//! interpreter running a script is recorded as the interpreter (docs/ENDPOINT.md).

use serde::{Deserialize, Serialize};

use crate::PolicyError;

/// Who a rule is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "lowercase")]
pub enum PolicySubject {
    /// One workstation user, by name (the Vigil user with the identical name).
    User(String),
    /// Every user whose primary group has this name.
    Group(String),
}

impl PolicySubject {
    pub fn kind(&self) -> &'static str {
        match self {
            PolicySubject::User(_) => "user",
            PolicySubject::Group(_) => "group",
        }
    }

    pub fn name(&self) -> &str {
        match self {
            PolicySubject::User(n) | PolicySubject::Group(n) => n,
        }
    }
}

/// One access policy ("binary run").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentPolicy {
    pub name: String,
    /// A disabled rule is kept but applies nowhere.
    pub enabled: bool,
    /// The program's absolute path on the workstation (as `which` shows it).
    pub path: String,
    /// The path is a symbolic link: the program it resolves to is wrapped.
    pub symlink: bool,
    /// Runs are audited (an exec event with the command line, directory, terminal, exit).
    pub audit: bool,
    /// Runs are recorded (output and input, as a terminal recording).
    pub record: bool,
    pub subject: PolicySubject,
    /// One workstation (its host name), or every one.
    pub workstation: Option<String>,
}

/// Who runs a program, on which workstation, as the wrapper sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Runner<'a> {
    /// The real user's name.
    pub user: &'a str,
    /// The name of the user's primary group (the passwd entry's group, not the process's
    /// supplementary groups).
    pub primary_group: &'a str,
    pub host: &'a str,
}

/// What happens to one run of a wrapped program.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunDecision {
    pub audit: bool,
    pub record: bool,
    /// The rules that apply, by name, in the order given.
    pub policies: Vec<String>,
}

impl RunDecision {
    /// Nothing applies: the program runs as if there were no wrapper.
    pub fn untouched(&self) -> bool {
        !self.audit && !self.record
    }
}

/// Longest policy name, path or subject name accepted.
const MAX_TEXT: usize = 4096;

impl AgentPolicy {
    /// Checks every field; the error names the field and what is allowed.
    pub fn checked(self) -> Result<AgentPolicy, PolicyError> {
        let err = |what, why: &str| {
            Err(PolicyError {
                what,
                why: why.to_owned(),
            })
        };
        let name = self.name.trim();
        if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
            return err(
                "policy name",
                "give a name of 1 to 200 characters without control characters",
            );
        }
        if !self.path.starts_with('/')
            || self.path.len() > MAX_TEXT
            || self.path.ends_with('/')
            || self.path.contains('\0')
            || self.path.chars().any(char::is_control)
            || self.path.split('/').any(|part| part == "." || part == "..")
        {
            return err(
                "application path",
                "give the program's absolute path without . or .. parts (find it with `which PROGRAM`)",
            );
        }
        let subject = self.subject.name();
        if subject.is_empty()
            || subject.len() > 256
            || subject
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == ':' || c == '/')
        {
            return err(
                "user or group name",
                "give a user or group name as the workstation knows it (no spaces, colons or slashes)",
            );
        }
        if let Some(host) = &self.workstation
            && !is_host_name(host)
        {
            return err(
                "workstation",
                "give the workstation's host name (letters, digits, '-', '.', '_')",
            );
        }
        if !self.audit && !self.record {
            return err(
                "audit and recording",
                "a rule that neither audits nor records does nothing: enable audit, recording or both",
            );
        }
        Ok(AgentPolicy {
            name: name.to_owned(),
            ..self
        })
    }

    /// Whether the rule applies to `runner` (its path is the caller's to match).
    pub fn applies_to(&self, runner: &Runner<'_>) -> bool {
        self.enabled
            && self
                .workstation
                .as_deref()
                .is_none_or(|host| host.eq_ignore_ascii_case(runner.host))
            && match &self.subject {
                PolicySubject::User(name) => name == runner.user,
                PolicySubject::Group(name) => name == runner.primary_group,
            }
    }
}

/// Whether `s` can be a workstation's host name: 1 to 253 letters, digits, `-`, `.`, `_`.
pub fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

/// What the rules wrapping one program decide for one run: audited if any applying rule
/// audits, recorded if any records.
pub fn decide_run<'a>(
    rules: impl IntoIterator<Item = &'a AgentPolicy>,
    runner: &Runner<'_>,
) -> RunDecision {
    let mut decision = RunDecision::default();
    for rule in rules.into_iter().filter(|r| r.applies_to(runner)) {
        decision.audit |= rule.audit;
        decision.record |= rule.record;
        decision.policies.push(rule.name.clone());
    }
    decision
}

/// What a workstation's agent reports of a run once its program ended (the body of
/// `POST /api/v1/agent/runs`; the agent writes it, the server reads it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunReport {
    /// The UUID the agent made for the run.
    pub id: String,
    /// The workstation user (the real user's name).
    pub user: String,
    pub uid: u32,
    /// The name of the user's primary group.
    pub primary_group: String,
    /// The wrapped path that ran (the policy's path).
    pub program: String,
    /// What it resolved to (the diverted original), when not the same.
    #[serde(default)]
    pub real_path: Option<String>,
    pub argv: Vec<String>,
    pub cwd: String,
    #[serde(default)]
    pub tty: Option<String>,
    /// Unix milliseconds, the workstation's clock.
    pub started_at: i64,
    pub ended_at: i64,
    #[serde(default)]
    pub exit_status: Option<i32>,
    #[serde(default)]
    pub signal: Option<String>,
    pub record: bool,
    /// The access policies that applied, by name.
    pub policies: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, subject: PolicySubject, host: Option<&str>) -> AgentPolicy {
        AgentPolicy {
            name: name.into(),
            enabled: true,
            path: "/usr/bin/ping".into(),
            symlink: false,
            audit: true,
            record: true,
            subject,
            workstation: host.map(Into::into),
        }
    }

    const ALICE: Runner<'static> = Runner {
        user: "alice",
        primary_group: "staff",
        host: "ws01",
    };

    #[test]
    fn a_rule_applies_by_user_or_primary_group_and_workstation() {
        use PolicySubject::{Group, User};
        let cases: &[(AgentPolicy, bool)] = &[
            (rule("u", User("alice".into()), None), true),
            (rule("u2", User("bob".into()), None), false),
            (rule("g", Group("staff".into()), None), true),
            // Only the primary group counts: the runner's supplementary groups are not
            // even known to the decision.
            (rule("g2", Group("wheel".into()), None), false),
            (rule("h", User("alice".into()), Some("WS01")), true),
            (rule("h2", User("alice".into()), Some("ws02")), false),
            (
                AgentPolicy {
                    enabled: false,
                    ..rule("off", User("alice".into()), None)
                },
                false,
            ),
        ];
        for (r, want) in cases {
            assert_eq!(r.applies_to(&ALICE), *want, "{}", r.name);
        }
    }

    #[test]
    fn a_run_is_audited_or_recorded_if_any_applying_rule_says_so() {
        use PolicySubject::{Group, User};
        let audit_only = AgentPolicy {
            record: false,
            ..rule("audit", Group("staff".into()), None)
        };
        let record_bob = rule("bob", User("bob".into()), None);
        let d = decide_run([&audit_only, &record_bob], &ALICE);
        assert_eq!(
            d,
            RunDecision {
                audit: true,
                record: false,
                policies: vec!["audit".into()]
            }
        );
        let record_alice = AgentPolicy {
            audit: false,
            ..rule("rec", User("alice".into()), None)
        };
        let d = decide_run([&audit_only, &record_alice], &ALICE);
        assert!(d.audit && d.record);
        assert_eq!(d.policies, ["audit", "rec"]);
        assert!(decide_run([&record_bob], &ALICE).untouched());
        assert!(decide_run([], &ALICE).untouched());
    }

    #[test]
    fn a_rule_is_checked_field_by_field() {
        let ok = rule(" ping ", PolicySubject::User("alice".into()), Some("ws01"));
        assert_eq!(ok.clone().checked().unwrap().name, "ping");
        let bad: &[(&str, AgentPolicy)] = &[
            (
                "application path",
                AgentPolicy {
                    path: "ping".into(),
                    ..ok.clone()
                },
            ),
            (
                "application path",
                AgentPolicy {
                    path: "/usr/bin/../bin/ping".into(),
                    ..ok.clone()
                },
            ),
            (
                "application path",
                AgentPolicy {
                    path: "/usr/bin/".into(),
                    ..ok.clone()
                },
            ),
            (
                "policy name",
                AgentPolicy {
                    name: "  ".into(),
                    ..ok.clone()
                },
            ),
            (
                "user or group name",
                AgentPolicy {
                    subject: PolicySubject::Group("two words".into()),
                    ..ok.clone()
                },
            ),
            (
                "workstation",
                AgentPolicy {
                    workstation: Some("ws 01".into()),
                    ..ok.clone()
                },
            ),
            (
                "audit and recording",
                AgentPolicy {
                    audit: false,
                    record: false,
                    ..ok.clone()
                },
            ),
        ];
        for (what, p) in bad {
            assert_eq!(p.clone().checked().unwrap_err().what, *what, "{p:?}");
        }
    }

    #[test]
    fn the_subject_is_stored_as_kind_and_name() {
        let json = serde_json::to_string(&PolicySubject::Group("staff".into())).unwrap();
        assert_eq!(json, r#"{"kind":"group","name":"staff"}"#);
    }
}
