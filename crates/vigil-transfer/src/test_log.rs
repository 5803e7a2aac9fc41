//! A transfer log for tests: what the relays recorded, in order.

use std::sync::Mutex;

use crate::inspect::{Checked, TransferLog};
use crate::plugin::{BoxFuture, Verdict};
use crate::spool::FileInfo;

/// One decision as recorded: path, allowed, plugin, size, SHA-256.
pub(crate) type Decided = (String, bool, Option<String>, u64, String);

/// What the relay recorded: each decision, then undelivered paths.
#[derive(Default)]
pub(crate) struct Log {
    pub(crate) decided: Mutex<Vec<Decided>>,
    pub(crate) undelivered: Mutex<Vec<(String, String)>>,
    /// SFTP operations as `op path[ -> to][ (failed)]`.
    pub(crate) operations: Mutex<Vec<String>>,
}

impl TransferLog for Log {
    fn decided<'a>(&'a self, c: Checked<'a>) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.decided.lock().unwrap().push((
                c.info.path.clone(),
                c.decision.verdict == Verdict::Allow,
                c.decision.plugin.clone(),
                c.info.size,
                c.info.sha256.clone(),
            ));
            Ok(())
        })
    }
    fn operation<'a>(
        &'a self,
        _: &'a str,
        op: &'a str,
        path: &'a str,
        to: Option<&'a str>,
        error: Option<&'a str>,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.operations.lock().unwrap().push(format!(
                "{op} {path}{}{}",
                to.map(|t| format!(" -> {t}")).unwrap_or_default(),
                if error.is_none() { "" } else { " (failed)" }
            ));
        })
    }
    fn undelivered<'a>(&'a self, _: &'a str, i: &'a FileInfo, why: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.undelivered
                .lock()
                .unwrap()
                .push((i.path.clone(), why.to_owned()));
        })
    }
}
