//! Accounts and access: argon2 password hashes, HS256 JWT bearer tokens, roles, and the rule that
//! decides who the caller is acting as (token in production; the seed's `streamer_id` /
//! `uploader_id` / `creator_id` in development when no token is sent).

pub mod admin;
mod routes;
pub mod session;
pub mod users;

pub use routes::router;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::models::Role;
use crate::state::AppState;

/// Hashes off the async threads: argon2 is deliberately slow.
pub async fn hash_password(password: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
    })
    .await
    .map_err(|e| anyhow::anyhow!(e))?
    .map_err(ApiError::Internal)
}

pub async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub username: String,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
}

pub fn issue_token(
    state: &AppState,
    user_id: &str,
    username: &str,
    role: Role,
) -> ApiResult<String> {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: user_id.to_string(),
        username: username.to_string(),
        role,
        iat: now,
        exp: now + (state.config.jwt_expire_minutes as i64) * 60,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(state.config.jwt_secret.as_bytes()),
    )
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("signing token: {e}")))
}

fn decode_token(state: &AppState, token: &str) -> Option<Claims> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 5;
    jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(state.config.jwt_secret.as_bytes()),
        &validation,
    )
    .ok()
    .map(|d| d.claims)
}

/// The signed-in account behind a request, if a valid bearer token was sent.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: String,
    pub username: String,
    pub role: Role,
}

impl AuthUser {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn can_moderate(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Moderator)
    }
}

/// Who is calling. A malformed or expired token is refused outright (401) rather than treated as
/// anonymous, so a client with a stale token learns about it.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub user: Option<AuthUser>,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = match parts.headers.get(header::AUTHORIZATION) {
            Some(value) => value
                .to_str()
                .ok()
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .map(|t| t.trim().to_string())
                .ok_or_else(|| {
                    ApiError::Unauthorized("expected 'Authorization: Bearer <token>'".into())
                })?,
            None => {
                // Browsers cannot set headers on a WebSocket, so the socket alone takes `?token=`.
                let query_token = parts.uri.path().starts_with("/ws/").then(|| {
                    form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                        .find(|(k, _)| k == "token")
                        .map(|(_, t)| t.into_owned())
                });
                match query_token.flatten() {
                    Some(t) => t,
                    None => return Self::from_session_cookie(parts, state).await,
                }
            }
        };
        let claims = decode_token(state, &token)
            .ok_or_else(|| ApiError::Unauthorized("invalid or expired token".into()))?;
        Self::from_claims(state, &claims)
            .await?
            .ok_or_else(|| ApiError::Unauthorized("the token's account no longer exists".into()))
    }
}

impl Caller {
    /// The web app's caller: a session cookie, honoured only on requests from this server's own
    /// pages, with the CSRF token on writes (see `session`). A cookie that is stale, or whose
    /// account is gone, leaves the caller anonymous rather than failing: the browser sends it
    /// on its own, and the app then simply shows the signed-out state.
    async fn from_session_cookie(parts: &Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(token) = session::cookie_token(&parts.headers) else {
            return Ok(Caller::default());
        };
        if !session::same_origin(&parts.headers) {
            return Ok(Caller::default());
        }
        let Some(claims) = decode_token(state, token) else {
            return Ok(Caller::default());
        };
        if !session::is_safe(&parts.method) {
            session::check_csrf(state, &parts.headers, token)?;
        }
        Ok(Self::from_claims(state, &claims).await?.unwrap_or_default())
    }

    async fn from_claims(state: &AppState, claims: &Claims) -> Result<Option<Self>, ApiError> {
        // The role may have changed since the token was issued; the database is the truth.
        Ok(users::find(&state.db, &claims.sub)
            .await?
            .map(|user| Caller {
                user: Some(AuthUser {
                    id: user.id,
                    username: user.username,
                    role: user.role,
                }),
            }))
    }
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.user.as_ref().is_some_and(AuthUser::is_admin)
    }

    pub fn can_moderate(&self) -> bool {
        self.user.as_ref().is_some_and(AuthUser::can_moderate)
    }

    /// Whether the caller is `owner_id` (or an admin). Without a token nobody is an owner: the
    /// seed's ids are public, so they prove nothing about who is asking.
    pub fn owns(&self, owner_id: &str) -> bool {
        self.user
            .as_ref()
            .is_some_and(|u| u.id == owner_id || u.is_admin())
    }

    /// The id a write acts as. With a token it is the token's account, and a different id in the
    /// request is refused (403), except for admins acting for someone. Without a token it is the
    /// id the request names, which only development mode accepts.
    pub fn acting_as(
        &self,
        state: &AppState,
        claimed: Option<&str>,
        loc: &[&str],
    ) -> ApiResult<String> {
        let claimed = claimed.map(str::trim).filter(|s| !s.is_empty());
        match (&self.user, claimed) {
            (Some(u), Some(c)) if c != u.id && !u.is_admin() => Err(ApiError::Forbidden(format!(
                "{} does not match the signed-in account",
                loc.last().copied().unwrap_or("id")
            ))),
            (Some(u), Some(c)) if u.is_admin() => Ok(c.to_string()),
            (Some(u), _) => Ok(u.id.clone()),
            (None, _) if state.config.requires_tokens() => Err(ApiError::Unauthorized(
                "authentication required: send 'Authorization: Bearer <token>'".into(),
            )),
            (None, Some(c)) => {
                if c.len() > 128 {
                    return Err(ApiError::field(loc, "at most 128 characters"));
                }
                Ok(c.to_string())
            }
            (None, None) => Err(ApiError::Validation(vec![crate::error::FieldError {
                loc: loc.iter().map(|s| s.to_string()).collect(),
                msg: "field required".into(),
                kind: "missing".into(),
            }])),
        }
    }

    /// Checks that the caller acts as `owner_id` (or is an admin) for a write on something it
    /// owns. Someone else gets 403, or 404 when the thing is `hidden` from them, so a private
    /// item's existence is not revealed.
    pub fn require_owner(
        &self,
        state: &AppState,
        claimed: Option<&str>,
        loc: &[&str],
        owner_id: &str,
        what: &str,
        hidden: bool,
    ) -> ApiResult<()> {
        let acting = self.acting_as(state, claimed, loc)?;
        if acting == owner_id || self.is_admin() {
            return Ok(());
        }
        if hidden {
            return Err(ApiError::not_found(what));
        }
        Err(ApiError::Forbidden(format!(
            "only the {}'s owner can do this",
            what.to_lowercase()
        )))
    }

    /// Refuses callers without the role where tokens are in force; in development without a
    /// token the seed's clients have no role and are let through.
    pub fn require_role(&self, state: &AppState, allowed: &[Role]) -> ApiResult<()> {
        match &self.user {
            Some(u) if u.is_admin() || allowed.contains(&u.role) => Ok(()),
            Some(u) => Err(ApiError::Forbidden(format!(
                "role '{}' may not do this (needs {})",
                u.role,
                allowed
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ))),
            None if state.config.requires_tokens() => Err(ApiError::Unauthorized(
                "authentication required: send 'Authorization: Bearer <token>'".into(),
            )),
            None => Ok(()),
        }
    }
}
