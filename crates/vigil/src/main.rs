//! `vigil`: the gateway binary. Glue only: parse the command line, load settings, wire the
//! crates together, print what happens.

mod cli;
mod config;
mod init;
mod keys;
mod memory;
mod serve;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "vigil",
    version,
    about = "PAM session gateway: vaulted credentials, recorded and controlled SSH sessions"
)]
struct Cli {
    /// Data directory: store, keys, recordings, vigil.toml.
    #[arg(
        long,
        global = true,
        env = "VIGIL_DATA_DIR",
        default_value = "vigil-data"
    )]
    data_dir: PathBuf,
    /// Database URL (sqlite://PATH or postgres://USER@HOST/DB); overrides vigil.toml.
    #[arg(long, global = true, env = "VIGIL_DATABASE_URL")]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the data directory: store, host key, master key, administrator.
    Init,
    /// Run the gateway (initialises the data directory on first start).
    Serve {
        /// Where operators connect, ADDRESS:PORT.
        #[arg(long, env = "VIGIL_SSH_LISTEN")]
        ssh_listen: Option<String>,
        /// Where the web console and API will listen, ADDRESS:PORT.
        #[arg(long, env = "VIGIL_HTTP_LISTEN")]
        http_listen: Option<String>,
    },
    /// Users who connect through or administer Vigil.
    #[command(subcommand)]
    User(cli::UserCommand),
    /// Servers Vigil connects to.
    #[command(subcommand)]
    Target(cli::TargetCommand),
    /// Logins on targets, with their vaulted credentials.
    #[command(subcommand)]
    Account(cli::AccountCommand),
    /// Who may reach which target.
    #[command(subcommand)]
    Access(cli::AccessCommand),
    /// What a target (or one login) allows of file transfers, and the checks each file
    /// passes before it is delivered.
    #[command(subcommand, name = "transfer-policy")]
    TransferPolicy(cli::TransferPolicyCommand),
    /// Workstations whose agent records chosen programs: enrolment tokens, approval.
    #[command(subcommand)]
    Agent(cli::AgentCommand),
    /// What the workstations' agents audit and record ("binary run" access policies).
    #[command(subcommand, name = "agent-policy")]
    AgentPolicy(cli::AgentPolicyCommand),
    /// Audited-command rules: what operators' commands are scored and acted on.
    #[command(subcommand)]
    Rule(cli::RuleCommand),
    /// Commands operators ran, across sessions (`vigil command search TEXT`).
    #[command(subcommand, name = "command")]
    Commands(cli::CommandCommand),
    /// Recorded sessions.
    #[command(subcommand)]
    Session(cli::SessionCommand),
    /// Session recordings.
    #[command(subcommand)]
    Recording(cli::RecordingCommand),
    /// The audit log of administrative and security events.
    #[command(subcommand)]
    Audit(cli::AuditCommand),
    /// Every piece of evidence (session events and administration entries) in order, as JSON
    /// lines, from the outbox: with --consumer, from that consumer's saved cursor.
    Events(cli::EventsArgs),
    /// SIEM destinations (`vigil siem test`).
    #[command(subcommand)]
    Siem(cli::SiemCommand),
    /// The nodes of the cluster: `vigil node list`, `vigil node remove NAME`.
    #[command(subcommand)]
    Node(cli::NodeCommand),
    /// What the nodes are doing: open sessions, and each SIEM destination's state, queue,
    /// events sent and dropped.
    Status,
    /// Whether a session's recordings and log are complete and unaltered: `intact`, `interrupted`
    /// (authentic up to a crash), `purged` (with a signed tombstone), or what is wrong; or
    /// whether an exported file is what was exported (its `.vigil-proof` beside it). Exits 1
    /// unless authentic.
    Verify {
        /// The session's id, or an exported recording file.
        session: String,
        /// Print the verification as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the retention purge now: delete the recordings and logs of sessions that ended
    /// longer ago than the retention period (sessions kept by prevent-purge stay).
    Purge {
        /// Days to keep instead of retention_days from vigil.toml (0: every ended session).
        #[arg(long)]
        days: Option<u32>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VIGIL_LOG")
                .unwrap_or_else(|_| "info,russh=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // A task that never yields (sqlx 0.9's pool maintenance was seen spinning after a
    // close) must not keep the process from exiting once the work is done.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut overrides = config::Overrides {
        database_url: cli.database_url,
        ..Default::default()
    };
    match cli.command {
        Command::Init => {
            let settings = init::settings(&cli.data_dir, &overrides)?;
            init::initialise(&settings).await.map(|_| ())
        }
        Command::Serve {
            ssh_listen,
            http_listen,
        } => {
            overrides.ssh_listen = ssh_listen;
            overrides.http_listen = http_listen;
            let settings = init::settings(&cli.data_dir, &overrides)?;
            serve::serve(settings).await
        }
        command => {
            let settings = init::settings(&cli.data_dir, &overrides)?;
            let store = init::open_existing(&settings).await?;
            let result = cli::run(&settings, &store, command).await;
            store.close().await;
            result
        }
    }
}
