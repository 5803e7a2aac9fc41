//! Audited-command rules and the decision on a command line.
//!
//! A [`RuleSet`] is compiled once (every regular expression into one `RegexSet`, command
//! prefixes into a map by program name, classes into a list), so deciding a line costs one
//! pass over each of its commands' forms, not a loop over the rules. Scope (targets, logins,
//! users) is checked only for rules that matched.

use std::collections::HashMap;

use regex::RegexSet;

use crate::command::{Class, Command, commands};

/// What happens when a rule matches, from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The command runs; it is scored, logged, marked and announced.
    Alert,
    /// The command does not run; the operator is told which rule stopped it.
    Prohibit,
    /// The command does not run and the session ends.
    Interrupt,
    /// As interrupt, and the user's account is disabled.
    Deactivate,
}

impl Action {
    pub const ALL: [Action; 4] = [
        Action::Alert,
        Action::Prohibit,
        Action::Interrupt,
        Action::Deactivate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Alert => "alert",
            Action::Prohibit => "prohibit",
            Action::Interrupt => "interrupt",
            Action::Deactivate => "deactivate",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Whether the command is kept from running.
    pub fn stops(self) -> bool {
        self != Action::Alert
    }
}

/// How a rule recognises a command.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
pub enum Pattern {
    /// A regular expression searched in each form of the command (`rm\s+-rf`; anchor with
    /// `^` to match from the program name).
    Regex(String),
    /// A command name or a prefix of whole words: `rm` matches `rm -rf /` but not `rmdir`;
    /// `systemctl stop` matches `systemctl stop nginx`.
    Command(String),
    /// An obfuscation class (see [`Class`]).
    Class(Class),
}

impl Pattern {
    /// The kinds [`Pattern::from_parts`] takes.
    pub const KINDS: [&'static str; 3] = ["regex", "command", "class"];

    pub fn kind(&self) -> &'static str {
        match self {
            Pattern::Regex(_) => "regex",
            Pattern::Command(_) => "command",
            Pattern::Class(_) => "class",
        }
    }

    pub fn value(&self) -> &str {
        match self {
            Pattern::Regex(s) | Pattern::Command(s) => s,
            Pattern::Class(c) => c.as_str(),
        }
    }

    /// From the two columns the store keeps.
    pub fn from_parts(kind: &str, value: &str) -> Result<Pattern, RuleError> {
        match kind {
            "regex" => Ok(Pattern::Regex(value.to_owned())),
            "command" => Ok(Pattern::Command(value.to_owned())),
            "class" => Class::parse(value)
                .map(Pattern::Class)
                .ok_or_else(|| RuleError {
                    rule: String::new(),
                    reason: format!(
                        "unknown class {value:?}: use one of {}",
                        Class::ALL.map(Class::as_str).join(", ")
                    ),
                }),
            other => Err(RuleError {
                rule: String::new(),
                reason: format!(
                    "unknown pattern kind {other:?}: use one of {}",
                    Pattern::KINDS.join(", ")
                ),
            }),
        }
    }
}

/// Where a rule applies; an empty list is everywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Scope {
    pub targets: Vec<String>,
    pub logins: Vec<String>,
    pub users: Vec<String>,
}

impl Scope {
    fn covers(&self, at: &Where) -> bool {
        let ok = |list: &[String], value: &str| list.is_empty() || list.iter().any(|v| v == value);
        ok(&self.targets, &at.target) && ok(&self.logins, &at.login) && ok(&self.users, &at.user)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rule {
    pub name: String,
    pub pattern: Pattern,
    pub score: u32,
    pub action: Action,
    pub enabled: bool,
    pub scope: Scope,
}

/// A rule that cannot be used, and why (for a regex: where in it, and what is wrong).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule {rule:?}: {reason}")]
pub struct RuleError {
    pub rule: String,
    pub reason: String,
}

/// Checks one pattern; the error says where a regular expression is wrong.
pub fn check(pattern: &Pattern) -> Result<(), String> {
    match pattern {
        Pattern::Regex(re) => regex::Regex::new(re).map(|_| ()).map_err(|e| match e {
            // The syntax error already draws the expression with a caret under the
            // position; keep it, on one line per part.
            regex::Error::Syntax(text) => text.trim().to_owned(),
            other => other.to_string(),
        }),
        Pattern::Command(c) if c.trim().is_empty() => Err("the command is empty".into()),
        Pattern::Command(_) | Pattern::Class(_) => Ok(()),
    }
}

/// Who runs the session: the scope rules are checked against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Where {
    pub target: String,
    pub login: String,
    pub user: String,
}

/// The enabled rules, compiled.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    regexes: Option<RegexSet>,
    /// Index into `rules` of each regex of `regexes`, in order.
    regex_rules: Vec<usize>,
    /// Program name -> (rule, the prefix's words).
    by_program: HashMap<String, Vec<(usize, Vec<String>)>>,
    by_class: Vec<(usize, Class)>,
}

/// One matched rule, as the evidence shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Hit {
    pub rule: String,
    pub score: u32,
    pub action: Action,
}

/// What the rules say of one command of the line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Judged {
    pub command: String,
    pub classes: Vec<Class>,
    pub hits: Vec<Hit>,
}

/// What the rules say of a line.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Decision {
    pub commands: Vec<Judged>,
    /// The sum of the scores of every rule hit.
    pub score: u32,
    /// The most severe action of the hits (none: nothing matched).
    pub action: Option<Action>,
    /// The rule whose action that is (the first one, in line order).
    pub rule: Option<String>,
}

impl RuleSet {
    /// Compiles the enabled rules; a rule that does not compile is refused with why.
    pub fn compile(rules: Vec<Rule>) -> Result<RuleSet, RuleError> {
        let rules: Vec<Rule> = rules.into_iter().filter(|r| r.enabled).collect();
        let mut set = RuleSet::default();
        let mut regexes = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            check(&rule.pattern).map_err(|reason| RuleError {
                rule: rule.name.clone(),
                reason,
            })?;
            match &rule.pattern {
                Pattern::Regex(re) => {
                    regexes.push(re.clone());
                    set.regex_rules.push(i);
                }
                Pattern::Command(prefix) => {
                    let words: Vec<String> = prefix.split_whitespace().map(str::to_owned).collect();
                    if let Some(first) = words.first() {
                        set.by_program
                            .entry(first.clone())
                            .or_default()
                            .push((i, words));
                    }
                }
                Pattern::Class(c) => set.by_class.push((i, *c)),
            }
        }
        if !regexes.is_empty() {
            // The lazy DFA of thousands of patterns needs room for its states: with the
            // default cache (2 MiB) it kept giving up and falling back to a slower engine.
            // Measured with the `decide` example, 10,000 rules: p99 1.2 ms -> 25-32 us per
            // line; 8 MiB did as well as 256 MiB.
            let built = regex::RegexSetBuilder::new(&regexes)
                .dfa_size_limit(8 << 20)
                .build();
            set.regexes = Some(built.map_err(|e| RuleError {
                rule: String::new(),
                reason: format!("the rules together are too large to compile: {e}"),
            })?);
        }
        set.rules = rules;
        Ok(set)
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether some rule that keeps a command from running applies at `at` (then a line the
    /// gateway cannot read exactly must not run unread).
    pub fn can_stop(&self, at: &Where) -> bool {
        self.rules
            .iter()
            .any(|r| r.action.stops() && r.scope.covers(at))
    }

    /// Decides `line` for a session at `at`.
    pub fn decide(&self, line: &str, at: &Where) -> Decision {
        let mut decision = Decision::default();
        for command in commands(line) {
            let judged = self.judge(&command, at);
            for hit in &judged.hits {
                decision.score = decision.score.saturating_add(hit.score);
                if decision.action.is_none_or(|a| hit.action > a) {
                    decision.action = Some(hit.action);
                    decision.rule = Some(hit.rule.clone());
                }
            }
            decision.commands.push(judged);
        }
        decision
    }

    fn judge(&self, command: &Command, at: &Where) -> Judged {
        let mut matched: Vec<usize> = Vec::new();
        if let Some(set) = &self.regexes {
            for view in &command.views {
                matched.extend(set.matches(view).iter().map(|i| self.regex_rules[i]));
            }
        }
        for view in &command.views {
            let words: Vec<&str> = view.split(' ').collect();
            let Some(first) = words.first() else { continue };
            for (rule, prefix) in self.by_program.get(*first).into_iter().flatten() {
                if words.len() >= prefix.len() && prefix.iter().zip(&words).all(|(p, w)| p == w) {
                    matched.push(*rule);
                }
            }
        }
        for (rule, class) in &self.by_class {
            if command.classes.contains(class) {
                matched.push(*rule);
            }
        }
        matched.sort_unstable();
        matched.dedup();
        let hits = matched
            .into_iter()
            .map(|i| &self.rules[i])
            .filter(|r| r.scope.covers(at))
            .map(|r| Hit {
                rule: r.name.clone(),
                score: r.score,
                action: r.action,
            })
            .collect();
        Judged {
            command: command.text.clone(),
            classes: command.classes.clone(),
            hits,
        }
    }
}

#[cfg(test)]
mod tests;
