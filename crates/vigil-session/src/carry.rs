//! Carrying out a passage's actions: the one loop every protocol adapter runs for each chunk,
//! so the adapter only says where bytes and notices go ([`Outlet`]). Holds are waited for
//! here, and what a decision lets through passes the lock gate again.

use std::future::Future;

use bytes::Bytes;

use crate::io::{ChannelIo, Passage};
use crate::recorder::RecorderError;
use crate::stage::Action;

/// Where a channel's traffic goes: the adapter's side of the pipeline.
pub trait Outlet: Sync {
    /// Bytes for the target (forwarded operator input, or injected).
    fn to_target(&self, data: Bytes) -> impl Future<Output = Result<(), Closed>> + Send;
    /// Bytes for the operator (forwarded target output).
    fn to_operator(&self, data: Bytes) -> impl Future<Output = Result<(), Closed>> + Send;
    /// A gateway notice for the operator.
    fn tell(&self, text: String) -> impl Future<Output = ()> + Send;
    /// Ends the session with `reason`, telling the operator `notice`.
    fn end(&self, reason: vigil_core::EndReason, notice: String);
}

/// The other side is gone: stop relaying this channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

/// Why carrying stopped.
#[derive(Debug, thiserror::Error)]
pub enum CarryError {
    #[error("the channel is closed")]
    Closed,
    /// The recording failed: the session ends through its control path.
    #[error(transparent)]
    Recording(#[from] RecorderError),
}

impl From<Closed> for CarryError {
    fn from(_: Closed) -> Self {
        CarryError::Closed
    }
}

impl ChannelIo {
    /// Carries out `passage` in order, waiting for holds; returns once everything it led to
    /// is done (the passage, and with it the gate's permit, is dropped at the end).
    pub async fn carry(
        &self,
        mut passage: Passage,
        outlet: &impl Outlet,
    ) -> Result<(), CarryError> {
        loop {
            let towards_target = passage.is_input();
            for action in passage.take_ready() {
                match action {
                    Action::Forward(data) if towards_target => outlet.to_target(data).await?,
                    Action::Forward(data) => outlet.to_operator(data).await?,
                    Action::Inject(data) => outlet.to_target(data).await?,
                    Action::Tell(text) => outlet.tell(text).await,
                    Action::End { reason, notice } => outlet.end(reason, notice),
                    // Recorded by the pipeline; nothing to send.
                    Action::Mark(_) => {}
                    // The runner stops at a hold; it is never among the ready actions.
                    Action::Hold(_) => {}
                }
            }
            match self.resume(passage).await? {
                Some(next) => passage = next,
                None => return Ok(()),
            }
        }
    }
}
