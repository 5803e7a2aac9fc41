//! The plugin contract: a spooled file in, allow or deny with a reason out.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::spool::Spooled;

/// A plugin's answer in progress.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A plugin's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Refused, and why (told to the operator and logged).
    Deny(String),
}

/// Why a plugin could not decide (the file is refused: fail closed).
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("cannot read the spooled file: {0}")]
    Read(#[from] std::io::Error),
    #[error("{0}")]
    Failed(String),
}

/// One inspection of a whole file. Plugins run in the policy's order; the first `Deny`
/// decides.
pub trait Plugin: Send + Sync {
    /// The name the evidence and the operator's message give.
    fn name(&self) -> &str;

    /// Looks at the file.
    fn check<'a>(&'a self, file: &'a Spooled) -> BoxFuture<'a, Result<Verdict, PluginError>>;

    /// The check's verdict on a name alone (a rename, a symlink), for checks that look at
    /// names; `None` for checks that need the bytes.
    fn check_name(&self, _path: &str) -> Option<Verdict> {
        None
    }

    /// The largest file the check can allow, when it is known before the bytes are (the
    /// size check): a file that grows past it is refused at once, not spooled whole first.
    fn size_limit(&self) -> Option<u64> {
        None
    }

    /// How long the check may take before the file is refused.
    fn timeout(&self) -> Duration {
        Duration::from_secs(60)
    }
}
