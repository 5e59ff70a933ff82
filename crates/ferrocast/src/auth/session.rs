//! Browser sessions: the web app signs in with a cookie instead of holding a bearer token, so
//! script on the page (or anything injected into it) never sees the credential.
//!
//! The cookie carries the same signed token a bearer client gets, `HttpOnly` and `SameSite=Lax`
//! (`Secure` when the server's public URL is https). A cookie goes with every request the
//! browser makes to this origin, so writes authenticated by it must also carry `X-CSRF-Token`:
//! an HMAC of the cookie's token that only a page of this origin can read (from the session
//! routes below). A request from another origin that names one in `Origin` is not
//! authenticated by the cookie at all; that also covers WebSocket handshakes, which carry no
//! custom header.

use axum::extract::State;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::users;
use super::{Caller, issue_token, verify_password};
use crate::error::{ApiError, ApiJson, ApiResult};
use crate::state::AppState;

pub const COOKIE: &str = "ferrocast_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/api/auth/session",
        get(current).post(sign_in).delete(sign_out),
    )
}

/// The session token in the request's cookies, if any.
pub fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE && !value.is_empty()).then_some(value)
        })
}

/// Whether a request that names its origin comes from this server's own pages: the origin's
/// host and port are the ones the request was sent to.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest);
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

pub fn csrf_token(state: &AppState, session: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(state.config.jwt_secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(b"ferrocast-csrf\0");
    mac.update(session.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Methods that change nothing, which a page of another site may make the browser send anyway
/// (links, images) and which therefore must never change anything.
pub fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Checks the CSRF header of a write authenticated by the session cookie `session`.
pub fn check_csrf(state: &AppState, headers: &HeaderMap, session: &str) -> ApiResult<()> {
    let sent = headers
        .get(CSRF_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let expected = csrf_token(state, session);
    if bool::from(sent.ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "missing or wrong X-CSRF-Token: a write signed in by the session cookie must send the \
             token GET /api/auth/session hands out"
                .into(),
        ))
    }
}

fn set_cookie(state: &AppState, value: &str, max_age: u64) -> HeaderValue {
    let secure = state
        .config
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    let cookie = format!(
        "{COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&cookie).expect("a token is a valid header value")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    /// A username or an e-mail address.
    username: String,
    password: String,
}

/// Signs in and sets the session cookie; the body names the account and the CSRF token.
async fn sign_in(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SignIn>,
) -> ApiResult<Response> {
    let account = users::find_by_login(&state.db, body.username.trim()).await?;
    let hash = match &account {
        Some(a) => a.password_hash.clone(),
        None => super::routes::dummy_hash().await,
    };
    let ok = verify_password(body.password, hash).await;
    let account = match account {
        Some(a) if ok => a,
        _ => {
            return Err(ApiError::Unauthorized(
                "incorrect username or password".into(),
            ));
        }
    };
    let token = issue_token(&state, &account.id, &account.username, account.role)?;
    let max_age = state.config.jwt_expire_minutes * 60;
    let body = json!({
        "user": account.to_user(true),
        "csrf_token": csrf_token(&state, &token),
        "expires_in": max_age,
    });
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&state, &token, max_age));
    no_store(&mut response);
    Ok(response)
}

/// Who the session cookie signs in, and the CSRF token for its writes; `null`s when there is no
/// valid session (never 401, so a page can ask before anyone signed in).
async fn current(State(state): State<AppState>, caller: Caller, headers: HeaderMap) -> Response {
    let session = cookie_token(&headers).filter(|_| same_origin(&headers));
    let body = match (&caller.user, session) {
        (Some(user), Some(token)) => match users::find(&state.db, &user.id).await {
            Ok(Some(account)) => json!({
                "user": account.to_user(true),
                "csrf_token": csrf_token(&state, token),
            }),
            _ => json!({ "user": null, "csrf_token": null }),
        },
        _ => json!({ "user": null, "csrf_token": null }),
    };
    let mut response = Json(body).into_response();
    no_store(&mut response);
    response
}

/// Ends the browser's session by removing its cookie. Signing out is allowed without the CSRF
/// token: the worst another site can do with it is sign someone out.
async fn sign_out(State(state): State<AppState>) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&state, "", 0));
    response
}

fn no_store(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let h = headers(&[("cookie", "a=1; ferrocast_session=tok.en; b=2")]);
        assert_eq!(cookie_token(&h), Some("tok.en"));
        let h = headers(&[("cookie", "a=1"), ("cookie", "ferrocast_session=x")]);
        assert_eq!(cookie_token(&h), Some("x"));
        let h = headers(&[("cookie", "xferrocast_session=y; ferrocast_session=")]);
        assert_eq!(cookie_token(&h), None);
    }

    #[test]
    fn origins_must_name_the_host_asked() {
        assert!(same_origin(&headers(&[("host", "localhost:8000")])));
        assert!(same_origin(&headers(&[
            ("host", "localhost:8000"),
            ("origin", "http://localhost:8000")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "localhost:8000"),
            ("origin", "http://evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "localhost:8000"),
            ("origin", "http://localhost:8001")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "localhost:8000"),
            ("origin", "null")
        ])));
    }
}
