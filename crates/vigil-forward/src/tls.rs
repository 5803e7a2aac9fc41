//! The TLS client of a `tls://` destination: the receiver's certificate is checked against
//! `ca_file` (default: the system's bundle), and `cert_file` + `key_file` give Vigil a client
//! certificate for receivers that require one (mutual TLS).

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::DestinationError;

/// Where Debian keeps the system's trusted certificates.
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

fn bad(key: &'static str, why: String) -> DestinationError {
    DestinationError { key, why }
}

fn certificates(
    key: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, DestinationError> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(key, format!("cannot read {}: {e}", path.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| {
            bad(
                key,
                format!("{} is not PEM certificates: {e}", path.display()),
            )
        })?;
    if certs.is_empty() {
        return Err(bad(
            key,
            format!("{} holds no PEM certificate", path.display()),
        ));
    }
    Ok(certs)
}

pub(crate) fn client_config(
    ca_file: Option<&Path>,
    cert_file: Option<&Path>,
    key_file: Option<&Path>,
) -> Result<Arc<rustls::ClientConfig>, DestinationError> {
    let (key, ca) = match ca_file {
        Some(p) => ("ca_file", p),
        None => ("ca_file", Path::new(SYSTEM_BUNDLE)),
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates(key, ca).map_err(|e| match ca_file {
        Some(_) => e,
        None => bad(
            "ca_file",
            format!("none given and the system bundle is unusable ({}); set ca_file to the receiver's CA", e.why),
        ),
    })? {
        roots
            .add(cert)
            .map_err(|e| bad("ca_file", format!("{}: {e}", ca.display())))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("url", format!("TLS: {e}")))?
        .with_root_certificates(roots);
    let config = match (cert_file, key_file) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => {
            let chain = certificates("cert_file", cert)?;
            let private = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                bad(
                    "key_file",
                    format!("{} is not a PEM private key: {e}", key.display()),
                )
            })?;
            builder.with_client_auth_cert(chain, private).map_err(|e| {
                bad(
                    "key_file",
                    format!("{} does not go with cert_file: {e}", key.display()),
                )
            })?
        }
        _ => {
            return Err(bad(
                "cert_file",
                "give cert_file and key_file together (a client certificate and its key), or neither".into(),
            ));
        }
    };
    Ok(Arc::new(config))
}
