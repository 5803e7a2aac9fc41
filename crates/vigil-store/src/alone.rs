//! Each change of [`Tx`] on its own: a transaction of one change and no evidence, for state
//! that is not an administrative action and for tests. Administrative actions go through the
//! service layer (`vigil_session::Admin`), which records their evidence in the same
//! transaction as the change; an architecture test keeps the API and the CLI off these.

use vigil_core::{
    Account, EndReason, Grant, Role, SecretKind, SessionId, SessionStatus, Target, User, UserKey,
};
use vigil_vault::Secret;

use crate::{ApiToken, ControlCommand, NewSession, SessionRow, Store, StoreError};

macro_rules! alone {
    ($(fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty;)*) => {
        impl Store {
            $(
                #[doc = concat!("[`Tx::", stringify!($name), "`](crate::Tx::", stringify!($name), ") in a transaction of its own, with no evidence.")]
                pub async fn $name(&self, $($arg: $ty),*) -> Result<$ret, StoreError> {
                    let mut tx = self.begin().await?;
                    let out = tx.$name($($arg),*).await?;
                    tx.commit().await?;
                    Ok(out)
                }
            )*
        }
    };
}

alone! {
    fn create_user(name: &str, role: Role, password_hash: Option<&str>) -> User;
    fn set_user_disabled(name: &str, disabled: bool) -> ();
    fn lock_user(name: &str, by: &str, session_id: &str) -> ();
    fn release_user(name: &str) -> Option<String>;
    fn set_user_role(name: &str, role: Role) -> ();
    fn delete_user_key(name: &str, key_id: &str) -> ();
    fn set_user_password(name: &str, password_hash: &str) -> ();
    fn set_user_totp(name: &str, secret: Option<&Secret>) -> ();
    fn add_user_key(name: &str, public_key: &str, fingerprint: &str) -> UserKey;
    fn create_target(name: &str, host: &str, port: u16, host_key: Option<&str>) -> Target;
    fn set_target_host_key(name: &str, host_key: &str) -> ();
    fn create_account(target: &str, login: &str, kind: SecretKind, secret: &Secret) -> Account;
    fn create_grant(user: &str, target: &str, login: Option<&str>, allow_port_forwarding: bool) -> Grant;
    fn set_target_address(name: &str, host: &str, port: u16) -> ();
    fn set_target_disabled(name: &str, disabled: bool) -> ();
    fn set_account_secret(target: &str, login: &str, kind: SecretKind, secret: &Secret) -> ();
    fn delete_account(target: &str, login: &str) -> ();
    fn set_account_elevation(target: &str, login: &str, change: &crate::ElevationChange) -> Account;
    fn elevation_rejected(target: &str, login: &str, now_ms: i64) -> bool;
    fn clear_transfer_policy(scope: &crate::PolicyScope<'_>) -> ();
    fn delete_grant(id: &str) -> ();
    fn delete_target(name: &str) -> ();
    fn mark_purged(session_id: &str) -> ();
    fn remove_node(name: &str) -> crate::NodeState;
    fn interrupt_open_sessions(node: &str, sealer: Option<std::sync::Arc<dyn crate::log_chain::LogSigner>>) -> Vec<SessionRow>;
    fn set_session_auditors(session_id: &str, users: &[String], by: &str) -> ();
    fn set_prevent_purge(session_id: &str, reason: &str, by: &str) -> ();
    fn clear_prevent_purge(session_id: &str) -> ();
    fn create_web_session(user: &User, token_hash: &str, csrf_token: &str, client_addr: &str, expires_at: i64) -> ();
    fn delete_web_session(token_hash: &str) -> ();
    fn delete_web_sessions_of(user: &User) -> ();
    fn create_api_token(user: &User, name: &str, token_hash: &str) -> ApiToken;
    fn delete_api_token(user: &User, id: &str) -> ();
    fn create_session(s: &NewSession) -> ();
    fn set_session_target(id: &SessionId, target: &str, login: &str) -> ();
    fn set_session_recording(id: &SessionId, key: &str) -> ();
    fn set_session_status(id: &SessionId, status: SessionStatus) -> ();
    fn close_session(id: &SessionId, reason: &EndReason, bytes_in: u64, bytes_out: u64) -> ();
    fn enqueue_command(session_id: &str, command: ControlCommand, actor: &str) -> ();
}
