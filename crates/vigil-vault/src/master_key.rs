use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use std::fmt;
use std::path::Path;
use zeroize::Zeroizing;

use crate::VaultError;

/// The key that wraps every data key. Loaded from a 0600 file or `VIGIL_MASTER_KEY`.
pub struct MasterKey(pub(crate) Zeroizing<[u8; 32]>);

impl MasterKey {
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        MasterKey(key)
    }

    /// Parses the base64 text form; `origin` names where it came from for the error.
    pub fn from_base64(text: &str, origin: &str) -> Result<Self, VaultError> {
        let bad = || VaultError::BadKey {
            origin: origin.to_owned(),
        };
        let bytes = Zeroizing::new(STANDARD.decode(text.trim()).map_err(|_| bad())?);
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| bad())?;
        Ok(MasterKey(Zeroizing::new(key)))
    }

    pub fn load(path: &Path) -> Result<Self, VaultError> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
            VaultError::ReadKey {
                path: path.display().to_string(),
                source,
            }
        })?);
        Self::from_base64(&text, &path.display().to_string())
    }

    /// Writes the key to a new file readable only by its owner; refuses to overwrite.
    pub fn write_new(&self, path: &Path) -> Result<(), VaultError> {
        use std::io::Write;
        let err = |source| VaultError::WriteKey {
            path: path.display().to_string(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(err)?;
        let text = Zeroizing::new(STANDARD.encode(self.0.as_ref()));
        file.write_all(text.as_bytes()).map_err(err)?;
        file.write_all(b"\n").map_err(err)?;
        file.sync_all().map_err(err)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_round_trip_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let key = MasterKey::generate();
        key.write_new(&path).unwrap();
        let loaded = MasterKey::load(&path).unwrap();
        assert_eq!(key.0.as_ref(), loaded.0.as_ref());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(key.write_new(&path).is_err(), "must not overwrite a key");
        assert!(matches!(
            MasterKey::from_base64("c2hvcnQ=", "env"),
            Err(VaultError::BadKey { .. })
        ));
    }
}
