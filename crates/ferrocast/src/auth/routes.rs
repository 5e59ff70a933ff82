use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::users::{self, NewUser};
use super::{Caller, hash_password, issue_token, verify_password};
use crate::db::is_unique_violation;
use crate::error::{ApiError, ApiJson, ApiResult, FieldError};
use crate::models::Role;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route("/api/auth/me", get(me))
        .route("/api/users/{user_id}", get(get_user))
        .route("/api/users/{user_id}/role", put(set_role))
        .merge(super::session::router())
        .merge(super::admin::router())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    username: String,
    password: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    role: Option<Role>,
    #[serde(default)]
    bio: Option<String>,
    #[serde(default)]
    avatar_url: Option<String>,
}

fn validate_registration(b: &RegisterBody) -> ApiResult<()> {
    let mut errors = Vec::new();
    let name_ok = (3..=32).contains(&b.username.chars().count())
        && b.username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !name_ok {
        errors.push(FieldError::new(
            &["body", "username"],
            "3 to 32 characters: letters, digits, '_', '-' or '.'",
        ));
    }
    let len = b.password.chars().count();
    if !(8..=1024).contains(&len) {
        errors.push(FieldError::new(
            &["body", "password"],
            "8 to 1024 characters",
        ));
    }
    if let Some(e) = &b.email {
        let ok = e.len() <= 254
            && e.split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'));
        if !ok {
            errors.push(FieldError::new(&["body", "email"], "not an e-mail address"));
        }
    }
    if matches!(b.role, Some(Role::Moderator | Role::Admin)) {
        errors.push(FieldError::new(
            &["body", "role"],
            "only 'viewer' or 'streamer' can be chosen at sign-up; an admin grants the others",
        ));
    }
    if b.bio.as_ref().is_some_and(|s| s.chars().count() > 2000) {
        errors.push(FieldError::new(&["body", "bio"], "at most 2000 characters"));
    }
    if b.avatar_url
        .as_ref()
        .is_some_and(|s| s.len() > 2048 || !(s.starts_with("https://") || s.starts_with("http://")))
    {
        errors.push(FieldError::new(
            &["body", "avatar_url"],
            "an http(s) URL of at most 2048 characters",
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

fn token_response(state: &AppState, account: &users::Account) -> ApiResult<Value> {
    let token = issue_token(state, &account.id, &account.username, account.role)?;
    Ok(json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": state.config.jwt_expire_minutes * 60,
        "user": account.to_user(true),
    }))
}

async fn register(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RegisterBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    validate_registration(&body)?;
    let hash = hash_password(body.password.clone()).await?;
    let id = crate::ids::new_id("user");
    let account = users::create(
        &state.db,
        NewUser {
            id: &id,
            username: &body.username,
            email: body.email.as_deref(),
            password_hash: &hash,
            bio: body.bio.as_deref(),
            avatar_url: body.avatar_url.as_deref(),
            role: body.role.unwrap_or(Role::Viewer),
        },
    )
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            ApiError::Conflict("username or email already registered".into())
        } else {
            e.into()
        }
    })?;
    Ok((StatusCode::CREATED, Json(token_response(&state, &account)?)))
}

#[derive(Deserialize)]
struct LoginBody {
    /// A username or an e-mail address.
    username: String,
    password: String,
}

/// A real hash to verify against when the account does not exist, so a wrong username takes as
/// long as a wrong password and does not reveal which accounts exist.
pub(super) async fn dummy_hash() -> String {
    static HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    HASH.get_or_init(|| async {
        hash_password(crate::ids::secret(32))
            .await
            .unwrap_or_default()
    })
    .await
    .clone()
}

async fn login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<LoginBody>,
) -> ApiResult<Json<Value>> {
    let account = users::find_by_login(&state.db, body.username.trim()).await?;
    let hash = match &account {
        Some(a) => a.password_hash.clone(),
        None => dummy_hash().await,
    };
    let ok = verify_password(body.password, hash).await;
    match account {
        Some(a) if ok => Ok(Json(token_response(&state, &a)?)),
        _ => Err(ApiError::Unauthorized(
            "incorrect username or password".into(),
        )),
    }
}

async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let Some(u) = caller.user else {
        return Err(ApiError::Unauthorized("not signed in".into()));
    };
    let account = users::find(&state.db, &u.id)
        .await?
        .ok_or_else(|| ApiError::not_found("User"))?;
    Ok(Json(json!(account.to_user(true))))
}

async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let account = users::find(&state.db, &user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("User"))?;
    Ok(Json(json!(account.to_user(caller.owns(&account.id)))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    role: Role,
}

async fn set_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
    ApiJson(body): ApiJson<RoleBody>,
) -> ApiResult<Json<Value>> {
    match &caller.user {
        None => return Err(ApiError::Unauthorized("not signed in".into())),
        Some(u) if !u.is_admin() => {
            return Err(ApiError::Forbidden("only an admin can change roles".into()));
        }
        Some(_) => {}
    }
    if !users::set_role(&state.db, &user_id, body.role).await? {
        return Err(ApiError::not_found("User"));
    }
    let account = users::find(&state.db, &user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("User"))?;
    Ok(Json(json!(account.to_user(true))))
}
