//! Audited-command rules as the store keeps them. What a pattern means and whether it
//! compiles is `vigil-audit`'s business (checked by the administrative action before it is
//! written); the store keeps the columns and the uniqueness of names.

use sqlx::Row;
use sqlx::any::AnyRow;
use vigil_core::now_millis;

use crate::{Store, StoreError, Tx, check_name, conflict, found};

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RuleRow {
    pub name: String,
    /// `regex`, `command` or `class`.
    pub pattern_kind: String,
    pub pattern: String,
    pub score: i64,
    /// `alert`, `prohibit`, `interrupt` or `deactivate`.
    pub action: String,
    pub enabled: bool,
    /// Where it applies; empty lists: everywhere.
    pub targets: Vec<String>,
    pub logins: Vec<String>,
    pub users: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "name, pattern_kind, pattern, score, action, enabled, targets, logins, users, created_at, updated_at";

fn list(r: &AnyRow, column: &str) -> Result<Vec<String>, StoreError> {
    let text: String = r.try_get(column)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Invalid {
        what: "rule scope",
        why: format!("column {column} holds {text:?}: {e}"),
    })
}

fn row_from(r: &AnyRow) -> Result<RuleRow, StoreError> {
    Ok(RuleRow {
        name: r.try_get("name")?,
        pattern_kind: r.try_get("pattern_kind")?,
        pattern: r.try_get("pattern")?,
        score: r.try_get("score")?,
        action: r.try_get("action")?,
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        targets: list(r, "targets")?,
        logins: list(r, "logins")?,
        users: list(r, "users")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Binds every column but the name and the times, in `COLUMNS` order.
fn bind_fields<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    rule: &'q RuleRow,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    query
        .bind(&rule.pattern_kind)
        .bind(&rule.pattern)
        .bind(rule.score)
        .bind(&rule.action)
        .bind(i64::from(rule.enabled))
        .bind(json(&rule.targets))
        .bind(json(&rule.logins))
        .bind(json(&rule.users))
}

fn json(list: &[String]) -> String {
    serde_json::Value::from(list.to_vec()).to_string()
}

impl Store {
    /// Every rule, by name.
    pub async fn audit_rules(&self) -> Result<Vec<RuleRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM audit_rules ORDER BY name"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_from).collect()
    }

    pub async fn audit_rule(&self, name: &str) -> Result<RuleRow, StoreError> {
        find_rule(&self.pool, name).await
    }
}

impl Tx {
    pub async fn create_audit_rule(&mut self, rule: &RuleRow) -> Result<RuleRow, StoreError> {
        check_name("rule name", &rule.name)?;
        let now = now_millis();
        let query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO audit_rules ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        )))
        .bind(&rule.name);
        bind_fields(query, rule)
            .bind(now)
            .bind(now)
            .execute(&mut *self.conn)
            .await
            .map_err(conflict(format!("rule {}", rule.name)))?;
        self.audit_rule(&rule.name).await
    }

    /// Replaces everything but the name and the creation time.
    pub async fn update_audit_rule(&mut self, rule: &RuleRow) -> Result<RuleRow, StoreError> {
        let query = sqlx::query(
            "UPDATE audit_rules SET pattern_kind = $1, pattern = $2, score = $3, action = $4, enabled = $5, targets = $6, logins = $7, users = $8, updated_at = $9 WHERE name = $10",
        );
        let done = bind_fields(query, rule)
            .bind(now_millis())
            .bind(&rule.name)
            .execute(&mut *self.conn)
            .await?;
        found(done, || format!("rule {}", rule.name))?;
        self.audit_rule(&rule.name).await
    }

    pub async fn delete_audit_rule(&mut self, name: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM audit_rules WHERE name = $1")
            .bind(name)
            .execute(&mut *self.conn)
            .await?;
        found(done, || format!("rule {name}"))
    }

    /// Reads a rule through this transaction's connection.
    pub async fn audit_rule(&mut self, name: &str) -> Result<RuleRow, StoreError> {
        find_rule(&mut *self.conn, name).await
    }
}

/// One rule, on the pool or inside a transaction.
async fn find_rule<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
    name: &str,
) -> Result<RuleRow, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM audit_rules WHERE name = $1"
    )))
    .bind(name)
    .fetch_optional(db)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("rule {name}")))?;
    row_from(&row)
}
