//! User accounts in the database.

use crate::db::{Db, Select};
use crate::error::ApiResult;
use crate::models::{Role, User};

#[derive(sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub password_hash: String,
    pub role: String,
    pub avatar_url: Option<String>,
    pub bio: Option<String>,
    pub is_verified: i64,
    pub created_at: String,
}

pub struct Account {
    pub id: String,
    pub username: String,
    pub role: Role,
    pub password_hash: String,
    pub row: UserRow,
}

impl UserRow {
    fn into_account(self) -> Account {
        Account {
            id: self.id.clone(),
            username: self.username.clone(),
            role: Role::parse(&self.role).unwrap_or(Role::Viewer),
            password_hash: self.password_hash.clone(),
            row: self,
        }
    }
}

impl Account {
    /// The public view; `email` only when `show_email` (the account itself or an admin).
    pub fn to_user(&self, show_email: bool) -> User {
        User {
            id: self.id.clone(),
            username: self.username.clone(),
            email: if show_email {
                self.row.email.clone()
            } else {
                None
            },
            role: self.role,
            avatar_url: self.row.avatar_url.clone(),
            bio: self.row.bio.clone(),
            is_streamer: matches!(self.role, Role::Streamer | Role::Admin),
            is_verified: self.row.is_verified != 0,
            created_at: self.row.created_at.clone(),
        }
    }
}

const COLUMNS: &str =
    "id, username, email, password_hash, role, avatar_url, bio, is_verified, created_at";

pub async fn find(db: &Db, id: &str) -> ApiResult<Option<Account>> {
    let row: Option<UserRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&db.pool)
            .await?;
    Ok(row.map(UserRow::into_account))
}

/// Accounts newest first, optionally of one role only.
pub async fn list(db: &Db, role: Option<Role>, limit: i64, offset: i64) -> ApiResult<Vec<Account>> {
    let mut q = Select::from("users", COLUMNS);
    if let Some(r) = role {
        q.and("role = ?", r.as_str());
    }
    let rows: Vec<UserRow> = q.page(db, limit, offset).await?;
    Ok(rows.into_iter().map(UserRow::into_account).collect())
}

/// By username or e-mail address, case-insensitively.
pub async fn find_by_login(db: &Db, login: &str) -> ApiResult<Option<Account>> {
    let row: Option<UserRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM users WHERE LOWER(username) = LOWER($1) OR LOWER(email) = LOWER($1)"
    ))
    .bind(login)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(UserRow::into_account))
}

pub struct NewUser<'a> {
    pub id: &'a str,
    pub username: &'a str,
    pub email: Option<&'a str>,
    pub password_hash: &'a str,
    pub bio: Option<&'a str>,
    pub avatar_url: Option<&'a str>,
    pub role: Role,
}

/// Inserts the account; the very first account of a fresh install becomes its admin, decided in
/// the same statement so two simultaneous first sign-ups cannot both become admin.
pub async fn create(db: &Db, u: NewUser<'_>) -> Result<Account, sqlx::Error> {
    let now = crate::ids::now();
    sqlx::query(
        "INSERT INTO users (id, username, email, password_hash, role, avatar_url, bio, is_verified, created_at, updated_at)
         SELECT $1, $2, $3, $4,
                CASE WHEN EXISTS (SELECT 1 FROM users) THEN $5 ELSE 'admin' END,
                $6, $7, 0, $8, $8",
    )
    .bind(u.id)
    .bind(u.username)
    .bind(u.email)
    .bind(u.password_hash)
    .bind(u.role.as_str())
    .bind(u.avatar_url)
    .bind(u.bio)
    .bind(&now)
    .execute(&db.pool)
    .await?;
    let row: UserRow = sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .bind(u.id)
        .fetch_one(&db.pool)
        .await?;
    Ok(row.into_account())
}

pub async fn set_role(db: &Db, id: &str, role: Role) -> ApiResult<bool> {
    let done = sqlx::query("UPDATE users SET role = $1, updated_at = $2 WHERE id = $3")
        .bind(role.as_str())
        .bind(crate::ids::now())
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected() > 0)
}
