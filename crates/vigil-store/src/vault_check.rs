//! The vault check: a value sealed with the master key at the first start of a node on this
//! store, so a node (or a CLI) with another key refuses to start instead of failing at its
//! first login (issue 16: every node of a cluster needs the same key).

use sqlx::Row;
use vigil_core::now_millis;
use vigil_vault::Secret;

use crate::{Store, StoreError};

/// What the vault check seals (its value is no secret; opening it proves the key).
const CHECK_PLAIN: &[u8] = b"vigil vault check";
const CHECK_CONTEXT: &str = "vault-check";

impl Store {
    /// Proves this node's master key is the one the store's secrets were sealed with: the
    /// first node seals a check value; every later start opens it. On a store from before
    /// the check, an existing login's credential is the proof.
    pub async fn check_master_key(&self) -> Result<(), StoreError> {
        let sealed: Option<String> =
            sqlx::query_scalar("SELECT sealed FROM vault_check WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
        if sealed.is_none() {
            let existing: Option<(String, String)> = sqlx::query(
                "SELECT id, secret_sealed FROM accounts ORDER BY created_at, id LIMIT 1",
            )
            .fetch_optional(&self.pool)
            .await?
            .map(|r| Ok::<_, StoreError>((r.try_get("id")?, r.try_get("secret_sealed")?)))
            .transpose()?;
            if let Some((id, sealed)) = existing {
                vigil_vault::open(&self.master, &crate::targets::secret_context(&id), &sealed)
                    .map_err(|_| StoreError::WrongMasterKey)?;
            }
            let check = vigil_vault::seal(
                &self.master,
                CHECK_CONTEXT,
                &Secret::new(CHECK_PLAIN.to_vec()),
            )?;
            // Two first nodes at once: whichever check lands is the one every node opens.
            sqlx::query("INSERT INTO vault_check (id, sealed, created_at) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING")
                .bind(check)
                .bind(now_millis())
                .execute(&self.pool)
                .await?;
        }
        self.check_master_key_sealed().await
    }

    async fn check_master_key_sealed(&self) -> Result<(), StoreError> {
        let sealed: String = sqlx::query_scalar("SELECT sealed FROM vault_check WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        let opened = vigil_vault::open(&self.master, CHECK_CONTEXT, &sealed)
            .map_err(|_| StoreError::WrongMasterKey)?;
        if opened.expose() == CHECK_PLAIN {
            Ok(())
        } else {
            Err(StoreError::WrongMasterKey)
        }
    }
}
