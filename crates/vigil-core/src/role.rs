//! Roles are named bundles of permissions (seed 000); everything is denied unless a role grants it.

use std::fmt;
use std::str::FromStr;

/// One thing a user may do. Names follow the seeds' `PAM.SessionManagement.*` style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Open sessions through the gateway to granted targets.
    SessionConnect,
    /// Watch a session live (`PAM.SessionManagement.Livestream`).
    SessionLivestream,
    /// Play or download a recording (`PAM.SessionManagement.Recording`): its output.
    SessionRecording,
    /// Read a recording's operator-input track too (`PAM.SessionManagement.RecordingInput`):
    /// what was typed, which can hold secrets typed at prompts that echo them.
    SessionRecordingInput,
    /// Read any session's row and log.
    SessionLogs,
    /// End a live session.
    SessionTerminate,
    /// Lock and unlock an operator's interaction.
    SessionLock,
    /// Keep a session from the retention purge.
    SessionPreventPurge,
    /// Assign auditors to a session.
    SessionConfigureAuditors,
    /// Manage users, roles, keys.
    ManageUsers,
    /// Manage targets, logins and access grants.
    ManageTargets,
    /// Manage audit rules and policies.
    ManageRules,
    /// The endpoint manager: enrol and approve workstations, manage the access policies
    /// their agents enforce.
    ManageEndpoints,
    /// Read the log of administrator actions (who watched, played, terminated, changed what).
    ViewAuditLog,
}

impl Permission {
    pub const ALL: [Permission; 14] = [
        Permission::SessionConnect,
        Permission::SessionLivestream,
        Permission::SessionRecording,
        Permission::SessionRecordingInput,
        Permission::SessionLogs,
        Permission::SessionTerminate,
        Permission::SessionLock,
        Permission::SessionPreventPurge,
        Permission::SessionConfigureAuditors,
        Permission::ManageUsers,
        Permission::ManageTargets,
        Permission::ManageRules,
        Permission::ManageEndpoints,
        Permission::ViewAuditLog,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Permission::SessionConnect => "PAM.SessionManagement.Connect",
            Permission::SessionLivestream => "PAM.SessionManagement.Livestream",
            Permission::SessionRecording => "PAM.SessionManagement.Recording",
            Permission::SessionRecordingInput => "PAM.SessionManagement.RecordingInput",
            Permission::SessionLogs => "PAM.SessionManagement.Logs",
            Permission::SessionTerminate => "PAM.SessionManagement.Terminate",
            Permission::SessionLock => "PAM.SessionManagement.Lock",
            Permission::SessionPreventPurge => "PAM.SessionManagement.PreventPurge",
            Permission::SessionConfigureAuditors => "PAM.SessionManagement.ConfigureAuditors",
            Permission::ManageUsers => "PAM.Administration.Users",
            Permission::ManageTargets => "PAM.Administration.Targets",
            Permission::ManageRules => "PAM.Administration.Rules",
            Permission::ManageEndpoints => "GO.EndpointManager.Policies",
            Permission::ViewAuditLog => "PAM.Audit.AdministrationLog",
        }
    }
}

/// The four roles of seed 000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    PamAdministrator,
    PamAuditor,
    SystemAdministrator,
    Operator,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown role {0:?}: use one of pam-administrator, pam-auditor, system-administrator, operator"
)]
pub struct UnknownRole(pub String);

impl Role {
    pub const ALL: [Role; 4] = [
        Role::PamAdministrator,
        Role::PamAuditor,
        Role::SystemAdministrator,
        Role::Operator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::PamAdministrator => "pam-administrator",
            Role::PamAuditor => "pam-auditor",
            Role::SystemAdministrator => "system-administrator",
            Role::Operator => "operator",
        }
    }

    /// Deny by default: a permission is held only if listed here.
    pub fn allows(self, permission: Permission) -> bool {
        use Permission as P;
        match self {
            Role::PamAdministrator => true,
            Role::PamAuditor => matches!(
                permission,
                P::SessionLivestream
                    | P::SessionRecording
                    | P::SessionRecordingInput
                    | P::SessionLogs
                    | P::SessionTerminate
                    | P::SessionLock
                    | P::SessionPreventPurge
                    | P::SessionConfigureAuditors
                    | P::ViewAuditLog
            ),
            Role::SystemAdministrator => matches!(
                permission,
                P::SessionConnect
                    | P::SessionLivestream
                    | P::SessionRecording
                    | P::SessionLogs
                    | P::SessionTerminate
                    | P::SessionLock
                    | P::ManageTargets
            ),
            Role::Operator => matches!(permission, P::SessionConnect),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_deny_by_default() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
        assert!(!Role::Operator.allows(Permission::SessionLivestream));
        assert!(!Role::PamAuditor.allows(Permission::SessionConnect));
        assert!(Role::PamAuditor.allows(Permission::SessionRecording));
        // The input track: PAM Administrator and PAM Auditor only.
        let input: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| r.allows(Permission::SessionRecordingInput))
            .collect();
        assert_eq!(input, [Role::PamAdministrator, Role::PamAuditor]);
        assert!(
            Permission::ALL
                .iter()
                .all(|p| Role::PamAdministrator.allows(*p))
        );
    }
}
