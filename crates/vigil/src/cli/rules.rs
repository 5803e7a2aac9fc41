//! `vigil rule ...`: audited-command rules. A rule applies to sessions that start after the
//! change; running sessions keep the rules they started with.

use anyhow::bail;
use clap::{Args, Subcommand};
use vigil_audit::command::Class;
use vigil_audit::rules::{Action, Pattern, Rule, Scope};
use vigil_session::{Actor, Admin, rule_of};

#[derive(Subcommand)]
pub(crate) enum RuleCommand {
    /// Add a rule: one of --pattern, --command or --class, a score and an action.
    Add {
        name: String,
        #[command(flatten)]
        pattern: PatternArgs,
        /// Added to the session's risk score each time the rule matches.
        #[arg(long, default_value_t = 10)]
        score: u32,
        /// alert (the command runs), prohibit (it does not), interrupt (the session ends),
        /// deactivate (the session ends and the user is disabled).
        #[arg(long, default_value = "alert")]
        action: String,
        #[command(flatten)]
        scope: ScopeArgs,
        /// Add it disabled.
        #[arg(long)]
        disabled: bool,
    },
    /// List the rules.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Change a rule: what is given replaces what it was.
    Edit {
        name: String,
        #[command(flatten)]
        pattern: PatternArgs,
        #[arg(long)]
        score: Option<u32>,
        #[arg(long)]
        action: Option<String>,
        #[command(flatten)]
        scope: ScopeArgs,
        /// Make it apply everywhere again (drops every --target, --login and --user).
        #[arg(long)]
        everywhere: bool,
    },
    Enable {
        name: String,
    },
    Disable {
        name: String,
    },
    Remove {
        name: String,
    },
}

#[derive(Args)]
#[group(multiple = false)]
pub(crate) struct PatternArgs {
    /// A regular expression, searched in the command (`^rm\s+-rf`).
    #[arg(long)]
    pattern: Option<String>,
    /// A command name or a prefix of whole words (`shutdown`, `systemctl stop`).
    #[arg(long)]
    command: Option<String>,
    /// An obfuscation class: eval, pipe-to-shell, dynamic-command, definition.
    #[arg(long)]
    class: Option<String>,
}

#[derive(Args)]
pub(crate) struct ScopeArgs {
    /// Only on this target (repeat for several).
    #[arg(long = "target")]
    targets: Vec<String>,
    /// Only for this login on the target (repeat for several).
    #[arg(long = "login")]
    logins: Vec<String>,
    /// Only for this user (repeat for several).
    #[arg(long = "user")]
    users: Vec<String>,
}

impl PatternArgs {
    fn pattern(self) -> anyhow::Result<Option<Pattern>> {
        Ok(match (self.pattern, self.command, self.class) {
            (Some(re), _, _) => Some(Pattern::Regex(re)),
            (_, Some(c), _) => Some(Pattern::Command(c)),
            (_, _, Some(class)) => match Class::parse(&class) {
                Some(c) => Some(Pattern::Class(c)),
                None => bail!(
                    "unknown class {class:?}: use one of {}",
                    Class::ALL.map(Class::as_str).join(", ")
                ),
            },
            _ => None,
        })
    }
}

impl ScopeArgs {
    fn is_empty(&self) -> bool {
        self.targets.is_empty() && self.logins.is_empty() && self.users.is_empty()
    }

    fn scope(self) -> Scope {
        Scope {
            targets: self.targets,
            logins: self.logins,
            users: self.users,
        }
    }
}

fn action(name: &str) -> anyhow::Result<Action> {
    Action::parse(name).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown action {name:?}: use one of {}",
            Action::ALL.map(Action::as_str).join(", ")
        )
    })
}

pub(super) async fn run(admin: &Admin, by: &Actor, command: RuleCommand) -> anyhow::Result<()> {
    match command {
        RuleCommand::Add {
            name,
            pattern,
            score,
            action: act,
            scope,
            disabled,
        } => {
            let Some(pattern) = pattern.pattern()? else {
                bail!(
                    "say what the rule matches: --pattern REGEX, --command PREFIX or --class CLASS"
                );
            };
            let rule = Rule {
                name,
                pattern,
                score,
                action: action(&act)?,
                enabled: !disabled,
                scope: scope.scope(),
            };
            let row = admin.add_rule(by, &rule).await?;
            println!(
                "rule {} added ({} {:?}, score {}, {}); it applies to sessions that start from now on",
                row.name, row.pattern_kind, row.pattern, row.score, row.action
            );
        }
        RuleCommand::List { json } => {
            let rows = admin.store().audit_rules().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(());
            }
            if rows.is_empty() {
                println!(
                    "no rules yet: add one with `vigil rule add NAME --command shutdown --action prohibit`"
                );
            }
            for r in rows {
                let scope = [
                    ("target", &r.targets),
                    ("login", &r.logins),
                    ("user", &r.users),
                ]
                .iter()
                .filter(|(_, l)| !l.is_empty())
                .map(|(k, l)| format!("{k}={}", l.join(",")))
                .collect::<Vec<_>>()
                .join(" ");
                println!(
                    "{:<24} {:<9} {:<9} {:>6}  {:<8} {:?} {}",
                    r.name,
                    if r.enabled { "enabled" } else { "disabled" },
                    r.action,
                    r.score,
                    r.pattern_kind,
                    r.pattern,
                    if scope.is_empty() {
                        "everywhere".to_owned()
                    } else {
                        scope
                    }
                );
            }
        }
        RuleCommand::Edit {
            name,
            pattern,
            score,
            action: act,
            scope,
            everywhere,
        } => {
            let pattern = pattern.pattern()?;
            let act = act.as_deref().map(action).transpose()?;
            let new_scope = (!scope.is_empty()).then(|| scope.scope());
            let row = admin
                .edit_rule(by, &name, |r| {
                    if let Some(p) = pattern {
                        r.pattern = p;
                    }
                    if let Some(s) = score {
                        r.score = s;
                    }
                    if let Some(a) = act {
                        r.action = a;
                    }
                    if everywhere {
                        r.scope = Scope::default();
                    }
                    if let Some(s) = new_scope {
                        r.scope = s;
                    }
                })
                .await?;
            let rule = rule_of(&row)?;
            println!(
                "rule {} changed: {} {:?}, score {}, {}; running sessions keep the rule they started with",
                rule.name,
                rule.pattern.kind(),
                rule.pattern.value(),
                rule.score,
                rule.action.as_str()
            );
        }
        RuleCommand::Enable { name } => {
            admin.edit_rule(by, &name, |r| r.enabled = true).await?;
            println!("rule {name} enabled for sessions that start from now on");
        }
        RuleCommand::Disable { name } => {
            admin.edit_rule(by, &name, |r| r.enabled = false).await?;
            println!("rule {name} disabled for sessions that start from now on");
        }
        RuleCommand::Remove { name } => {
            admin.remove_rule(by, &name).await?;
            println!("rule {name} removed");
        }
    }
    Ok(())
}
