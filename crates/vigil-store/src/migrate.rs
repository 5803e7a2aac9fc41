//! Applies each backend's numbered migrations once, in order.

use crate::{Backend, Store, StoreError};

const SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../migrations/sqlite/0002_console.sql")),
    (3, include_str!("../migrations/sqlite/0003_lock.sql")),
    (4, include_str!("../migrations/sqlite/0004_evidence.sql")),
    (5, include_str!("../migrations/sqlite/0005_tracks.sql")),
    (6, include_str!("../migrations/sqlite/0006_rules.sql")),
    (7, include_str!("../migrations/sqlite/0007_siem.sql")),
    (8, include_str!("../migrations/sqlite/0008_elevation.sql")),
    (
        9,
        include_str!("../migrations/sqlite/0009_elevation_breaker.sql"),
    ),
    (
        10,
        include_str!("../migrations/sqlite/0010_transfer_policies.sql"),
    ),
    (11, include_str!("../migrations/sqlite/0011_agents.sql")),
    (
        12,
        include_str!("../migrations/sqlite/0012_endpoint_runs.sql"),
    ),
    (13, include_str!("../migrations/sqlite/0013_node_keys.sql")),
    (14, include_str!("../migrations/sqlite/0014_log_chain.sql")),
    (15, include_str!("../migrations/sqlite/0015_cluster.sql")),
    (16, include_str!("../migrations/sqlite/0016_node_link.sql")),
];
const POSTGRES: &[(i64, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_init.sql")),
    (2, include_str!("../migrations/postgres/0002_console.sql")),
    (3, include_str!("../migrations/postgres/0003_lock.sql")),
    (4, include_str!("../migrations/postgres/0004_evidence.sql")),
    (5, include_str!("../migrations/postgres/0005_tracks.sql")),
    (6, include_str!("../migrations/postgres/0006_rules.sql")),
    (7, include_str!("../migrations/postgres/0007_siem.sql")),
    (8, include_str!("../migrations/postgres/0008_elevation.sql")),
    (
        9,
        include_str!("../migrations/postgres/0009_elevation_breaker.sql"),
    ),
    (
        10,
        include_str!("../migrations/postgres/0010_transfer_policies.sql"),
    ),
    (11, include_str!("../migrations/postgres/0011_agents.sql")),
    (
        12,
        include_str!("../migrations/postgres/0012_endpoint_runs.sql"),
    ),
    (
        13,
        include_str!("../migrations/postgres/0013_node_keys.sql"),
    ),
    (
        14,
        include_str!("../migrations/postgres/0014_log_chain.sql"),
    ),
    (15, include_str!("../migrations/postgres/0015_cluster.sql")),
    (
        16,
        include_str!("../migrations/postgres/0016_node_link.sql"),
    ),
];

pub(crate) async fn run(store: &Store) -> Result<(), StoreError> {
    let steps = match store.backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    };
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .execute(&store.pool)
    .await?;
    for (version, sql) in steps {
        let done: Option<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(*version)
                .fetch_optional(&store.pool)
                .await?;
        if done.is_some() {
            continue;
        }
        let mut tx = store.pool.begin().await?;
        let fail = |source| StoreError::Migrate {
            version: *version,
            source,
        };
        sqlx::raw_sql(*sql).execute(&mut *tx).await.map_err(fail)?;
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(*version)
            .bind(vigil_core::now_millis())
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
    }
    Ok(())
}
