//! One error type for every handler, rendered the way FastAPI clients expect:
//! `{"detail": "..."}`, or for invalid input `{"detail": [{"loc": [...], "msg": ..., "type": ...}]}`
//! so the client sees which field was wrong.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Largest JSON body any endpoint accepts; uploads have their own limit.
pub const MAX_JSON_BODY: usize = 256 * 1024;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    pub loc: Vec<String>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: String,
}

impl FieldError {
    pub fn new(loc: &[&str], msg: impl Into<String>) -> Self {
        Self {
            loc: loc.iter().map(|s| s.to_string()).collect(),
            msg: msg.into(),
            kind: "value_error".into(),
        }
    }

    fn with_kind(mut self, kind: &str) -> Self {
        self.kind = kind.into();
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Locked(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("{0}")]
    Unavailable(String),
    /// Unavailable for now: a limit is reached and frees by itself; sent with `Retry-After`.
    #[error("{0}")]
    Busy(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The `Retry-After` of a `Busy` refusal, in seconds.
pub const RETRY_BUSY_AFTER_SECS: u32 = 5;

impl ApiError {
    pub fn field(loc: &[&str], msg: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(loc, msg)])
    }

    pub fn not_found(what: &str) -> Self {
        ApiError::NotFound(format!("{what} not found"))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Locked(_) => StatusCode::LOCKED,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::Internal(anyhow::Error::new(e).context("database"))
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        ApiError::Internal(anyhow::Error::new(e).context("storage"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let busy = matches!(self, ApiError::Busy(_));
        let body = match &self {
            ApiError::Validation(errors) => serde_json::json!({ "detail": errors }),
            ApiError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error");
                serde_json::json!({ "detail": "internal server error" })
            }
            other => serde_json::json!({ "detail": other.to_string() }),
        };
        let mut resp = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if busy {
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(RETRY_BUSY_AFTER_SECS),
            );
        }
        resp
    }
}

/// Turns a serde failure into a field error whose `loc` is the path of the bad field.
fn serde_field_error<E: std::fmt::Display>(
    root: &str,
    err: serde_path_to_error::Error<E>,
) -> FieldError {
    let path = err.path().to_string();
    let inner = err.inner().to_string();
    let mut loc = vec![root.to_string()];
    // A missing field is reported at the parent with the field's name in the message.
    let missing = inner
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next());
    if path != "." {
        loc.extend(path.split('.').map(str::to_string));
    }
    if let Some(name) = missing {
        loc.push(name.to_string());
        return FieldError::new(&[], "field required")
            .with_kind("missing")
            .with_loc(loc);
    }
    // serde_json appends " at line 1 column 9", which says nothing useful to an API client.
    let msg = match inner.find(" at line ") {
        Some(i) => inner[..i].to_string(),
        None => inner,
    };
    FieldError::new(&[], msg).with_loc(loc)
}

impl FieldError {
    fn with_loc(mut self, loc: Vec<String>) -> Self {
        self.loc = loc;
        self
    }
}

/// A JSON body that rejects with 422 naming the field, like FastAPI.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| {
                ApiError::PayloadTooLarge(format!(
                    "request body too large: at most {MAX_JSON_BODY} bytes"
                ))
            })?;
        if bytes.len() > MAX_JSON_BODY {
            return Err(ApiError::PayloadTooLarge(format!(
                "request body too large: at most {MAX_JSON_BODY} bytes"
            )));
        }
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        match serde_path_to_error::deserialize(de) {
            Ok(v) => Ok(ApiJson(v)),
            Err(e) if e.inner().is_syntax() || e.inner().is_eof() => {
                Err(ApiError::Validation(vec![
                    FieldError::new(&["body"], format!("invalid JSON: {}", e.inner()))
                        .with_kind("json_invalid"),
                ]))
            }
            Err(e) => Err(ApiError::Validation(vec![serde_field_error("body", e)])),
        }
    }
}

/// A query string that rejects with 422 naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| ApiError::Validation(vec![serde_field_error("query", e)]))
    }
}

fn form_urlencoded_parse(q: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(q.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Body {
        title: String,
        max_viewers: Option<u32>,
    }

    #[test]
    fn field_errors_name_the_field() {
        let de = &mut serde_json::Deserializer::from_str(r#"{"title":"x","max_viewers":"lots"}"#);
        let e = serde_path_to_error::deserialize::<_, Body>(de).unwrap_err();
        let f = serde_field_error("body", e);
        assert_eq!(f.loc, vec!["body", "max_viewers"]);

        let de = &mut serde_json::Deserializer::from_str(r#"{"max_viewers":3}"#);
        let e = serde_path_to_error::deserialize::<_, Body>(de).unwrap_err();
        let f = serde_field_error("body", e);
        assert_eq!(f.loc, vec!["body", "title"]);
        assert_eq!(f.msg, "field required");
    }
}
