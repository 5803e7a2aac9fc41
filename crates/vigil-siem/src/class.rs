//! What each kind of evidence is in a SIEM: its CEF signature id, its RFC 5424 MSGID, a name
//! and a severity (0-10). One signature per kind, stable (SIEM rules match on them); the
//! match is exhaustive, so a new kind of evidence does not build until it is classified.
//! Kinds that repeat another one for a second log (`locked` beside `session_locked`) are not
//! sent twice: they have no class.

use vigil_core::EventKind as K;

/// A kind of evidence as a SIEM sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Class {
    pub signature: u32,
    pub msgid: &'static str,
    pub name: &'static str,
    pub severity: u8,
}

const fn c(signature: u32, msgid: &'static str, name: &'static str, severity: u8) -> Option<Class> {
    Some(Class {
        signature,
        msgid,
        name,
        severity,
    })
}

/// The class of `kind`; `action` is a command's (`none`, `alert`, `prohibit`, `interrupt`,
/// `deactivate`) and `score` its rules' score, for `command_detected`. `None`: not sent.
pub fn class_of(kind: K, action: &str, score: i64) -> Option<Class> {
    match kind {
        K::Connected => c(1000, "SESSION_START", "Session started", 3),
        K::EndpointRun => c(
            1020,
            "ENDPOINT_RUN",
            "Audited program ran on a workstation",
            4,
        ),
        K::EndpointUploaded => c(
            1021,
            "ENDPOINT_UPLOADED",
            "Workstation recording uploaded",
            2,
        ),
        K::Ended => c(1001, "SESSION_END", "Session ended", 3),
        K::Authenticated => c(1002, "SIGNED_IN", "Signed in to the gateway", 2),
        K::ConnectFailed => c(
            1003,
            "CONNECT_FAILED",
            "Target unreachable or credential refused",
            5,
        ),
        K::HostKeyMismatch => c(1004, "HOST_KEY_MISMATCH", "Target host key mismatch", 8),
        K::ChannelOpened => c(1005, "CHANNEL_OPENED", "Channel opened", 1),
        K::ChannelRefused => c(1006, "CHANNEL_REFUSED", "Channel refused", 4),
        K::ForwardOpened => c(1007, "FORWARD_OPENED", "Port forward opened", 3),
        K::TransferOpened => c(1008, "TRANSFER_OPENED", "File transfer opened", 3),
        K::FileAllowed => c(1010, "FILE_ALLOWED", "File transfer allowed", 3),
        K::FileRefused => c(1011, "FILE_REFUSED", "File transfer refused", 7),
        K::FileUndelivered => c(1012, "FILE_UNDELIVERED", "Allowed file not delivered", 4),
        K::SftpOperation => c(1013, "SFTP_OPERATION", "SFTP operation", 2),
        K::ExitStatus => None,
        K::RecordingFailed => c(
            1009,
            "RECORDING_FAILED",
            "Recording failed, session ended",
            8,
        ),
        K::AuthFailed => c(1100, "LOGIN_FAILURE", "Gateway sign-in failed", 5),
        K::ConsoleLoginFailed => c(1101, "CONSOLE_LOGIN_FAILURE", "Console sign-in failed", 5),
        K::SshLoginBlocked => c(1105, "LOGIN_BLOCKED", "Gateway sign-in rate-limited", 6),
        K::ConsoleLoginBlocked => c(
            1102,
            "CONSOLE_LOGIN_BLOCKED",
            "Console sign-in rate-limited",
            6,
        ),
        K::SignInLimitCleared => c(
            1106,
            "LOGIN_LIMIT_CLEARED",
            "Sign-in rate limit cleared by an administrator",
            5,
        ),
        K::ConsoleLogin => c(1103, "CONSOLE_LOGIN", "Signed in to the console", 2),
        K::ConsoleLogout => c(1104, "CONSOLE_LOGOUT", "Signed out of the console", 1),
        K::CommandDetected => match action {
            "prohibit" => c(2001, "COMMAND_BLOCKED", "Command blocked", 7),
            "interrupt" => c(
                2002,
                "SESSION_INTERRUPTED",
                "Session interrupted by a rule",
                8,
            ),
            "deactivate" => c(
                2003,
                "ACCOUNT_DEACTIVATED",
                "Account deactivated by a rule",
                9,
            ),
            _ => {
                // An audited command's severity follows its score; an unmatched one is info.
                let severity = if action == "alert" {
                    (3 + score / 20).clamp(3, 8) as u8
                } else {
                    1
                };
                c(2000, "COMMAND_DETECTED", "Command detected", severity)
            }
        },
        K::ElevationSupplied => c(
            5000,
            "ELEVATION_SUPPLIED",
            "Elevation password supplied by the gateway",
            5,
        ),
        K::ElevationRejected => c(
            5001,
            "ELEVATION_REJECTED",
            "Vaulted elevation password rejected",
            7,
        ),
        K::ElevationNotAnswered => c(
            5002,
            "ELEVATION_NOT_ANSWERED",
            "Elevation prompt not answered",
            4,
        ),
        K::ElevationAnsweringOff => c(
            5003,
            "ELEVATION_ANSWERING_OFF",
            "Elevation answering turned off for the session",
            5,
        ),
        K::LiveViewStarted => c(3000, "LIVE_VIEW_START", "Live view started", 3),
        K::LiveViewEnded => c(3001, "LIVE_VIEW_END", "Live view ended", 3),
        K::SessionLocked => c(3002, "SESSION_LOCK", "Session locked", 5),
        K::SessionUnlocked => c(3003, "SESSION_UNLOCK", "Session unlocked", 3),
        K::SessionTerminated => c(3004, "SESSION_TERMINATE", "Session terminated", 6),
        K::UserReleased => c(3005, "USER_RELEASED", "Locked user released", 4),
        K::SessionPreventPurge => c(3006, "PREVENT_PURGE", "Session kept from purge", 4),
        K::SessionPreventPurgeLifted => c(3007, "PREVENT_PURGE_LIFTED", "Session purge allowed", 4),
        K::SessionPurged => c(3008, "SESSION_PURGED", "Session purged", 4),
        K::EvidenceLost => c(
            3014,
            "EVIDENCE_LOST",
            "Session evidence lost while the store was unreachable",
            9,
        ),
        K::NodeJoined => c(6500, "NODE_JOINED", "Node joined the cluster", 3),
        K::NodeDown => c(
            6501,
            "NODE_DOWN",
            "Node marked down, its sessions interrupted",
            8,
        ),
        K::NodeLeft => c(6502, "NODE_LEFT", "Node left the cluster", 3),
        K::NodeRemoved => c(6503, "NODE_REMOVED", "Node removed from the cluster", 5),
        K::RecordingPlayed => c(3009, "RECORDING_PLAYED", "Recording played", 3),
        K::RecordingDownloaded => c(3010, "RECORDING_DOWNLOADED", "Recording downloaded", 4),
        K::RecordingExported => c(3011, "RECORDING_EXPORTED", "Recording exported", 4),
        K::KeptFileDownloaded => c(
            3013,
            "KEPT_FILE_DOWNLOADED",
            "Kept transferred file downloaded",
            4,
        ),
        K::SessionAuditorsSet => c(3012, "AUDITORS_SET", "Session auditors set", 4),
        // The session log's copies of what the administration log already says.
        K::Locked | K::Unlocked | K::TerminateRequested => None,
        K::UserAdded => c(6000, "USER_ADDED", "User added", 5),
        K::UserRoleChanged => c(6001, "USER_ROLE_CHANGED", "User role changed", 6),
        K::UserDisabled => c(6002, "USER_DISABLED", "User disabled", 6),
        K::UserEnabled => c(6003, "USER_ENABLED", "User enabled", 5),
        K::PasswordChanged => c(6004, "PASSWORD_CHANGED", "User password changed", 5),
        K::UserKeyAdded => c(6005, "USER_KEY_ADDED", "User SSH key added", 5),
        K::UserKeyRemoved => c(6006, "USER_KEY_REMOVED", "User SSH key removed", 4),
        K::TotpEnrolled => c(6007, "TOTP_ENROLLED", "Second factor enrolled", 4),
        K::TotpRemoved => c(6008, "TOTP_REMOVED", "Second factor removed", 6),
        K::ApiTokenCreated => c(6009, "API_TOKEN_CREATED", "API token created", 5),
        K::ApiTokenRevoked => c(6010, "API_TOKEN_REVOKED", "API token revoked", 4),
        K::TargetAdded => c(6100, "TARGET_ADDED", "Target added", 5),
        K::TargetAddressChanged => c(6101, "TARGET_CHANGED", "Target address changed", 5),
        K::TargetDisabled => c(6102, "TARGET_DISABLED", "Target disabled", 5),
        K::TargetEnabled => c(6103, "TARGET_ENABLED", "Target enabled", 5),
        K::TargetRemoved => c(6104, "TARGET_REMOVED", "Target removed", 6),
        K::AccountAdded => c(6105, "LOGIN_ADDED", "Target login added", 5),
        K::AccountCredentialChanged => c(
            6106,
            "LOGIN_CREDENTIAL_CHANGED",
            "Vaulted credential replaced",
            6,
        ),
        K::AccountElevationChanged => c(
            6108,
            "LOGIN_ELEVATION_CHANGED",
            "Target login elevation changed",
            6,
        ),
        K::AccountRemoved => c(6107, "LOGIN_REMOVED", "Target login removed", 5),
        K::TransferPolicySet => c(6110, "TRANSFER_POLICY_SET", "File-transfer policy set", 6),
        K::TransferPolicyCleared => c(
            6111,
            "TRANSFER_POLICY_CLEARED",
            "File-transfer policy removed",
            6,
        ),
        K::AgentTokenCreated => c(
            6400,
            "AGENT_TOKEN_CREATED",
            "Workstation enrolment token made",
            5,
        ),
        K::AgentEnrolled => c(6401, "AGENT_ENROLLED", "Workstation agent enrolled", 5),
        K::AgentApproved => c(6402, "AGENT_APPROVED", "Workstation approved", 6),
        K::AgentRemoved => c(6403, "AGENT_REMOVED", "Workstation removed", 6),
        K::AgentAlert => c(6404, "AGENT_ALERT", "Workstation agent alert", 8),
        K::AgentPolicyAdded => c(6410, "AGENT_POLICY_ADDED", "Endpoint policy added", 5),
        K::AgentPolicyEnabled => c(6411, "AGENT_POLICY_ENABLED", "Endpoint policy enabled", 5),
        K::AgentPolicyDisabled => c(6412, "AGENT_POLICY_DISABLED", "Endpoint policy disabled", 6),
        K::AgentPolicyRemoved => c(6413, "AGENT_POLICY_REMOVED", "Endpoint policy removed", 6),
        K::AccessGranted => c(6200, "ACCESS_GRANTED", "Access granted", 5),
        K::AccessRevoked => c(6201, "ACCESS_REVOKED", "Access revoked", 5),
        K::RuleAdded => c(6300, "RULE_ADDED", "Audited-command rule added", 5),
        K::RuleChanged => c(6301, "RULE_CHANGED", "Audited-command rule changed", 6),
        K::RuleRemoved => c(6302, "RULE_REMOVED", "Audited-command rule removed", 6),
    }
}

/// The table of `docs/SIEM.md`: every kind of evidence with its signature, MSGID, name and
/// severity (a command's row per action).
pub fn classes_markdown() -> String {
    let mut out = String::from(
        "| evidence kind | CEF signature | RFC 5424 MSGID | name | severity (0-10) |\n|---|---|---|---|---|\n",
    );
    for kind in K::ALL {
        if *kind == K::CommandDetected {
            for (action, severity) in [
                ("none", "1".to_owned()),
                ("alert", "3-8 (3 + score / 20)".to_owned()),
                ("prohibit", String::new()),
                ("interrupt", String::new()),
                ("deactivate", String::new()),
            ] {
                if let Some(c) = class_of(*kind, action, 0) {
                    let sev = if severity.is_empty() {
                        c.severity.to_string()
                    } else {
                        severity
                    };
                    out.push_str(&format!(
                        "| `{}` (action `{action}`) | {} | `{}` | {} | {sev} |\n",
                        kind.as_str(),
                        c.signature,
                        c.msgid,
                        c.name
                    ));
                }
            }
            continue;
        }
        match class_of(*kind, "none", 0) {
            Some(c) => out.push_str(&format!(
                "| `{}` | {} | `{}` | {} | {} |\n",
                kind.as_str(),
                c.signature,
                c.msgid,
                c.name,
                c.severity
            )),
            None => out.push_str(&format!("| `{}` | - | - | not sent | - |\n", kind.as_str())),
        }
    }
    for e in [
        crate::own::dropped_event(0, "", "", 0),
        crate::own::test_event("", "", 0),
    ] {
        out.push_str(&format!(
            "| `{}` (the forwarder's own) | {} | `{}` | {} | {} |\n",
            e.kind, e.signature, e.msgid, e.name, e.severity
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_has_its_own_signature_and_a_valid_msgid() {
        let mut seen = std::collections::HashMap::new();
        let actions = ["none", "alert", "prohibit", "interrupt", "deactivate"];
        for kind in K::ALL {
            for action in actions {
                let Some(class) = class_of(*kind, action, 10) else {
                    continue;
                };
                assert!(class.severity <= 10);
                assert!(
                    !class.msgid.is_empty()
                        && class.msgid.len() <= 32
                        && class.msgid.bytes().all(|b| b.is_ascii_graphic()),
                    "{}",
                    class.msgid
                );
                let other = seen.insert(class.signature, (class.msgid, *kind));
                if let Some((msgid, k)) = other {
                    assert!(
                        msgid == class.msgid && k == *kind,
                        "{} is both {msgid} and {}",
                        class.signature,
                        class.msgid
                    );
                }
            }
        }
        // The kinds the issue names are all sent.
        for k in [
            K::Connected,
            K::Ended,
            K::CommandDetected,
            K::LiveViewStarted,
            K::LiveViewEnded,
            K::SessionLocked,
            K::SessionUnlocked,
            K::UserReleased,
            K::SessionTerminated,
            K::SessionPreventPurge,
            K::SessionPurged,
            K::RecordingPlayed,
            K::RecordingDownloaded,
            K::AuthFailed,
            K::ConsoleLoginFailed,
            K::ConsoleLoginBlocked,
            K::HostKeyMismatch,
            K::UserAdded,
            K::TargetAdded,
            K::AccountAdded,
            K::AccessGranted,
            K::RuleAdded,
        ] {
            assert!(class_of(k, "none", 0).is_some(), "{k:?}");
        }
    }

    #[test]
    fn command_classes_follow_the_action_and_an_alert_its_score() {
        let table = [
            ("none", 0, 2000, 1),
            ("alert", 0, 2000, 3),
            ("alert", 60, 2000, 6),
            ("alert", 1000, 2000, 8),
            ("prohibit", 10, 2001, 7),
            ("interrupt", 10, 2002, 8),
            ("deactivate", 10, 2003, 9),
        ];
        for (action, score, signature, severity) in table {
            let class = class_of(K::CommandDetected, action, score).unwrap();
            assert_eq!(
                (class.signature, class.severity),
                (signature, severity),
                "{action}"
            );
        }
    }
}

#[cfg(test)]
mod doc {
    /// `docs/SIEM.md` holds the table of [`super::classes_markdown`]; `VIGIL_BLESS=1`
    /// rewrites it after a change.
    #[test]
    fn the_siem_document_matches_the_classes() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/SIEM.md");
        let doc = std::fs::read_to_string(&path).unwrap_or_default();
        let table = super::classes_markdown();
        if std::env::var_os("VIGIL_BLESS").is_some() {
            let head = doc
                .split("| evidence kind |")
                .next()
                .unwrap_or(&doc)
                .to_owned();
            std::fs::write(&path, head + &table).unwrap_or_else(|e| panic!("{e}"));
            return;
        }
        assert!(
            doc.contains(&table),
            "docs/SIEM.md differs from the classes: run `VIGIL_BLESS=1 cargo test -p vigil-siem` and review the diff"
        );
    }
}
