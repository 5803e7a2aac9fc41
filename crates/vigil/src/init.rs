//! First start: the data directory with its store, keys and first administrator.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use russh::keys::PrivateKey;
use vigil_core::Role;
use vigil_store::Store;
use vigil_vault::{MasterKey, hash_password, random_password};

use crate::config::{self, Overrides, Settings};

pub(crate) const HOST_KEY_FILE: &str = "ssh_host_ed25519_key";
/// The node's recording key: signs the hash chain of every recording the node writes.
pub(crate) const RECORDING_KEY_FILE: &str = "recording_signing.key";

pub(crate) fn settings(data_dir: &Path, overrides: &Overrides) -> anyhow::Result<Settings> {
    let file = config::read_file_config(data_dir)?;
    Settings::resolve(data_dir, file, overrides)
}

pub(crate) fn is_initialised(settings: &Settings) -> bool {
    settings.master_key_file.exists() && settings.data_dir.join(HOST_KEY_FILE).exists()
}

/// The master key from `VIGIL_MASTER_KEY` or the key file.
pub(crate) fn master_key(settings: &Settings) -> anyhow::Result<MasterKey> {
    if let Ok(text) = std::env::var("VIGIL_MASTER_KEY") {
        return Ok(MasterKey::from_base64(&text, "VIGIL_MASTER_KEY")?);
    }
    Ok(MasterKey::load(&settings.master_key_file)?)
}

/// Opens the store of an initialised data directory, or says how to create one.
pub(crate) async fn open_existing(settings: &Settings) -> anyhow::Result<Store> {
    if !is_initialised(settings) {
        bail!(
            "{} is not a Vigil data directory: run `vigil --data-dir {} init` (or `serve`) first, or pass --data-dir / VIGIL_DATA_DIR",
            settings.data_dir.display(),
            settings.data_dir.display()
        );
    }
    let key = master_key(settings)?;
    let store = Store::open(&settings.database_url, Arc::new(key))
        .await
        .with_context(|| format!("opening the store at {}", redact(&settings.database_url)))?;
    check_master_key(&store, settings).await?;
    Ok(store)
}

/// Refuses a master key that cannot open the store's secrets (a node joining a cluster with
/// its own key), before anything else is done.
async fn check_master_key(store: &Store, settings: &Settings) -> anyhow::Result<()> {
    let origin = if std::env::var("VIGIL_MASTER_KEY").is_ok() {
        "VIGIL_MASTER_KEY".to_owned()
    } else {
        settings.master_key_file.display().to_string()
    };
    if let Err(e) = store.check_master_key().await {
        store.close().await;
        return Err(e).with_context(|| {
            format!(
                "the master key in {origin} does not belong to the store at {}",
                redact(&settings.database_url)
            )
        });
    }
    Ok(())
}

/// A database URL without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Creates whatever is missing; returns the store. Prints the administrator's one-time
/// password when it creates the administrator.
pub(crate) async fn initialise(settings: &Settings) -> anyhow::Result<Store> {
    let dir = &settings.data_dir;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    let config_path = dir.join(config::CONFIG_FILE);
    if !config_path.exists() {
        std::fs::write(&config_path, default_config(settings))
            .with_context(|| format!("cannot write {}", config_path.display()))?;
        println!("wrote {}", config_path.display());
    }
    if std::env::var("VIGIL_MASTER_KEY").is_err() && !settings.master_key_file.exists() {
        MasterKey::generate().write_new(&settings.master_key_file)?;
        println!(
            "created vault master key {} (mode 0600): back it up, without it no credential can be read",
            settings.master_key_file.display()
        );
    }
    let host_key_path = dir.join(HOST_KEY_FILE);
    if !host_key_path.exists() {
        let mut seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        let mut key = PrivateKey::from(russh::keys::ssh_key::private::Ed25519Keypair::from_seed(
            &seed,
        ));
        key.set_comment("vigil host key");
        let text = key
            .to_openssh(russh::keys::ssh_key::LineEnding::LF)
            .context("cannot encode the host key")?;
        write_private(&host_key_path, text.as_bytes())?;
        println!(
            "created SSH host key {} ({})",
            host_key_path.display(),
            key.public_key().fingerprint(Default::default())
        );
    }
    let recording_key = recording_key(settings)?;
    std::fs::create_dir_all(&settings.recordings_dir)
        .with_context(|| format!("cannot create {}", settings.recordings_dir.display()))?;
    if settings.http_tls && settings.tls_files.is_none() {
        let (files, created) = vigil_api::ensure_self_signed(dir, &[])?;
        if created {
            println!(
                "created a self-signed certificate for the web console: {} (set tls_cert and tls_key to use your own)",
                files.cert.display()
            );
        }
    }
    let store = Store::open(&settings.database_url, Arc::new(master_key(settings)?))
        .await
        .with_context(|| format!("opening the store at {}", redact(&settings.database_url)))?;
    check_master_key(&store, settings).await?;
    register_recording_key(&store, settings, &recording_key).await?;
    if store.user_count().await? == 0 {
        let password = random_password();
        let hash = hash_password(&password)?;
        // The first administrator is created by the node itself, on first start.
        let first = vigil_session::Actor {
            name: "vigil".into(),
            via: vigil_session::Via::Node,
        };
        vigil_session::Admin::new(store.clone())
            .add_user(&first, "admin", Role::PamAdministrator, Some(&hash))
            .await?;
        println!();
        println!("  administrator: admin");
        println!(
            "  one-time password: {}",
            password.expose_str().unwrap_or_default()
        );
        println!("  (shown once; change it with `vigil user passwd admin`)");
        println!();
    }
    Ok(store)
}

fn default_config(settings: &Settings) -> String {
    format!(
        "# Vigil configuration. Flags and VIGIL_* variables override these keys.\n\
         # node_name = \"{}\"\n\
         ssh_listen = \"{}\"\n\
         http_listen = \"{}\"\n\
         # database_url = \"postgres://vigil@127.0.0.1/vigil\"   # default: vigil.db here (SQLite)\n\
         # recordings_dir = \"recordings\"\n\
         # master_key_file = \"master.key\"\n\
         # retention_days = 365          # recordings and session logs; 0 keeps everything\n\
         # tls_cert = \"/etc/vigil/console.pem\"   # default: tls/cert.pem here, self-signed\n\
         # tls_key = \"/etc/vigil/console.key\"\n\
         # A cluster (docs/CLUSTER.md): the same database_url, master key and host key on every node.\n\
         # node_url = \"https://10.0.0.11:8443\"   # where the other nodes reach this one\n\
         # node_timeout_secs = 30        # a node silent this long is marked down\n",
        settings.node_name, settings.ssh_listen, settings.http_listen
    )
}

/// The recording store the settings name: the recordings directory, or a bucket (with the
/// directory as this node's spool for live copies).
pub(crate) fn recording_store(
    settings: &Settings,
) -> anyhow::Result<Arc<dyn vigil_record::RecordingStore>> {
    Ok(match &settings.bucket {
        None => Arc::new(vigil_record::LocalRecordingStore::new(
            &settings.recordings_dir,
        )),
        Some(b) => bucket_store(settings, b)?,
    })
}

/// The store a serving node uses: a bucket is proved reachable and writable first, and what
/// the spool kept from an earlier run (a crash, a bucket that was away) is uploaded.
pub(crate) async fn serving_recording_store(
    settings: &Settings,
    db: &Store,
) -> anyhow::Result<Arc<dyn vigil_record::RecordingStore>> {
    let Some(b) = &settings.bucket else {
        return recording_store(settings);
    };
    let store = bucket_store(settings, b)?;
    let place = format!("s3://{}/{}", b.name, b.prefix);
    store.probe(&settings.node_name).await.with_context(|| {
        format!(
            "the recording store {place} cannot be written (check s3_endpoint, s3_region, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and that the bucket exists)"
        )
    })?;
    let spool = settings.recordings_dir.display();
    let (mut uploaded, mut dropped) = (0, 0);
    for key in store.spooled().await {
        // A recording purged while this node was away stays purged.
        if db.recording_key_kept(&key).await? {
            store
                .upload_spooled(&key)
                .await
                .with_context(|| format!("uploading recording {key} left in {spool}"))?;
            uploaded += 1;
        } else {
            store.discard_spooled(&key).await?;
            dropped += 1;
        }
    }
    if uploaded + dropped > 0 {
        println!(
            "recordings an earlier run left in {spool}: {uploaded} uploaded to {place}, {dropped} dropped (purged meanwhile)"
        );
    }
    Ok(store)
}

fn bucket_store(
    settings: &Settings,
    b: &crate::config::Bucket,
) -> anyhow::Result<Arc<vigil_record::s3::S3RecordingStore>> {
    // The payload is not hashed into each request's signature: a recording proves itself
    // end to end (its hash chain and the node's signature, checked by every reader and by
    // `vigil verify`), which a signature of each upload in transit cannot add to, and hashing
    // every uploaded byte once more was an eighth of the node's CPU on a bulk download.
    let mut builder = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(&b.name)
        .with_region(&b.region)
        .with_unsigned_payload(true);
    if let Some(endpoint) = &b.endpoint {
        builder = builder
            .with_endpoint(endpoint)
            .with_allow_http(endpoint.starts_with("http://"));
    }
    let bucket = builder
        .build()
        .with_context(|| format!("the recording store s3://{}/{}", b.name, b.prefix))?;
    Ok(Arc::new(vigil_record::s3::S3RecordingStore::new(
        Arc::new(bucket),
        &b.prefix,
        &settings.recordings_dir,
        b.upload_every,
    )))
}

/// The node's recording key, made on first use (`init`, or the first start of a data
/// directory from before tamper-evident recordings).
pub(crate) fn recording_key(settings: &Settings) -> anyhow::Result<vigil_vault::Ed25519Key> {
    let path = settings.data_dir.join(RECORDING_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => vigil_vault::Ed25519Key::from_text(&text)
            .with_context(|| format!("the recording key {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = vigil_vault::Ed25519Key::generate();
            write_private(&path, key.to_text().as_bytes())?;
            println!(
                "created recording signing key {} ({}): it signs every recording this node writes",
                path.display(),
                key.public().fingerprint()
            );
            Ok(key)
        }
        Err(e) => {
            Err(e).with_context(|| format!("cannot read the recording key {}", path.display()))
        }
    }
}

/// Puts the public half of the node's recording key in the store, where every node finds it.
pub(crate) async fn register_recording_key(
    store: &Store,
    settings: &Settings,
    key: &vigil_vault::Ed25519Key,
) -> anyhow::Result<()> {
    let public = key.public();
    store
        .register_node_key(
            &settings.node_name,
            &public.to_text(),
            &public.fingerprint(),
            vigil_core::now_millis(),
        )
        .await
        .context("cannot register the node's recording key")?;
    Ok(())
}

pub(crate) fn load_host_key(settings: &Settings) -> anyhow::Result<PrivateKey> {
    let path = settings.data_dir.join(HOST_KEY_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read SSH host key {}", path.display()))?;
    PrivateKey::from_openssh(text.as_bytes()).map_err(|e| {
        anyhow::anyhow!(
            "SSH host key {} is not an OpenSSH private key: {e}",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords_in_urls() {
        assert_eq!(
            super::redact("postgres://vigil:s3cret@db/vigil"),
            "postgres://vigil:***@db/vigil"
        );
        assert_eq!(
            super::redact("postgres://vigil@db/vigil"),
            "postgres://vigil@db/vigil"
        );
        assert_eq!(
            super::redact("sqlite:///x/vigil.db"),
            "sqlite:///x/vigil.db"
        );
    }
}
