//! `vigil-agent`: enrol a workstation, run the agent service, say what it enforces.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use vigil_agent::client::Client;
use vigil_agent::install::{Divert, Installer};
use vigil_agent::service::Service;
use vigil_agent::spool::Spool;
use vigil_agent::state::{
    AGENT_GROUP, DEFAULT_STATE_DIR, Enrolment, StateDir, write_atomic, write_json,
};
use vigil_agent::upload::RateLimit;
use vigil_vault::AgentKey;

#[derive(Parser)]
#[command(
    name = "vigil-agent",
    version,
    about = "Records the programs Vigil's access policies name on this workstation"
)]
struct Cli {
    /// Where the agent keeps its key, policies, wrappers' record and spool.
    #[arg(long, global = true, default_value = DEFAULT_STATE_DIR, env = "VIGIL_AGENT_STATE_DIR")]
    state_dir: PathBuf,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Registers this workstation with a one-time token from `vigil agent token`.
    Enrol {
        /// The Vigil server, https://HOST:PORT.
        #[arg(long)]
        server: String,
        /// The one-time token (or set VIGIL_AGENT_TOKEN, which `ps` does not show).
        #[arg(long, env = "VIGIL_AGENT_TOKEN", hide_env_values = true)]
        token: String,
        /// A PEM file with the certificate that signs the server's (for a self-signed server,
        /// its own `DATA/tls/cert.pem`).
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// The name the workstation is known by (default: its host name).
        #[arg(long)]
        host_name: Option<String>,
    },
    /// The service: enforces the policies, spools and uploads the runs.
    Run {
        /// Install wrappers under this root instead of / (tests; originals are renamed, not
        /// diverted with dpkg-divert).
        #[arg(long, default_value = "/")]
        root: PathBuf,
        /// The wrapper binary to install (default: vigil-rec beside this program).
        #[arg(long)]
        wrapper: Option<PathBuf>,
        /// How often the policies are checked for changes, in seconds.
        #[arg(long, default_value_t = 3)]
        poll_secs: u64,
        /// The most the spool may hold, in MiB; recorded runs are refused beyond it.
        #[arg(long, default_value_t = 1024)]
        spool_quota_mib: u64,
        /// An upload rate limit in bytes per second (slow links); none by default.
        #[arg(long)]
        upload_rate: Option<u64>,
    },
    /// What this workstation enforces and what waits in the spool.
    Status,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("vigil-agent: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let state = StateDir::new(&cli.state_dir);
    match cli.command {
        Cmd::Enrol {
            server,
            token,
            ca_file,
            host_name,
        } => enrol(&state, &server, &token, ca_file, host_name),
        Cmd::Run {
            root,
            wrapper,
            poll_secs,
            spool_quota_mib,
            upload_rate,
        } => {
            let client = signed_client(&state)?;
            let enrolment = state.enrolment()?;
            let wrapper = match wrapper {
                Some(w) => w,
                None => std::env::current_exe()
                    .context("finding vigil-rec beside this program")?
                    .with_file_name("vigil-rec"),
            };
            if !wrapper.is_file() {
                bail!(
                    "the wrapper {} does not exist: install vigil-rec beside vigil-agent or give --wrapper",
                    wrapper.display()
                );
            }
            let group = agent_group()?;
            if group.is_none() {
                eprintln!(
                    "vigil-agent: not running as root: wrappers are not set-group-id and originals stay reachable (a test install)"
                );
            }
            state.create()?;
            if let Some(g) = group {
                nix::unistd::chown(state.root(), None, Some(g)).with_context(|| {
                    format!("giving {} to the agent group", state.root().display())
                })?;
            }
            let root = std::fs::canonicalize(&root)
                .with_context(|| format!("the install root {}", root.display()))?;
            let divert = if root == std::path::Path::new("/") {
                Divert::Dpkg
            } else {
                Divert::Rename
            };
            let installer = Installer {
                root,
                state_dir: std::fs::canonicalize(state.root())?,
                wrapper,
                group,
                divert,
            };
            let spool = Spool::new(state.spool(), spool_quota_mib << 20);
            eprintln!(
                "vigil-agent: {} enrolled at {} as {}; state in {}",
                enrolment.host_name,
                enrolment.server,
                enrolment.id,
                state.root().display()
            );
            let service = Arc::new(Service::new(
                state,
                client,
                installer,
                spool,
                Duration::from_secs(poll_secs.max(1)),
                RateLimit(upload_rate),
            ));
            service.run(&enrolment.host_name)?;
            Ok(())
        }
        Cmd::Status => {
            let client = signed_client(&state).ok();
            let spool = Spool::new(state.spool(), 1024 << 20);
            print!(
                "{}",
                vigil_agent::status::report(&state, &spool, client.as_ref())?
            );
            Ok(())
        }
    }
}

fn enrol(
    state: &StateDir,
    server: &str,
    token: &str,
    ca_file: Option<PathBuf>,
    host_name: Option<String>,
) -> anyhow::Result<()> {
    if !server.starts_with("https://") {
        bail!(
            "--server {server}: give the server's https:// address (the agent never talks in the clear)"
        );
    }
    let host_name = match host_name {
        Some(h) => h,
        None => nix::unistd::gethostname()
            .context("reading the host name")?
            .to_string_lossy()
            .into_owned(),
    };
    let machine_id = std::fs::read_to_string("/etc/machine-id")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let ca_file = ca_file
        .map(|f| std::fs::canonicalize(&f).with_context(|| format!("the CA file {}", f.display())))
        .transpose()?;
    let client = Client::with_ca_file(server, ca_file.as_deref())?;
    state.create()?;
    eprintln!(
        "vigil-agent: making this workstation's key and enrolling {host_name} at {server}..."
    );
    let key = AgentKey::generate();
    let enrolled = client
        .enrol(token, &host_name, &machine_id, &key.public().to_text())
        .context("enrolling")?;
    write_atomic(&state.key_file(), key.to_text().as_bytes(), 0o600)?;
    write_json(
        &state.enrolment_file(),
        &Enrolment {
            server: server.trim_end_matches('/').to_owned(),
            ca_file,
            id: enrolled.id.clone(),
            host_name: enrolled.host_name.clone(),
            fingerprint: enrolled.fingerprint.clone(),
        },
        0o644,
    )?;
    println!(
        "Enrolled {} (key {}). It is {}: an administrator approves it with `vigil agent approve {}`; then start `vigil-agent run`.",
        enrolled.host_name, enrolled.fingerprint, enrolled.status, enrolled.host_name
    );
    Ok(())
}

fn signed_client(state: &StateDir) -> anyhow::Result<Client> {
    let enrolment = state.enrolment()?;
    let key_file = state.key_file();
    let text = std::fs::read_to_string(&key_file)
        .with_context(|| format!("reading the agent's key {}", key_file.display()))?;
    let key = AgentKey::from_text(text.trim())
        .with_context(|| format!("the agent's key {}", key_file.display()))?;
    Ok(
        Client::with_ca_file(&enrolment.server, enrolment.ca_file.as_deref())?
            .signed_as(&enrolment.id, key),
    )
}

/// The agent group when running as root (made when missing); none otherwise.
fn agent_group() -> anyhow::Result<Option<nix::unistd::Gid>> {
    if !nix::unistd::Uid::effective().is_root() {
        return Ok(None);
    }
    if let Some(g) = nix::unistd::Group::from_name(AGENT_GROUP)? {
        return Ok(Some(g.gid));
    }
    let status = std::process::Command::new("groupadd")
        .args(["--system", AGENT_GROUP])
        .status()
        .context("running groupadd")?;
    if !status.success() {
        bail!("groupadd --system {AGENT_GROUP} failed");
    }
    nix::unistd::Group::from_name(AGENT_GROUP)?
        .map(|g| Some(g.gid))
        .context("the agent group is missing after groupadd")
}
