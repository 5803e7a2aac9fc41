//! `vigil transfer-policy`: what a target, or one login on it, allows of file transfers.

use anyhow::anyhow;
use clap::{Args, Subcommand};
use vigil_core::{Permit, TransferPolicy};
use vigil_session::{Actor, Admin};
use vigil_store::PolicyScope;

#[derive(Subcommand)]
pub(crate) enum TransferPolicyCommand {
    /// Set the policy of a target (or of one login with --login); it replaces the one before,
    /// and sessions that start from now on run under it.
    Set(Box<SetArgs>),
    /// Show the policy set for a target (or one login), and the one its sessions run under.
    Show {
        #[command(flatten)]
        scope: ScopeArgs,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove the policy of a target (or one login): its sessions fall back to the target's
    /// policy, or to the default (everything allowed, nothing inspected).
    Clear {
        #[command(flatten)]
        scope: ScopeArgs,
    },
}

#[derive(Args)]
pub(crate) struct SetArgs {
    #[command(flatten)]
    scope: ScopeArgs,
    /// Operator to target: allow or deny.
    #[arg(long, value_name = "allow|deny")]
    upload: Option<String>,
    /// Target to operator: allow or deny.
    #[arg(long, value_name = "allow|deny")]
    download: Option<String>,
    /// rsync, whose protocol is not inspected: allow (logged with its command line) or deny.
    #[arg(long, value_name = "allow|deny")]
    rsync: Option<String>,
    /// Refuse files over this many bytes.
    #[arg(long, value_name = "BYTES")]
    max_size: Option<u64>,
    /// Refuse files whose bytes are of this MIME type (as `infer` names it:
    /// application/x-executable for ELF), whatever their name. Repeat for more.
    #[arg(long = "deny-content-type", value_name = "MIME")]
    deny_content_types: Vec<String>,
    /// Refuse files whose name ends with this extension. Repeat for more.
    #[arg(long = "deny-extension", value_name = "EXT")]
    deny_extensions: Vec<String>,
    /// Refuse files with this SHA-256 (hex). Repeat for more.
    #[arg(long = "deny-sha256", value_name = "HEX")]
    deny_sha256: Vec<String>,
    /// A program given each file's spooled path (and its metadata as JSON on stdin): exit
    /// status 0 allows, any other refuses with the first line it prints as the reason.
    #[arg(long, value_name = "PATH")]
    command: Option<String>,
    /// A YARA rules file: files matching a rule are refused.
    #[arg(long, value_name = "RULES_FILE")]
    yara: Option<String>,
    /// An ICAP service asked about each file (icap://HOST:PORT/SERVICE).
    #[arg(long, value_name = "URL")]
    icap: Option<String>,
    /// Keep transferred files up to this many bytes with the session, for auditors.
    #[arg(long, value_name = "BYTES")]
    keep_files_up_to: Option<u64>,
}

#[derive(Args)]
pub(crate) struct ScopeArgs {
    target: String,
    /// One login of the target (default: every login).
    #[arg(long)]
    login: Option<String>,
}

impl ScopeArgs {
    fn scope(&self) -> PolicyScope<'_> {
        PolicyScope {
            target: &self.target,
            login: self.login.as_deref(),
        }
    }
}

fn permit(flag: &str, value: Option<String>) -> anyhow::Result<Permit> {
    match value {
        None => Ok(Permit::Allow),
        Some(v) => Permit::parse(&v).ok_or_else(|| anyhow!("--{flag} {v:?}: use allow or deny")),
    }
}

pub(crate) async fn run(
    admin: &Admin,
    by: &Actor,
    command: TransferPolicyCommand,
) -> anyhow::Result<()> {
    match command {
        TransferPolicyCommand::Set(args) => {
            let a = *args;
            let policy = TransferPolicy {
                upload: permit("upload", a.upload)?,
                download: permit("download", a.download)?,
                rsync: permit("rsync", a.rsync)?,
                max_size: a.max_size,
                deny_content_types: a.deny_content_types,
                deny_extensions: a.deny_extensions,
                deny_sha256: a.deny_sha256,
                command: a.command,
                yara: a.yara,
                icap: a.icap,
                keep_files_up_to: a.keep_files_up_to,
            };
            let scope = a.scope;
            let set = admin
                .set_transfer_policy(by, &scope.scope(), policy)
                .await?;
            println!("transfer policy of {} set:", scope.scope());
            print_policy(&set);
        }
        TransferPolicyCommand::Show { scope, json } => {
            let store = admin.store();
            let own = store.transfer_policy(&scope.scope()).await?;
            let effective = match &scope.login {
                Some(login) => {
                    store
                        .effective_transfer_policy(&scope.target, login)
                        .await?
                }
                None => own.clone().unwrap_or_default(),
            };
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "policy": own, "effective": effective })
                );
                return Ok(());
            }
            match &own {
                Some(p) => {
                    println!("transfer policy of {}:", scope.scope());
                    print_policy(p);
                }
                None => println!("{} has no transfer policy of its own", scope.scope()),
            }
            if own.as_ref() != Some(&effective) {
                println!("its sessions run under:");
                print_policy(&effective);
            }
        }
        TransferPolicyCommand::Clear { scope } => {
            admin.clear_transfer_policy(by, &scope.scope()).await?;
            println!("transfer policy of {} removed", scope.scope());
        }
    }
    Ok(())
}

fn print_policy(p: &TransferPolicy) {
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_owned()
        } else {
            v.join(", ")
        }
    };
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let bytes = |v: Option<u64>| v.map_or("-".to_owned(), |b| format!("{b} bytes"));
    println!("  upload             {}", p.upload.as_str());
    println!("  download           {}", p.download.as_str());
    println!("  rsync              {}", p.rsync.as_str());
    println!("  max size           {}", bytes(p.max_size));
    println!("  deny content types {}", list(&p.deny_content_types));
    println!("  deny extensions    {}", list(&p.deny_extensions));
    println!("  deny SHA-256       {}", list(&p.deny_sha256));
    println!("  command            {}", opt(&p.command));
    println!("  YARA rules         {}", opt(&p.yara));
    println!("  ICAP               {}", opt(&p.icap));
    println!("  keep files up to   {}", bytes(p.keep_files_up_to));
}
