//! The control task of one connection: obeys its session's control messages (terminate,
//! shutdown, recording failed, lock and unlock notices) until the session ends.

use std::sync::Arc;

use vigil_core::EndReason;
use vigil_session::{Control, ControlInbox};

use crate::DISCONNECTED_MESSAGE;
use crate::shared::Shared;

/// Obeys a session's control messages until it ends.
pub(crate) async fn obey(shared: Arc<Shared>, mut inbox: ControlInbox) {
    let reason = loop {
        match inbox.next().await {
            Control::Terminate { by } => {
                shared.set_end(EndReason::TerminatedBy(by));
                break DISCONNECTED_MESSAGE.to_owned();
            }
            Control::Shutdown => {
                shared.set_end(EndReason::NodeShutdown);
                break "vigil: the gateway is shutting down".to_owned();
            }
            Control::RecordingFailed(why) => {
                shared.set_end(EndReason::Error(format!("recording failed: {why}")));
                break format!(
                    "vigil: the session has ended because it can no longer be recorded ({why})"
                );
            }
            Control::End { reason, notice } => {
                shared.set_end(reason);
                break notice;
            }
            // The gate is already closed or open when these arrive: only the notice is left.
            Control::Lock { by } => {
                shared
                    .notify_all(&format!(
                        "vigil: your session was locked by {by}: what you type is not sent until it is unlocked"
                    ))
                    .await;
            }
            Control::Unlock { by } => {
                shared
                    .notify_all(&format!("vigil: your session was unlocked by {by}"))
                    .await;
            }
        }
    };
    shared.disconnect_all(&reason).await;
}
