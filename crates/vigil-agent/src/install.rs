//! Wrappers at the policy paths: installed where a rule wants one, removed where none does.
//!
//! Installing moves the program aside into `ROOT/usr/lib/vigil-agent/orig/PATH` (root's and
//! the agent group's, 0750: the user cannot reach it) and puts a copy of `vigil-rec`, carrying
//! its configuration (see `trailer`), at the path, set-group-id to the agent group. On a real
//! system the move is `dpkg-divert --local --rename`, so a package upgrade puts the new
//! program beside the wrapper, not over it; under a test install root (`--root`) it is a
//! rename. A rule for a symbolic link wraps the program the link resolves to (every name
//! that reaches it is then recorded) and the link's path is what runs are reported under.
//!
//! What it is not: a guard against copies. A copy of the program made before the rule, a
//! hard link to it made before the rule, or the user's own build runs unwrapped.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::unistd::Gid;
use serde::{Deserialize, Serialize};
use vigil_core::AgentPolicy;

use crate::state::{StateError, io_err};
use crate::trailer::{self, WrapperConfig};

/// How the original is moved aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Divert {
    /// `dpkg-divert --local --rename` (the install root is `/`).
    Dpkg,
    /// A plain rename (a test install root).
    Rename,
}

/// A wrapper the agent installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    /// The wrapped path, as the workstation sees it (without the install root).
    pub target: String,
    /// The policy paths it stands for.
    pub paths: Vec<String>,
    /// Where the original is, on disk.
    pub original: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("{path}: {why}")]
    Rule { path: String, why: String },
    #[error("dpkg-divert for {path} failed: {why}")]
    Divert { path: String, why: String },
}

pub struct Installer {
    pub root: PathBuf,
    pub state_dir: PathBuf,
    /// The `vigil-rec` binary copied to each path.
    pub wrapper: PathBuf,
    /// The agent group (None when not running as root: no set-group-id, a test install).
    pub group: Option<Gid>,
    pub divert: Divert,
}

impl Installer {
    fn on_disk(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    fn originals(&self) -> PathBuf {
        self.root.join("usr/lib/vigil-agent/orig")
    }

    /// The path a rule wraps: its own, or for a symbolic link what the link resolves to.
    fn target_of(&self, rule: &AgentPolicy) -> Result<String, InstallError> {
        let path = self.on_disk(&rule.path);
        let bad = |why: String| InstallError::Rule {
            path: rule.path.clone(),
            why,
        };
        let meta =
            std::fs::symlink_metadata(&path).map_err(|e| bad(format!("cannot be wrapped: {e}")))?;
        let is_link = meta.file_type().is_symlink();
        if rule.symlink != is_link {
            return Err(bad(if is_link {
                "is a symbolic link but the rule does not say so: mark the rule \"Is the path a symbolic link?\"".into()
            } else {
                "is not a symbolic link but the rule says it is".into()
            }));
        }
        let resolved = if is_link {
            std::fs::canonicalize(&path).map_err(|e| bad(format!("does not resolve: {e}")))?
        } else {
            path
        };
        if !std::fs::metadata(&resolved).is_ok_and(|m| m.is_file()) {
            return Err(bad("is not a regular file".into()));
        }
        let inside = resolved
            .strip_prefix(&self.root)
            .map_err(|_| bad("resolves outside the install root".into()))?;
        Ok(format!("/{}", inside.display()))
    }

    /// What the rules want: each wrapped path and the policy paths that lead to it.
    pub fn wanted(&self, rules: &[AgentPolicy]) -> (Vec<(String, Vec<String>)>, Vec<InstallError>) {
        let mut wanted: Vec<(String, Vec<String>)> = Vec::new();
        let mut problems = Vec::new();
        for rule in rules.iter().filter(|r| r.enabled && (r.audit || r.record)) {
            // A path that already carries a wrapper is wanted as it is.
            let target = match self.installed_target(&rule.path) {
                Some(t) => Ok(t),
                None => self.target_of(rule),
            };
            match target {
                Ok(target) => match wanted.iter_mut().find(|(t, _)| *t == target) {
                    Some((_, paths)) => {
                        if !paths.contains(&rule.path) {
                            paths.push(rule.path.clone());
                        }
                    }
                    None => wanted.push((target, vec![rule.path.clone()])),
                },
                Err(e) => problems.push(e),
            }
        }
        for (_, paths) in &mut wanted {
            paths.sort();
        }
        (wanted, problems)
    }

    /// A wrapper already at `path` (or what the link there resolves to): its target.
    fn installed_target(&self, path: &str) -> Option<String> {
        let resolved = std::fs::canonicalize(self.on_disk(path)).ok()?;
        let file = std::fs::File::open(&resolved).ok()?;
        trailer::read(file).ok()?;
        let inside = resolved.strip_prefix(&self.root).ok()?;
        Some(format!("/{}", inside.display()))
    }

    /// Brings the wrappers in line with `rules`; returns what is installed now and the
    /// problems met (each names a path and what to do).
    pub fn reconcile(
        &self,
        rules: &[AgentPolicy],
        installed: Vec<Installed>,
    ) -> (Vec<Installed>, Vec<InstallError>) {
        let (wanted, mut problems) = self.wanted(rules);
        let mut now = Vec::new();
        for entry in installed {
            match wanted.iter().find(|(t, _)| *t == entry.target) {
                Some(_) => now.push(entry),
                None => {
                    if let Err(e) = self.uninstall(&entry) {
                        problems.push(e);
                        now.push(entry);
                    }
                }
            }
        }
        for (target, paths) in wanted {
            let current = now.iter().position(|e| e.target == target);
            let intact = current.is_some_and(|i| self.wrapper_intact(&now[i], &paths));
            if intact {
                continue;
            }
            let result = match current {
                Some(i) => self.rewrap(&now[i], &paths).map(|e| now[i] = e),
                None => self.install(&target, &paths).map(|e| now.push(e)),
            };
            if let Err(e) = result {
                problems.push(e);
            }
        }
        (now, problems)
    }

    fn config(&self, original: &Path, paths: &[String]) -> WrapperConfig {
        WrapperConfig {
            state_dir: self.state_dir.clone(),
            paths: paths.to_vec(),
            original: original.to_path_buf(),
        }
    }

    /// The wrapper at the entry's path carries exactly this configuration.
    fn wrapper_intact(&self, entry: &Installed, paths: &[String]) -> bool {
        std::fs::File::open(self.on_disk(&entry.target))
            .ok()
            .and_then(|f| trailer::read(f).ok())
            .is_some_and(|c| c == self.config(&entry.original, paths))
    }

    fn install(&self, target: &str, paths: &[String]) -> Result<Installed, InstallError> {
        let at = self.on_disk(target);
        let originals = self.originals();
        let original = originals.join(target.trim_start_matches('/'));
        self.make_originals_dir(&originals)?;
        if let Some(parent) = original.parent() {
            std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        match self.divert {
            Divert::Dpkg => dpkg_divert(&["--add"], &at, &original)?,
            Divert::Rename => std::fs::rename(&at, &original).map_err(io_err(&at))?,
        }
        let entry = Installed {
            target: target.to_owned(),
            paths: paths.to_vec(),
            original,
        };
        if let Err(e) = self.write_wrapper(&entry) {
            // Put the program back rather than leave the path empty.
            let _ = self.undivert(&entry);
            return Err(e);
        }
        Ok(entry)
    }

    /// A new wrapper at an installed path (its rules changed, or something replaced it).
    fn rewrap(&self, entry: &Installed, paths: &[String]) -> Result<Installed, InstallError> {
        let at = self.on_disk(&entry.target);
        let replaced = std::fs::File::open(&at)
            .ok()
            .is_some_and(|f| trailer::read(f).is_err());
        if replaced {
            // A new program landed on the path itself (an upgrade without dpkg): it is the
            // original now.
            std::fs::rename(&at, &entry.original).map_err(io_err(&at))?;
        }
        let entry = Installed {
            paths: paths.to_vec(),
            ..entry.clone()
        };
        self.write_wrapper(&entry)?;
        Ok(entry)
    }

    fn make_originals_dir(&self, dir: &Path) -> Result<(), InstallError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o750))
            .map_err(io_err(dir))?;
        if let Some(group) = self.group {
            nix::unistd::chown(dir, Some(nix::unistd::Uid::from_raw(0)), Some(group))
                .map_err(|e| io_err(dir)(e.into()))?;
        }
        Ok(())
    }

    fn write_wrapper(&self, entry: &Installed) -> Result<(), InstallError> {
        let at = self.on_disk(&entry.target);
        let mut bytes = std::fs::read(&self.wrapper).map_err(io_err(&self.wrapper))?;
        // A wrapper copied from a wrapper would carry two trailers: strip the old one.
        if let Ok(old) = trailer::read(std::io::Cursor::new(&bytes)) {
            let len = trailer::encode(&old).len();
            bytes.truncate(bytes.len() - len);
        }
        bytes.extend(trailer::encode(&self.config(&entry.original, &entry.paths)));
        let tmp = at.with_extension("vigil-rec.tmp");
        std::fs::write(&tmp, &bytes).map_err(io_err(&tmp))?;
        let mode = match self.group {
            Some(group) => {
                nix::unistd::chown(&tmp, Some(nix::unistd::Uid::from_raw(0)), Some(group))
                    .map_err(|e| io_err(&tmp)(e.into()))?;
                0o2755
            }
            None => 0o755,
        };
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
            .map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, &at).map_err(io_err(&at))?;
        Ok(())
    }

    fn uninstall(&self, entry: &Installed) -> Result<(), InstallError> {
        let at = self.on_disk(&entry.target);
        let ours = std::fs::File::open(&at)
            .ok()
            .is_some_and(|f| trailer::read(f).is_ok());
        if ours {
            std::fs::remove_file(&at).map_err(io_err(&at))?;
        }
        self.undivert(entry)
    }

    fn undivert(&self, entry: &Installed) -> Result<(), InstallError> {
        let at = self.on_disk(&entry.target);
        match self.divert {
            Divert::Dpkg => dpkg_divert(&["--remove"], &at, &entry.original),
            Divert::Rename => {
                if !at.exists() {
                    std::fs::rename(&entry.original, &at).map_err(io_err(&at))?;
                }
                Ok(())
            }
        }
    }
}

fn dpkg_divert(action: &[&str], path: &Path, to: &Path) -> Result<(), InstallError> {
    let out = Command::new("dpkg-divert")
        .args(["--local", "--rename", "--divert"])
        .arg(to)
        .args(action)
        .arg(path)
        .output()
        .map_err(|e| InstallError::Divert {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(InstallError::Divert {
            path: path.display().to_string(),
            why: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use vigil_core::PolicySubject;

    fn rule(name: &str, path: &str, symlink: bool) -> AgentPolicy {
        AgentPolicy {
            name: name.into(),
            enabled: true,
            path: path.into(),
            symlink,
            audit: true,
            record: true,
            subject: PolicySubject::User("alice".into()),
            workstation: None,
        }
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        installer: Installer,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::create_dir_all(root.join("opt/tool")).unwrap();
        std::fs::write(root.join("usr/bin/psql"), b"the real psql").unwrap();
        std::fs::write(root.join("opt/tool/tool"), b"the real tool").unwrap();
        std::os::unix::fs::symlink("../../opt/tool/tool", root.join("usr/bin/tool")).unwrap();
        let wrapper = dir.path().join("vigil-rec");
        std::fs::write(&wrapper, b"\x7fELF the wrapper").unwrap();
        let installer = Installer {
            root,
            state_dir: dir.path().join("state"),
            wrapper,
            group: None,
            divert: Divert::Rename,
        };
        Fixture {
            _dir: dir,
            installer,
        }
    }

    fn config_at(f: &Fixture, path: &str) -> Option<WrapperConfig> {
        let file = std::fs::File::open(f.installer.on_disk(path)).ok()?;
        trailer::read(file).ok()
    }

    #[test]
    fn a_rule_wraps_its_path_and_its_removal_puts_the_program_back() {
        let f = fixture();
        let rules = vec![rule("psql", "/usr/bin/psql", false)];
        let (installed, problems) = f.installer.reconcile(&rules, Vec::new());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(installed.len(), 1);
        let config = config_at(&f, "/usr/bin/psql").unwrap();
        assert_eq!(config.paths, ["/usr/bin/psql"]);
        assert_eq!(std::fs::read(&config.original).unwrap(), b"the real psql");
        assert!(
            config
                .original
                .starts_with(f.installer.root.join("usr/lib/vigil-agent/orig"))
        );
        // Again with the same rules: nothing to do.
        let (again, problems) = f.installer.reconcile(&rules, installed.clone());
        assert!(problems.is_empty());
        assert_eq!(again, installed);
        // The rule gone: the program is back where it was.
        let (none, problems) = f.installer.reconcile(&[], installed);
        assert!(problems.is_empty(), "{problems:?}");
        assert!(none.is_empty());
        let back = std::fs::read(f.installer.on_disk("/usr/bin/psql")).unwrap();
        assert_eq!(back, b"the real psql");
    }

    #[test]
    fn a_symlink_rule_wraps_what_the_link_resolves_to() {
        let f = fixture();
        let rules = vec![rule("tool", "/usr/bin/tool", true)];
        let (installed, problems) = f.installer.reconcile(&rules, Vec::new());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(installed[0].target, "/opt/tool/tool");
        assert_eq!(installed[0].paths, ["/usr/bin/tool"]);
        let link = f.installer.on_disk("/usr/bin/tool");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            config_at(&f, "/usr/bin/tool").unwrap().paths,
            ["/usr/bin/tool"]
        );
        // A second rule on the target itself joins the same wrapper.
        let both = vec![
            rule("tool", "/usr/bin/tool", true),
            rule("t2", "/opt/tool/tool", false),
        ];
        let (installed, problems) = f.installer.reconcile(&both, installed);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(installed.len(), 1);
        assert_eq!(installed[0].paths, ["/opt/tool/tool", "/usr/bin/tool"]);
    }

    #[test]
    fn a_rule_that_disagrees_with_the_file_is_refused_with_what_to_do() {
        let f = fixture();
        let cases = [
            (rule("a", "/usr/bin/tool", false), "mark the rule"),
            (rule("b", "/usr/bin/psql", true), "not a symbolic link"),
            (rule("c", "/usr/bin/missing", false), "cannot be wrapped"),
        ];
        for (r, says) in cases {
            let (installed, problems) = f.installer.reconcile(std::slice::from_ref(&r), Vec::new());
            assert!(installed.is_empty());
            assert_eq!(problems.len(), 1);
            assert!(problems[0].to_string().contains(says), "{}", problems[0]);
        }
        // A disabled rule wants no wrapper.
        let mut off = rule("d", "/usr/bin/psql", false);
        off.enabled = false;
        let (installed, problems) = f.installer.reconcile(&[off], Vec::new());
        assert!(installed.is_empty() && problems.is_empty());
    }

    #[test]
    fn a_program_replaced_over_its_wrapper_becomes_the_original() {
        let f = fixture();
        let rules = vec![rule("psql", "/usr/bin/psql", false)];
        let (installed, _) = f.installer.reconcile(&rules, Vec::new());
        // An upgrade without dpkg-divert writes the new program over the wrapper.
        std::fs::write(f.installer.on_disk("/usr/bin/psql"), b"psql 2").unwrap();
        let (installed, problems) = f.installer.reconcile(&rules, installed);
        assert!(problems.is_empty(), "{problems:?}");
        let config = config_at(&f, "/usr/bin/psql").unwrap();
        assert_eq!(std::fs::read(&config.original).unwrap(), b"psql 2");
        assert_eq!(installed[0].original, config.original);
    }
}
