//! `ksef-sqlite` — the one schema-migration mechanism of the project's SQLite databases: the
//! emulator's state (`ksef-emulator`) and the accounting program's store (`ksef-store`).
//!
//! A database's schema version is SQLite's `PRAGMA user_version`; a [`Migrations`] list is the
//! whole history of a schema (entry *i* takes version *i* to *i + 1*), compiled into the
//! program. Pending migrations are applied in order inside the caller's transaction, so a
//! database is either fully migrated or untouched, and a database written by a newer program
//! is refused without being modified ([`MigrationError::SchemaTooNew`]).
//!
//! Why not `sqlx::migrate!`: it needs sqlx's proc-macro and `migrate` features (and with them
//! a second `sha2` generation in the dependency tree) and a migrations folder read at build
//! time, for what is a numbered list of SQL scripts here.

use sqlx::SqliteConnection;

/// The ordered schema history of one database.
#[derive(Debug, Clone, Copy)]
pub struct Migrations {
    steps: &'static [&'static str],
}

/// Why a database could not be brought to the current schema.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrationError {
    /// The database was written by a newer program (or its version is not a valid one).
    #[error("schema version {found} is newer than this program supports ({supported})")]
    SchemaTooNew {
        /// The database's `user_version`.
        found: i64,
        /// The newest version this program knows.
        supported: i64,
    },
    /// SQLite reported an error.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl Migrations {
    /// A schema history: `steps[i]` takes a database from version `i` to `i + 1`. Every step
    /// is SQL compiled into the program, never input.
    pub const fn new(steps: &'static [&'static str]) -> Migrations {
        Migrations { steps }
    }

    /// The schema version this program writes.
    pub fn current(&self) -> i64 {
        // A list of SQL scripts compiled into the program never nears i64::MAX.
        i64::try_from(self.steps.len()).unwrap_or(i64::MAX)
    }

    /// The database's schema version.
    pub async fn version(conn: &mut SqliteConnection) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(conn)
            .await
    }

    /// Refuses a version this program does not know.
    pub fn check(&self, version: i64) -> Result<(), MigrationError> {
        if !(0..=self.current()).contains(&version) {
            return Err(MigrationError::SchemaTooNew {
                found: version,
                supported: self.current(),
            });
        }
        Ok(())
    }

    /// Brings the database to [`Migrations::current`] inside `tx`, an open transaction the
    /// caller commits (begin it with `BEGIN IMMEDIATE` when other processes may migrate the
    /// same file). Reads the version under that transaction, so a concurrent migration is
    /// seen. Returns the version found.
    pub async fn apply(&self, tx: &mut SqliteConnection) -> Result<i64, MigrationError> {
        let found = Self::version(tx).await?;
        self.check(found)?;
        let from = usize::try_from(found).unwrap_or(0);
        for (i, sql) in self.steps.iter().enumerate().skip(from) {
            // Both statements are compile-time constants of the program, never input.
            sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
                .execute(&mut *tx)
                .await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "PRAGMA user_version = {}",
                i + 1
            )))
            .execute(&mut *tx)
            .await?;
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection;

    const HISTORY: Migrations = Migrations::new(&[
        "CREATE TABLE a (x INTEGER NOT NULL);",
        "ALTER TABLE a ADD COLUMN y TEXT; CREATE TABLE b (z TEXT);",
    ]);

    async fn connect(path: &std::path::Path) -> sqlx::SqliteConnection {
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        sqlx::SqliteConnection::connect_with(&opts).await.unwrap()
    }

    #[tokio::test]
    async fn applies_pending_steps_once_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut conn = connect(&path).await;
        let mut tx = conn.begin().await.unwrap();
        assert_eq!(HISTORY.apply(&mut tx).await.unwrap(), 0);
        tx.commit().await.unwrap();
        assert_eq!(Migrations::version(&mut conn).await.unwrap(), 2);
        sqlx::query("INSERT INTO a (x, y) VALUES (1, 'v2'); INSERT INTO b VALUES ('z')")
            .execute(&mut conn)
            .await
            .unwrap();
        // Re-running changes nothing (the steps would fail if applied twice).
        let mut tx = conn.begin().await.unwrap();
        assert_eq!(HISTORY.apply(&mut tx).await.unwrap(), 2);
        tx.commit().await.unwrap();
    }

    #[tokio::test]
    async fn continues_from_an_older_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut conn = connect(&path).await;
        let mut tx = conn.begin().await.unwrap();
        Migrations::new(&HISTORY.steps[..1])
            .apply(&mut tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut tx = conn.begin().await.unwrap();
        assert_eq!(HISTORY.apply(&mut tx).await.unwrap(), 1);
        tx.commit().await.unwrap();
        assert_eq!(Migrations::version(&mut conn).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn refuses_a_newer_schema_and_leaves_it_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut conn = connect(&path).await;
        sqlx::raw_sql("PRAGMA user_version = 7")
            .execute(&mut conn)
            .await
            .unwrap();
        let mut tx = conn.begin().await.unwrap();
        let err = HISTORY.apply(&mut tx).await.unwrap_err();
        assert!(matches!(
            err,
            MigrationError::SchemaTooNew {
                found: 7,
                supported: 2
            }
        ));
        drop(tx);
        let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_master")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(tables, 0);
        assert_eq!(Migrations::version(&mut conn).await.unwrap(), 7);
    }
}
