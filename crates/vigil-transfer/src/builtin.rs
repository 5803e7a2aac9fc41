//! The plugins every policy can use without anything installed: size, name, content and hash
//! lists, and an external command (`command.rs`).

use std::collections::BTreeSet;

use crate::plugin::{BoxFuture, Plugin, PluginError, Verdict};
use crate::spool::Spooled;

mod command;
mod icap;
#[cfg(feature = "yara")]
mod yara;
pub use command::Command;
pub use icap::Icap;
#[cfg(feature = "yara")]
pub use yara::Yara;

/// Refuses files over a size.
pub struct MaxSize(pub u64);

impl Plugin for MaxSize {
    fn name(&self) -> &str {
        "max-size"
    }

    fn size_limit(&self) -> Option<u64> {
        Some(self.0)
    }

    fn check<'a>(&'a self, file: &'a Spooled) -> BoxFuture<'a, Result<Verdict, PluginError>> {
        Box::pin(async move {
            Ok(if file.info.size > self.0 {
                Verdict::Deny(format!(
                    "the file is {} bytes, over the limit of {} bytes",
                    file.info.size, self.0
                ))
            } else {
                Verdict::Allow
            })
        })
    }
}

/// Refuses files whose name ends with one of the extensions (case does not matter; `tar.gz`
/// works as well as `gz`).
pub struct DenyExtensions(BTreeSet<String>);

impl DenyExtensions {
    /// The refused extension `path`'s name ends in, if any.
    fn refused_ending(&self, path: &str) -> Option<&String> {
        let name = path.rsplit('/').next().unwrap_or("").to_lowercase();
        // Trailing dots and spaces are what some systems drop from a name: `x.exe.` is
        // `x.exe` there.
        let name = name.trim_end_matches(['.', ' ']);
        self.0.iter().find(|ext| {
            name.strip_suffix(ext.as_str())
                .is_some_and(|stem| stem.ends_with('.') && stem.len() > 1)
        })
    }

    /// `extensions` with or without their dot.
    pub fn new(extensions: &[String]) -> Self {
        DenyExtensions(
            extensions
                .iter()
                .map(|e| e.trim_start_matches('.').to_lowercase())
                .filter(|e| !e.is_empty())
                .collect(),
        )
    }
}

impl Plugin for DenyExtensions {
    fn name(&self) -> &str {
        "extension"
    }

    fn check<'a>(&'a self, file: &'a Spooled) -> BoxFuture<'a, Result<Verdict, PluginError>> {
        Box::pin(async move {
            let hit = file.info.names().find_map(|path| self.refused_ending(path));
            Ok(match hit {
                Some(ext) => Verdict::Deny(format!("files ending in .{ext} are refused")),
                None => Verdict::Allow,
            })
        })
    }

    fn check_name(&self, path: &str) -> Option<Verdict> {
        Some(match self.refused_ending(path) {
            Some(ext) => Verdict::Deny(format!("files ending in .{ext} are refused")),
            None => Verdict::Allow,
        })
    }
}

/// Refuses files whose bytes say they are of a content type (as `infer` names it: an ELF
/// executable is `application/x-executable`), whatever their name.
pub struct DenyContentTypes(BTreeSet<String>);

/// How much of a file is read to tell its type.
const SNIFF: usize = 8192;

impl DenyContentTypes {
    pub fn new(types: &[String]) -> Self {
        DenyContentTypes(types.iter().map(|t| t.trim().to_lowercase()).collect())
    }
}

impl Plugin for DenyContentTypes {
    fn name(&self) -> &str {
        "content-type"
    }

    fn check<'a>(&'a self, file: &'a Spooled) -> BoxFuture<'a, Result<Verdict, PluginError>> {
        Box::pin(async move {
            let head = file.head(SNIFF).await?;
            Ok(match infer::get(&head) {
                Some(kind) if self.0.contains(kind.mime_type()) => Verdict::Deny(format!(
                    "its content is {} ({}), which is refused",
                    kind.mime_type(),
                    kind.extension()
                )),
                _ => Verdict::Allow,
            })
        })
    }
}

/// Refuses files whose SHA-256 is listed.
pub struct DenySha256(BTreeSet<String>);

impl DenySha256 {
    /// `hashes` in hex, any case.
    pub fn new(hashes: &[String]) -> Self {
        DenySha256(hashes.iter().map(|h| h.trim().to_lowercase()).collect())
    }
}

impl Plugin for DenySha256 {
    fn name(&self) -> &str {
        "sha256"
    }

    fn check<'a>(&'a self, file: &'a Spooled) -> BoxFuture<'a, Result<Verdict, PluginError>> {
        Box::pin(async move {
            Ok(if self.0.contains(&file.info.sha256) {
                Verdict::Deny(format!(
                    "its SHA-256 {} is on the deny list",
                    file.info.sha256
                ))
            } else {
                Verdict::Allow
            })
        })
    }
}

#[cfg(test)]
mod tests;

/// The checks of `policy`, in its order (`timeout`: the external command's and the ICAP
/// service's, per file). A policy naming YARA rules needs a build with the `yara` feature
/// (and rules that compile): otherwise the error says so and its transfers are refused.
pub fn chain_for(
    policy: &vigil_core::TransferPolicy,
    command_timeout: std::time::Duration,
) -> Result<Vec<Box<dyn Plugin>>, String> {
    let mut chain: Vec<Box<dyn Plugin>> = Vec::new();
    if let Some(max) = policy.max_size {
        chain.push(Box::new(MaxSize(max)));
    }
    if !policy.deny_extensions.is_empty() {
        chain.push(Box::new(DenyExtensions::new(&policy.deny_extensions)));
    }
    if !policy.deny_content_types.is_empty() {
        chain.push(Box::new(DenyContentTypes::new(&policy.deny_content_types)));
    }
    if !policy.deny_sha256.is_empty() {
        chain.push(Box::new(DenySha256::new(&policy.deny_sha256)));
    }
    if let Some(program) = &policy.command {
        chain.push(Box::new(Command::new(program, command_timeout)));
    }
    if let Some(rules) = &policy.yara {
        #[cfg(feature = "yara")]
        chain.push(Box::new(Yara::from_file(
            std::path::Path::new(rules),
            command_timeout,
        )?));
        #[cfg(not(feature = "yara"))]
        return Err(format!(
            "the policy names YARA rules ({rules}), and this build of Vigil has no YARA support: build it with `--features yara`"
        ));
    }
    if let Some(url) = &policy.icap {
        chain.push(Box::new(Icap::new(url, command_timeout)?));
    }
    Ok(chain)
}
