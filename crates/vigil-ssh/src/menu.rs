//! The target menu for `ssh USER@gateway`: lists what the user may reach and reads a choice,
//! echoing and editing the line itself (the operator's terminal is in raw mode).

use russh::{ChannelMsg, ChannelReadHalf};

use crate::pty::PtyRequest;
use crate::shared::{OperatorWrite, Shared};

/// Returns the chosen target and login, or `None` when the operator quits.
pub(crate) async fn choose(
    shared: &Shared,
    rx: &mut ChannelReadHalf,
    tx: &OperatorWrite,
    pty: &mut Option<PtyRequest>,
) -> Option<(String, Option<String>)> {
    let user = shared.user.get()?;
    let store = shared.hub.store();
    let write = |text: String| async move {
        let _ = tx.data_bytes(text.replace('\n', "\r\n").into_bytes()).await;
    };
    let targets = match store.targets_for_user(user).await {
        Ok(targets) => targets,
        Err(e) => {
            tracing::error!(user = %user.name, error = %e, "cannot list targets for the menu");
            write(
                "Vigil: the gateway cannot read its store right now, so your targets cannot be listed: try again in a moment, or tell an administrator.\n"
                    .to_owned(),
            )
            .await;
            return None;
        }
    };
    if targets.is_empty() {
        write(format!(
            "Vigil: {} has no targets yet: ask an administrator for access.\n",
            user.name
        ))
        .await;
        return None;
    }
    let mut listing = format!("Vigil: targets for {}\n", user.name);
    for (i, t) in targets.iter().enumerate() {
        // A store that fails says so; an empty list would claim the target has no logins.
        let logins = match store.accounts(t).await {
            Ok(accounts) => accounts
                .into_iter()
                .map(|a| a.login)
                .collect::<Vec<_>>()
                .join(", "),
            Err(e) => {
                tracing::error!(target = %t.name, error = %e, "cannot list logins for the menu");
                "(logins cannot be read right now)".to_owned()
            }
        };
        listing.push_str(&format!("  {:>2}) {:<24} {}\n", i + 1, t.name, logins));
    }
    write(listing).await;
    const PROMPT: &str =
        "Choose a target by number or name (LOGIN@TARGET for another login, q to quit): ";
    write(PROMPT.into()).await;
    let mut line = String::new();
    loop {
        let msg = rx.wait().await?;
        let data = match msg {
            ChannelMsg::Data { data } => data,
            ChannelMsg::WindowChange {
                col_width,
                row_height,
                ..
            } => {
                if let Some(p) = pty {
                    p.cols = col_width;
                    p.rows = row_height;
                }
                continue;
            }
            ChannelMsg::Eof | ChannelMsg::Close => return None,
            _ => continue,
        };
        for &b in data.iter() {
            match b {
                b'\r' | b'\n' => {
                    write("\n".into()).await;
                    let choice = line.trim().to_owned();
                    line.clear();
                    if choice.eq_ignore_ascii_case("q") {
                        return None;
                    }
                    let (login, name) = match choice.rsplit_once('@') {
                        Some((l, n)) => (Some(l.to_owned()), n.to_owned()),
                        None => (None, choice.clone()),
                    };
                    let by_number = name
                        .parse::<usize>()
                        .ok()
                        .and_then(|n| n.checked_sub(1))
                        .and_then(|i| targets.get(i));
                    match by_number.or_else(|| targets.iter().find(|t| t.name == name)) {
                        Some(t) => return Some((t.name.clone(), login)),
                        None if choice.is_empty() => write(PROMPT.into()).await,
                        None => write(format!("no target {choice:?} in the list\n{PROMPT}")).await,
                    }
                }
                0x03 | 0x04 => {
                    write("\n".into()).await;
                    return None;
                }
                0x7f | 0x08 if line.pop().is_some() => write("\x08 \x08".into()).await,
                0x20..=0x7e if line.len() < 256 => {
                    line.push(char::from(b));
                    let _ = tx.data_bytes(vec![b]).await;
                }
                _ => {}
            }
        }
    }
}
