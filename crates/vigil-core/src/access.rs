//! Whether a user may open a session as a login on a target: one pure function.

use crate::{Account, Grant, Permission, Target, User};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessDecision {
    /// Allowed, as this account, with these rights.
    Allow {
        account: Account,
        allow_port_forwarding: bool,
    },
    /// Refused; the text is safe to show the operator.
    Deny(String),
}

/// Decides access to `target` for `user`, who asked for `login` (or the default).
///
/// `accounts` are the target's accounts in creation order; `grants` are the user's grants.
/// The default login is the target's only account, or the first account the user is granted.
pub fn decide_access(
    user: &User,
    target: &Target,
    login: Option<&str>,
    accounts: &[Account],
    grants: &[Grant],
) -> AccessDecision {
    if user.disabled {
        return AccessDecision::Deny(format!("user {} is disabled", user.name));
    }
    if let Some(by) = &user.locked_by {
        return AccessDecision::Deny(format!(
            "user {} was locked by {by} during a session: no new session until an auditor releases you",
            user.name
        ));
    }
    if !user.role.allows(Permission::SessionConnect) {
        return AccessDecision::Deny(format!(
            "user {} (role {}) may not open sessions",
            user.name, user.role
        ));
    }
    if target.disabled {
        return AccessDecision::Deny(format!(
            "target {} is disabled: ask an administrator",
            target.name
        ));
    }
    let grants: Vec<&Grant> = grants.iter().filter(|g| g.target_id == target.id).collect();
    if grants.is_empty() {
        return AccessDecision::Deny(format!(
            "user {} has no access to target {}: ask an administrator for a grant",
            user.name, target.name
        ));
    }
    let granted = |login: &str| {
        grants
            .iter()
            .filter(|g| g.login.as_deref().is_none_or(|l| l == login))
            .map(|g| g.allow_port_forwarding)
            .reduce(|a, b| a || b)
    };
    let chosen = match login {
        Some(login) => match accounts.iter().find(|a| a.login == login) {
            Some(account) => account,
            None => {
                return AccessDecision::Deny(format!(
                    "target {} has no login {login}",
                    target.name
                ));
            }
        },
        None => match accounts.iter().find(|a| granted(&a.login).is_some()) {
            Some(account) => account,
            None if accounts.is_empty() => {
                return AccessDecision::Deny(format!(
                    "target {} has no login configured: ask an administrator",
                    target.name
                ));
            }
            None => {
                return AccessDecision::Deny(format!(
                    "user {} has no access to any login of target {}",
                    user.name, target.name
                ));
            }
        },
    };
    match granted(&chosen.login) {
        Some(allow_port_forwarding) => AccessDecision::Allow {
            account: chosen.clone(),
            allow_port_forwarding,
        },
        None => AccessDecision::Deny(format!(
            "user {} has no access to {}@{}",
            user.name, chosen.login, target.name
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Role, SecretKind};

    fn user(role: Role) -> User {
        User {
            id: "u".into(),
            name: "alice".into(),
            role,
            disabled: false,
            has_password: true,
            has_totp: false,
            created_at: 0,
            locked_by: None,
        }
    }
    fn target() -> Target {
        Target {
            id: "t".into(),
            name: "web01".into(),
            host: "127.0.0.1".into(),
            port: 22,
            host_key: None,
            protocol: "ssh".into(),
            disabled: false,
        }
    }
    fn account(login: &str) -> Account {
        Account {
            sudo_inject: crate::SudoInject::Off,
            sudo_secret: false,
            su_secret: false,
            sudo_blocked: false,
            sudo_ticket_minutes: 15,
            id: login.into(),
            target_id: "t".into(),
            login: login.into(),
            secret_kind: SecretKind::Password,
        }
    }
    fn grant(login: Option<&str>, fwd: bool) -> Grant {
        Grant {
            id: "g".into(),
            user_id: "u".into(),
            target_id: "t".into(),
            login: login.map(Into::into),
            allow_port_forwarding: fwd,
        }
    }
    fn allowed(d: &AccessDecision) -> Option<(&str, bool)> {
        match d {
            AccessDecision::Allow {
                account,
                allow_port_forwarding,
            } => Some((account.login.as_str(), *allow_port_forwarding)),
            AccessDecision::Deny(_) => None,
        }
    }

    #[test]
    fn table() {
        let accounts = [account("root"), account("deploy")];
        let op = user(Role::Operator);
        let t = target();
        type Case<'a> = (
            &'a User,
            Option<&'a str>,
            Vec<Grant>,
            Option<(&'a str, bool)>,
        );
        let cases: Vec<Case<'_>> = vec![
            (&op, None, vec![], None),
            (&op, None, vec![grant(None, false)], Some(("root", false))),
            (
                &op,
                None,
                vec![grant(Some("deploy"), true)],
                Some(("deploy", true)),
            ),
            (&op, Some("root"), vec![grant(Some("deploy"), false)], None),
            (
                &op,
                Some("deploy"),
                vec![grant(None, true)],
                Some(("deploy", true)),
            ),
            (&op, Some("nobody"), vec![grant(None, false)], None),
        ];
        for (u, login, grants, want) in cases {
            let d = decide_access(u, &t, login, &accounts, &grants);
            assert_eq!(allowed(&d), want, "{login:?} {grants:?}");
        }
    }

    #[test]
    fn locked_users_cannot_start_sessions_and_are_told_who_locked_them() {
        let mut u = user(Role::Operator);
        u.locked_by = Some("carol".into());
        let d = decide_access(
            &u,
            &target(),
            None,
            &[account("root")],
            &[grant(None, false)],
        );
        assert!(
            matches!(&d, AccessDecision::Deny(m) if m.contains("locked by carol") && m.contains("releases")),
            "{d:?}"
        );
    }

    #[test]
    fn disabled_users_and_auditors_cannot_connect() {
        let mut u = user(Role::Operator);
        u.disabled = true;
        let d = decide_access(
            &u,
            &target(),
            None,
            &[account("root")],
            &[grant(None, false)],
        );
        assert!(matches!(d, AccessDecision::Deny(m) if m.contains("disabled")));
        let a = user(Role::PamAuditor);
        let d = decide_access(
            &a,
            &target(),
            None,
            &[account("root")],
            &[grant(None, false)],
        );
        assert!(matches!(d, AccessDecision::Deny(m) if m.contains("may not open sessions")));
    }
}
