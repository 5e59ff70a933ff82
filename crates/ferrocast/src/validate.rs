//! Input checks shared by the endpoints; each collects a field error naming where it failed.

use crate::error::{ApiError, ApiResult, FieldError};

#[derive(Default)]
pub struct Checks {
    errors: Vec<FieldError>,
}

pub const MAX_TAGS: usize = 20;
pub const MAX_TAG_LEN: usize = 50;

impl Checks {
    /// Trims `value` and requires `min..=max` characters.
    pub fn text(&mut self, loc: &[&str], value: &str, min: usize, max: usize) -> String {
        let v = value.trim().to_string();
        let n = v.chars().count();
        if n < min {
            self.errors.push(FieldError::new(
                loc,
                if min == 1 {
                    "must not be empty".to_string()
                } else {
                    format!("at least {min} characters")
                },
            ));
        } else if n > max {
            self.errors
                .push(FieldError::new(loc, format!("at most {max} characters")));
        }
        v
    }

    /// An optional text: empty becomes `None`.
    pub fn opt_text(&mut self, loc: &[&str], value: Option<&str>, max: usize) -> Option<String> {
        let v = value.map(str::trim).filter(|s| !s.is_empty())?;
        Some(self.text(loc, v, 1, max))
    }

    /// Tags as the clients send them (a list, or a comma-separated string from a form): trimmed,
    /// empty ones dropped, duplicates removed, bounded in count and length.
    pub fn tags<'a>(
        &mut self,
        loc: &[&str],
        tags: impl IntoIterator<Item = &'a str>,
    ) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for t in tags.into_iter().map(str::trim).filter(|t| !t.is_empty()) {
            if t.chars().count() > MAX_TAG_LEN {
                self.errors.push(FieldError::new(
                    loc,
                    format!("each tag at most {MAX_TAG_LEN} characters"),
                ));
                break;
            }
            if !out.iter().any(|o| o.eq_ignore_ascii_case(t)) {
                out.push(t.to_string());
            }
        }
        if out.len() > MAX_TAGS {
            self.errors
                .push(FieldError::new(loc, format!("at most {MAX_TAGS} tags")));
        }
        out
    }

    pub fn range(&mut self, loc: &[&str], value: i64, min: i64, max: i64) -> i64 {
        if value < min || value > max {
            self.errors.push(FieldError::new(
                loc,
                format!("must be between {min} and {max}"),
            ));
        }
        value
    }

    pub fn fail(&mut self, loc: &[&str], msg: impl Into<String>) {
        self.errors.push(FieldError::new(loc, msg));
    }

    pub fn finish(self) -> ApiResult<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

/// `limit` and `offset` of list endpoints.
pub fn page(limit: Option<i64>, offset: Option<i64>) -> ApiResult<(i64, i64)> {
    let mut c = Checks::default();
    let limit = c.range(&["query", "limit"], limit.unwrap_or(50), 1, 1000);
    let offset = c.range(
        &["query", "offset"],
        offset.unwrap_or(0),
        0,
        i64::from(i32::MAX),
    );
    c.finish()?;
    Ok((limit, offset))
}
