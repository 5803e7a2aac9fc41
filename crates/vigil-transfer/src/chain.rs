//! Running a policy's plugins over one file.

use std::time::{Duration, Instant};

use crate::plugin::{Plugin, Verdict};
use crate::spool::Spooled;

/// What the chain decided, for the operator and the evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    /// The plugin that refused (none when every plugin allowed).
    pub plugin: Option<String>,
    pub took: Duration,
}

/// Runs `plugins` in order over `file`: the first refusal decides; a plugin that fails or
/// exceeds its timeout refuses the file (fail closed), naming what went wrong.
pub async fn decide(plugins: &[Box<dyn Plugin>], file: &Spooled) -> Decision {
    let started = Instant::now();
    for plugin in plugins {
        let verdict = match tokio::time::timeout(plugin.timeout(), plugin.check(file)).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => Verdict::Deny(format!("the {} check failed: {e}", plugin.name())),
            Err(_) => Verdict::Deny(format!(
                "the {} check took longer than {} s",
                plugin.name(),
                plugin.timeout().as_secs()
            )),
        };
        if let Verdict::Deny(_) = verdict {
            return Decision {
                verdict,
                plugin: Some(plugin.name().to_owned()),
                took: started.elapsed(),
            };
        }
    }
    Decision {
        verdict: Verdict::Allow,
        plugin: None,
        took: started.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use vigil_core::Direction;

    use super::*;
    use crate::plugin::{BoxFuture, PluginError};
    use crate::spool::Spool;

    struct Fixed(&'static str, Result<Verdict, &'static str>, Duration);

    impl Plugin for Fixed {
        fn name(&self) -> &str {
            self.0
        }
        fn check<'a>(&'a self, _: &'a Spooled) -> BoxFuture<'a, Result<Verdict, PluginError>> {
            Box::pin(async move {
                tokio::time::sleep(self.2).await;
                self.1.clone().map_err(|e| PluginError::Failed(e.into()))
            })
        }
        fn timeout(&self) -> Duration {
            Duration::from_millis(200)
        }
    }

    async fn file() -> (tempfile::TempDir, Spooled) {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path());
        let mut w = spool.writer("/srv/a.txt", Direction::Upload).await.unwrap();
        w.write_at(0, b"hello").await.unwrap();
        (dir, w.finish().await.unwrap())
    }

    #[tokio::test]
    async fn the_first_refusal_decides_and_failures_refuse() {
        let (_d, f) = file().await;
        let ok = |n| Box::new(Fixed(n, Ok(Verdict::Allow), Duration::ZERO)) as Box<dyn Plugin>;
        let no = |n| {
            Box::new(Fixed(n, Ok(Verdict::Deny("no".into())), Duration::ZERO)) as Box<dyn Plugin>
        };
        let d = decide(&[ok("a"), ok("b")], &f).await;
        assert_eq!((d.verdict, d.plugin), (Verdict::Allow, None));
        let d = decide(&[ok("a"), no("b"), no("c")], &f).await;
        assert_eq!(
            (d.verdict, d.plugin.as_deref()),
            (Verdict::Deny("no".into()), Some("b"))
        );
        let broken =
            Box::new(Fixed("scan", Err("socket closed"), Duration::ZERO)) as Box<dyn Plugin>;
        let d = decide(&[broken], &f).await;
        assert_eq!(
            d.verdict,
            Verdict::Deny("the scan check failed: socket closed".into())
        );
        let slow =
            Box::new(Fixed("slow", Ok(Verdict::Allow), Duration::from_secs(5))) as Box<dyn Plugin>;
        let d = decide(&[slow], &f).await;
        assert!(matches!(d.verdict, Verdict::Deny(r) if r.contains("took longer")));
        assert_eq!(decide(&[], &f).await.verdict, Verdict::Allow);
    }
}
