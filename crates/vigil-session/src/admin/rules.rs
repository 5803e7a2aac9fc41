//! Audited-command rules. Each change is checked (a pattern that does not compile is refused
//! with where and why) and written with its evidence; sessions take the rules when they start.

use vigil_audit::rules::{Action, Pattern, Rule, Scope, check};
use vigil_core::EventKind;
use vigil_store::RuleRow;

use super::{Actor, Admin, AdminError};

/// The most a rule may add to a session's risk score.
pub const MAX_SCORE: u32 = 1_000_000;

impl Admin {
    pub async fn add_rule(&self, by: &Actor, rule: &Rule) -> Result<RuleRow, AdminError> {
        validate(rule)?;
        let row = row_of(rule);
        let entry = by.entry(
            EventKind::RuleAdded,
            &rule.name,
            serde_json::json!({ "kind": rule.pattern.kind(), "pattern": rule.pattern.value(), "score": rule.score, "action": rule.action.as_str(), "scope": rule.scope, "enabled": rule.enabled }),
        );
        self.change(entry, async |tx| tx.create_audit_rule(&row).await)
            .await
    }

    /// Changes a rule: `edit` gets it as it is and leaves it as it should be (its name stays).
    pub async fn edit_rule(
        &self,
        by: &Actor,
        name: &str,
        edit: impl FnOnce(&mut Rule),
    ) -> Result<RuleRow, AdminError> {
        let before_row = self.store.audit_rule(name).await?;
        let before = rule_of(&before_row)?;
        let mut after = before.clone();
        edit(&mut after);
        after.name = before.name.clone();
        validate(&after)?;
        let entry = by.entry(
            EventKind::RuleChanged,
            name,
            serde_json::json!({ "before": before, "after": after }),
        );
        let row = row_of(&after);
        self.change(entry, async |tx| tx.update_audit_rule(&row).await)
            .await
    }

    pub async fn remove_rule(&self, by: &Actor, name: &str) -> Result<(), AdminError> {
        let was = rule_of(&self.store.audit_rule(name).await?)?;
        let entry = by.entry(
            EventKind::RuleRemoved,
            name,
            serde_json::json!({ "rule": was }),
        );
        self.change(entry, async |tx| tx.delete_audit_rule(name).await)
            .await
    }
}

fn validate(rule: &Rule) -> Result<(), AdminError> {
    check(&rule.pattern).map_err(|why| {
        AdminError::Invalid(format!(
            "the pattern of rule {} cannot be used:\n{why}",
            rule.name
        ))
    })?;
    if rule.score > MAX_SCORE {
        return Err(AdminError::Invalid(format!(
            "the score of rule {} is {}: use 0 to {MAX_SCORE}",
            rule.name, rule.score
        )));
    }
    Ok(())
}

/// A stored rule as the audit engine reads it.
pub fn rule_of(row: &RuleRow) -> Result<Rule, AdminError> {
    let bad = |why: String| {
        AdminError::Refused(format!(
            "rule {} in the store cannot be read: {why}",
            row.name
        ))
    };
    let pattern =
        Pattern::from_parts(&row.pattern_kind, &row.pattern).map_err(|e| bad(e.reason))?;
    let action = Action::parse(&row.action)
        .ok_or_else(|| bad(format!("unknown action {:?}", row.action)))?;
    Ok(Rule {
        name: row.name.clone(),
        pattern,
        score: u32::try_from(row.score).map_err(|_| bad(format!("score {}", row.score)))?,
        action,
        enabled: row.enabled,
        scope: Scope {
            targets: row.targets.clone(),
            logins: row.logins.clone(),
            users: row.users.clone(),
        },
    })
}

fn row_of(rule: &Rule) -> RuleRow {
    RuleRow {
        name: rule.name.clone(),
        pattern_kind: rule.pattern.kind().to_owned(),
        pattern: rule.pattern.value().to_owned(),
        score: i64::from(rule.score),
        action: rule.action.as_str().to_owned(),
        enabled: rule.enabled,
        targets: rule.scope.targets.clone(),
        logins: rule.scope.logins.clone(),
        users: rule.scope.users.clone(),
        created_at: 0,
        updated_at: 0,
    }
}
