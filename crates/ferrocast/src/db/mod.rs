//! The database: one `Db` over SQLite (the embedded default) or PostgreSQL, chosen by
//! `DATABASE_URL`. Queries are written once in the SQL both understand (`$1` placeholders, TEXT,
//! BIGINT, DOUBLE PRECISION; booleans as 0/1 and timestamps as RFC 3339 text, which sort
//! correctly as strings), so one behavioural test suite covers both engines.

mod schema;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

/// Turns the seed's SQLAlchemy-style `sqlite:///./file.db` (three slashes, then a path) into the
/// form sqlx reads, creating the file if missing.
fn normalize_url(url: &str) -> (String, Backend) {
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let path = rest.strip_prefix("//").unwrap_or(rest);
        let path = path.strip_prefix('/').unwrap_or(path);
        // `sqlite:////abs/path` keeps its leading slash; `sqlite:///./rel` is relative.
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        let mut out = format!("sqlite://{path}");
        match query {
            Some(q) if q.contains("mode=") => out.push_str(&format!("?{q}")),
            Some(q) => out.push_str(&format!("?{q}&mode=rwc")),
            None if path == ":memory:" => {}
            None => out.push_str("?mode=rwc"),
        }
        (out, Backend::Sqlite)
    } else {
        (url.to_string(), Backend::Postgres)
    }
}

impl Db {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let (url, backend) = normalize_url(url);
        if backend == Backend::Sqlite
            && let Some(parent) = std::path::Path::new(
                url.trim_start_matches("sqlite://")
                    .split('?')
                    .next()
                    .unwrap_or(""),
            )
            .parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating the database folder {}", parent.display()))?;
        }
        let options = AnyConnectOptions::from_str(&url)
            .with_context(|| format!("parsing DATABASE_URL {url:?}"))?;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the one writer; busy_timeout makes a
                        // writer wait for the lock instead of failing at once.
                        conn.execute("PRAGMA journal_mode=WAL").await?;
                        conn.execute("PRAGMA synchronous=NORMAL").await?;
                        conn.execute("PRAGMA busy_timeout=5000").await?;
                        conn.execute("PRAGMA foreign_keys=ON").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .with_context(|| format!("connecting to the database at {url}"))?;
        let db = Db { pool, backend };
        schema::migrate(&db).await.context("migrating the schema")?;
        Ok(db)
    }

    /// A transaction that writes. On SQLite it takes the write lock at its start (`BEGIN
    /// IMMEDIATE`, waiting up to busy_timeout for it): a plain transaction that reads first and
    /// then writes fails at once, whatever busy_timeout says, when another connection wrote in
    /// between (SQLite cannot move its snapshot forward), which turned a like during a
    /// transcoding job's progress updates into a 500.
    pub async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Any>> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

/// Booleans are stored as 0/1 so both engines read them back the same way.
pub fn flag(b: bool) -> i64 {
    i64::from(b)
}

/// Tags are stored as a JSON array in a text column.
pub fn tags_to_db(tags: &[String]) -> String {
    serde_json::to_string(tags).unwrap_or_else(|_| "[]".into())
}

pub fn tags_from_db(raw: &str) -> Vec<String> {
    serde_json::from_str(raw).unwrap_or_default()
}

/// Whether an error is a unique-constraint violation, on either engine.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            d.is_unique_violation()
                || d.code().as_deref() == Some("23505")
                || d.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}

/// A `SELECT ... WHERE` assembled from optional filters, with `$n` placeholders numbered as the
/// conditions are added; every list endpoint filters, hides what the caller may not see, and
/// pages the same way.
pub struct Select {
    sql: String,
    args: Vec<String>,
}

impl Select {
    /// `SELECT {columns} FROM {table}` with no condition yet.
    pub fn from(table: &str, columns: &str) -> Self {
        Self {
            sql: format!("SELECT {columns} FROM {table} WHERE 1 = 1"),
            args: Vec::new(),
        }
    }

    /// Adds ` AND {condition}`, where each `?` in `condition` stands for `value`.
    pub fn and(&mut self, condition: &str, value: &str) -> &mut Self {
        self.args.push(value.to_string());
        let placeholder = format!("${}", self.args.len());
        self.sql.push_str(" AND ");
        self.sql.push_str(&condition.replace('?', &placeholder));
        self
    }

    /// Adds ` AND {condition}` for a condition without values.
    pub fn and_raw(&mut self, condition: &str) -> &mut Self {
        self.sql.push_str(" AND ");
        self.sql.push_str(condition);
        self
    }

    /// Rows hidden by `hidden` (e.g. `is_private = 1`) only for their owner (`owner_column`) or,
    /// with `everything`, an admin.
    pub fn visible_to(
        &mut self,
        hidden: &str,
        owner_column: &str,
        viewer: Option<&str>,
        everything: bool,
    ) -> &mut Self {
        if everything {
            return self;
        }
        match viewer {
            Some(v) => self.and(&format!("(NOT ({hidden}) OR {owner_column} = ?)"), v),
            None => self.and_raw(&format!("NOT ({hidden})")),
        }
    }

    /// Newest first, one page.
    pub async fn page<T>(mut self, db: &Db, limit: i64, offset: i64) -> Result<Vec<T>, sqlx::Error>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        self.sql.push_str(&format!(
            " ORDER BY created_at DESC, id DESC LIMIT {limit} OFFSET {offset}"
        ));
        let mut q = sqlx::query_as::<_, T>(&self.sql);
        for a in &self.args {
            q = q.bind(a);
        }
        q.fetch_all(&db.pool).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read-then-write transaction while another connection commits a write: both succeed,
    /// the other waiting for the lock.
    #[tokio::test]
    async fn a_write_transaction_that_reads_first_survives_a_concurrent_write() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/t.db", dir.path().display());
        let db = Db::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE t (n BIGINT)")
            .execute(&db.pool)
            .await
            .unwrap();
        let mut tx = db.begin_write().await.unwrap();
        let count: i64 = sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM t")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        let other = db.clone();
        let writer = tokio::spawn(async move {
            sqlx::query("INSERT INTO t (n) VALUES (2)")
                .execute(&other.pool)
                .await
        });
        // Time for the other write to reach the database while this transaction is open.
        tokio::time::sleep(Duration::from_millis(200)).await;
        sqlx::query("INSERT INTO t (n) VALUES ($1)")
            .bind(count + 1)
            .execute(&mut *tx)
            .await
            .expect("the write after the read");
        tx.commit().await.unwrap();
        writer
            .await
            .unwrap()
            .expect("the other write, after waiting");
        let rows: Vec<i64> = sqlx::query_scalar("SELECT n FROM t ORDER BY n")
            .fetch_all(&db.pool)
            .await
            .unwrap();
        assert_eq!(rows, vec![1, 2]);
    }

    #[test]
    fn seed_sqlite_url_is_understood() {
        assert_eq!(
            normalize_url("sqlite:///./video_streaming.db"),
            (
                "sqlite://./video_streaming.db?mode=rwc".into(),
                Backend::Sqlite
            )
        );
        assert_eq!(
            normalize_url("sqlite:////tmp/x.db").0,
            "sqlite:///tmp/x.db?mode=rwc"
        );
        assert_eq!(normalize_url("postgres://u@h/db").1, Backend::Postgres);
    }
}
