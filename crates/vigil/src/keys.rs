//! The SSH-side key handling the web API needs, given to it without the API knowing SSH.

use futures::future::BoxFuture;
use russh::keys::{HashAlg, PublicKey};

pub(crate) struct SshKeyTools;

impl vigil_api::KeyTools for SshKeyTools {
    fn public_key(&self, text: &str) -> Result<(String, String), String> {
        let key = PublicKey::from_openssh(text.trim()).map_err(|e| e.to_string())?;
        let line = key.to_openssh().map_err(|e| e.to_string())?;
        Ok((line, key.fingerprint(HashAlg::Sha256).to_string()))
    }

    fn check_private_key(&self, text: &str) -> Result<(), String> {
        russh::keys::decode_secret_key(text, None)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn fetch_host_key(
        &self,
        host: String,
        port: u16,
    ) -> BoxFuture<'static, Result<String, String>> {
        Box::pin(async move { vigil_ssh::fetch_host_key(&host, port).await })
    }
}
