//! `vigil-agent status`: what this workstation enforces and what waits in its spool, in words
//! an administrator reads at the terminal.

use std::fmt::Write;
use std::os::unix::net::UnixStream;

use crate::client::Client;
use crate::install::Installed;
use crate::spool::Spool;
use crate::state::{StateDir, StateError, read_json_or_default};

/// The status report; `server` is asked when given (its absence is said, not an error).
pub fn report(
    state: &StateDir,
    spool: &Spool,
    server: Option<&Client>,
) -> Result<String, StateError> {
    let mut out = String::new();
    let enrolment = state.enrolment()?;
    let _ = writeln!(
        out,
        "workstation:  {} (agent {})",
        enrolment.host_name, enrolment.id
    );
    let _ = writeln!(out, "server:       {}", enrolment.server);
    let _ = writeln!(out, "key:          {}", enrolment.fingerprint);
    let approval = match server.map(Client::status) {
        Some(Ok(w)) if w.status == "approved" => "approved".to_owned(),
        Some(Ok(w)) => format!(
            "{}: an administrator approves it with `vigil agent approve {}`",
            w.status, w.host_name
        ),
        Some(Err(e)) => format!("unknown: {e}"),
        None => "not asked".to_owned(),
    };
    let _ = writeln!(out, "approval:     {approval}");
    let service = if UnixStream::connect(state.socket()).is_ok() {
        "running".to_owned()
    } else {
        format!(
            "not running (nothing answers at {})",
            state.socket().display()
        )
    };
    let _ = writeln!(out, "service:      {service}");

    let cache = state.policies()?;
    let _ = writeln!(
        out,
        "\npolicies (revision {}): {}",
        cache.revision,
        cache.policies.len()
    );
    for p in &cache.policies {
        let what = match (p.audit, p.record) {
            (true, true) => "audit+record",
            (false, true) => "record",
            _ => "audit",
        };
        let _ = writeln!(
            out,
            "  {:<20} {:<8} {:<13} {} {}{}{}",
            p.name,
            if p.enabled { "enabled" } else { "disabled" },
            what,
            p.path,
            if p.symlink { "(symlink) " } else { "" },
            match &p.subject {
                vigil_core::PolicySubject::User(u) => format!("user {u}"),
                vigil_core::PolicySubject::Group(g) => format!("group {g}"),
            },
            p.workstation
                .as_deref()
                .map(|w| format!(" on {w}"))
                .unwrap_or_default()
        );
    }

    let wrappers: Vec<Installed> = read_json_or_default(&state.wrappers_file())?;
    let _ = writeln!(out, "\nwrappers: {}", wrappers.len());
    for w in &wrappers {
        let _ = writeln!(
            out,
            "  {} (for {}; original at {})",
            w.target,
            w.paths.join(", "),
            w.original.display()
        );
    }

    let runs = spool.runs();
    let _ = writeln!(
        out,
        "\nspool: {} run(s) waiting, {} KiB of {} MiB",
        runs.len(),
        spool.used() >> 10,
        spool.quota() >> 20
    );
    for run in runs {
        match run.report() {
            Ok(r) => {
                let _ = writeln!(
                    out,
                    "  {} {} by {} ({}), waiting for upload",
                    run.id,
                    r.program,
                    r.user,
                    if r.record { "recorded" } else { "audited" }
                );
            }
            Err(_) => {
                let _ = writeln!(out, "  {} running now", run.id);
            }
        }
    }
    Ok(out)
}
