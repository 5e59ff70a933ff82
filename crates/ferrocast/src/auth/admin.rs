//! Routes for admins: the list of accounts.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::users;
use super::{AuthUser, Caller};
use crate::error::{ApiError, ApiQuery, ApiResult};
use crate::models::{Role, User};
use crate::state::AppState;
use crate::validate::page;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/users", get(list_users))
}

/// The caller, if it is a signed-in admin: 401 without an account, 403 for any other role. Unlike
/// [`Caller::require_role`], development mode lets no one through without a token, since what
/// these routes show (every account's e-mail address, the whole job queue) is nobody else's.
pub fn require_admin(caller: &Caller) -> ApiResult<&AuthUser> {
    match &caller.user {
        None => Err(ApiError::Unauthorized(
            "authentication required: send 'Authorization: Bearer <token>'".into(),
        )),
        Some(u) if !u.is_admin() => Err(ApiError::Forbidden(format!(
            "role '{}' may not do this (needs admin)",
            u.role
        ))),
        Some(u) => Ok(u),
    }
}

#[derive(Deserialize)]
struct UsersQuery {
    role: Option<Role>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// The query is checked only after the caller, so that someone who may not list accounts learns
/// nothing from how a query is refused.
async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<ApiQuery<UsersQuery>, ApiError>,
) -> ApiResult<Json<Vec<User>>> {
    require_admin(&caller)?;
    let ApiQuery(q) = query?;
    let (limit, offset) = page(q.limit, q.offset)?;
    let accounts = users::list(&state.db, q.role, limit, offset).await?;
    Ok(Json(accounts.iter().map(|a| a.to_user(true)).collect()))
}
