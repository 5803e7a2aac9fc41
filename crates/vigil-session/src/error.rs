//! Why a session cannot start or open a channel.

use crate::recorder::RecorderError;

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(transparent)]
    Store(#[from] vigil_store::StoreError),
    #[error(transparent)]
    Recorder(#[from] RecorderError),
}
