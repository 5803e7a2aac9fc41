//! `vigil agent` (enrolment tokens and workstations) and `vigil agent-policy` (what the
//! workstations' agents audit and record): the endpoint manager (issue 14).

use std::time::Duration;

use anyhow::{anyhow, bail};
use clap::{Args, Subcommand};
use vigil_core::{AgentPolicy, PolicySubject};
use vigil_session::{AGENT_TOKEN_VALIDITY, Actor, Admin};

use super::when;

#[derive(Subcommand)]
pub(crate) enum AgentCommand {
    /// Make a one-time enrolment token: printed alone on standard output, for
    /// `vigil-agent enrol --token`. Only its SHA-256 is kept.
    Token {
        /// How many hours it may be used (default 24).
        #[arg(long, value_name = "HOURS")]
        valid_for: Option<u64>,
    },
    /// Every enrolled workstation: pending or approved, and when its agent was last heard.
    List {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approve a workstation: its agent's recordings are accepted from now on.
    Approve { host: String },
    /// Remove a workstation: its agent can no longer sign in (its recordings stay).
    Remove { host: String },
}

#[derive(Subcommand)]
pub(crate) enum AgentPolicyCommand {
    /// Add an access policy ("binary run"): runs of PATH by the user, or by users whose
    /// primary group is GROUP, are audited and/or recorded.
    Add(Box<AddArgs>),
    /// Every access policy.
    List {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a policy: agents remove its wrapper when they next fetch.
    Remove { name: String },
    /// Enable a policy.
    Enable { name: String },
    /// Disable a policy (kept, but it applies nowhere).
    Disable { name: String },
}

#[derive(Args)]
pub(crate) struct AddArgs {
    /// The policy's name.
    name: String,
    /// The program's absolute path on the workstations (`which PROGRAM`).
    #[arg(long, value_name = "PATH")]
    path: String,
    /// The path is a symbolic link: the program it points to is wrapped (every name of it).
    #[arg(long)]
    symlink: bool,
    /// Audit runs (an exec event with the command line and exit status): yes (default) or no.
    #[arg(long, value_name = "yes|no")]
    audit: Option<String>,
    /// Record runs (output and input): yes or no (default).
    #[arg(long, value_name = "yes|no")]
    record: Option<String>,
    /// For this workstation user (the Vigil user with the identical name).
    #[arg(
        long,
        value_name = "NAME",
        conflicts_with = "group",
        required_unless_present = "group"
    )]
    user: Option<String>,
    /// For the users whose primary group is this one (supplementary groups do not count).
    #[arg(long, value_name = "NAME")]
    group: Option<String>,
    /// Only on this workstation (its host name); default every workstation.
    #[arg(long, value_name = "HOST")]
    workstation: Option<String>,
    /// Add it disabled.
    #[arg(long)]
    disabled: bool,
}

fn yn(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn yes_no(flag: &str, value: Option<String>, default: bool) -> anyhow::Result<bool> {
    match value.as_deref() {
        None => Ok(default),
        Some("yes") => Ok(true),
        Some("no") => Ok(false),
        Some(v) => bail!("--{flag} {v:?}: use yes or no"),
    }
}

pub(crate) async fn agent(admin: &Admin, by: &Actor, command: AgentCommand) -> anyhow::Result<()> {
    match command {
        AgentCommand::Token { valid_for } => {
            let valid = valid_for.map_or(AGENT_TOKEN_VALIDITY, |h| {
                Duration::from_secs(h.saturating_mul(3600))
            });
            if valid.is_zero() {
                bail!("--valid-for 0: give at least one hour");
            }
            let (token, expires_at) = admin.create_agent_token(by, valid).await?;
            let text = token
                .expose_str()
                .ok_or_else(|| anyhow!("the token is not text"))?;
            println!("{text}");
            eprintln!(
                "one-time enrolment token, valid until {}: on the workstation run `vigil-agent enrol --server URL --token TOKEN`, then approve it with `vigil agent approve HOST`",
                when(Some(expires_at))
            );
        }
        AgentCommand::List { json } => {
            let agents = admin.store().agents().await?;
            if json {
                println!("{}", serde_json::to_string(&agents)?);
                return Ok(());
            }
            if agents.is_empty() {
                println!("no workstation has enrolled (`vigil agent token` makes a token)");
                return Ok(());
            }
            println!(
                "{:<24} {:<9} {:<52} {:<21} LAST SEEN",
                "HOST", "STATUS", "KEY", "ENROLLED"
            );
            for a in agents {
                println!(
                    "{:<24} {:<9} {:<52} {:<21} {}",
                    a.host_name,
                    a.status.as_str(),
                    a.fingerprint,
                    when(Some(a.enrolled_at)),
                    when(a.last_seen_at)
                );
            }
        }
        AgentCommand::Approve { host } => {
            let a = admin.approve_agent(by, &host).await?;
            println!("workstation {host} approved (key {})", a.fingerprint);
        }
        AgentCommand::Remove { host } => {
            admin.remove_agent(by, &host).await?;
            println!("workstation {host} removed");
        }
    }
    Ok(())
}

pub(crate) async fn policy(
    admin: &Admin,
    by: &Actor,
    command: AgentPolicyCommand,
) -> anyhow::Result<()> {
    match command {
        AgentPolicyCommand::Add(args) => {
            let a = *args;
            let subject = match (a.user, a.group) {
                (Some(u), None) => PolicySubject::User(u),
                (None, Some(g)) => PolicySubject::Group(g),
                _ => bail!("give --user NAME or --group NAME (one of them)"),
            };
            let policy = AgentPolicy {
                name: a.name,
                enabled: !a.disabled,
                path: a.path,
                symlink: a.symlink,
                audit: yes_no("audit", a.audit, true)?,
                record: yes_no("record", a.record, false)?,
                subject,
                workstation: a.workstation,
            };
            let row = admin.add_agent_policy(by, policy).await?;
            println!("agent policy {} added:", row.policy.name);
            print_policy(&row.policy);
        }
        AgentPolicyCommand::List { json } => {
            let rows = admin.store().agent_policies().await?;
            if json {
                println!("{}", serde_json::to_string(&rows)?);
                return Ok(());
            }
            if rows.is_empty() {
                println!("no agent policy (`vigil agent-policy add NAME --path PATH --user NAME`)");
                return Ok(());
            }
            println!(
                "{:<20} {:<8} {:<6} {:<6} {:<18} {:<16} PATH",
                "NAME", "ENABLED", "AUDIT", "RECORD", "FOR", "WORKSTATION"
            );
            for r in rows {
                let p = &r.policy;
                println!(
                    "{:<20} {:<8} {:<6} {:<6} {:<18} {:<16} {}{}",
                    p.name,
                    yn(p.enabled),
                    yn(p.audit),
                    yn(p.record),
                    format!("{} {}", p.subject.kind(), p.subject.name()),
                    p.workstation.as_deref().unwrap_or("every"),
                    p.path,
                    if p.symlink { " (symbolic link)" } else { "" }
                );
            }
        }
        AgentPolicyCommand::Remove { name } => {
            admin.remove_agent_policy(by, &name).await?;
            println!("agent policy {name} removed");
        }
        AgentPolicyCommand::Enable { name } => {
            admin.set_agent_policy_enabled(by, &name, true).await?;
            println!("agent policy {name} enabled");
        }
        AgentPolicyCommand::Disable { name } => {
            admin.set_agent_policy_enabled(by, &name, false).await?;
            println!("agent policy {name} disabled");
        }
    }
    Ok(())
}

fn print_policy(p: &AgentPolicy) {
    println!("  enabled      {}", yn(p.enabled));
    println!("  path         {}", p.path);
    println!("  symlink      {}", yn(p.symlink));
    println!("  audit        {}", yn(p.audit));
    println!("  record       {}", yn(p.record));
    println!("  for          {} {}", p.subject.kind(), p.subject.name());
    println!(
        "  workstation  {}",
        p.workstation.as_deref().unwrap_or("every workstation")
    );
}
