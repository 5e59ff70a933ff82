//! Word-list moderation for chat and titles (ENABLE_CONTENT_MODERATION rejects, and
//! CHAT_PROFANITY_FILTER masks). Matching is on whole words, case-insensitively, so "class" is
//! not caught by a blocked "ass".

use crate::error::{ApiError, ApiResult};

const BLOCKED: &[&str] = &[
    "spam", "abuse", "fuck", "fucking", "shit", "bitch", "cunt", "asshole", "bastard", "dick",
    "nigger", "faggot", "retard", "whore", "slut",
];

fn is_blocked(word: &str) -> bool {
    let w = word.to_lowercase();
    BLOCKED.contains(&w.as_str())
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

pub fn check_text(loc: &[&str], text: &str) -> ApiResult<()> {
    if words(text).any(is_blocked) {
        return Err(ApiError::field(loc, "contains blocked words"));
    }
    Ok(())
}

/// Replaces each blocked word with asterisks of the same length.
pub fn mask(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if is_blocked(word) {
            out.extend(std::iter::repeat_n('*', word.chars().count()));
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_words_only() {
        assert_eq!(mask("no SPAM here, classy"), "no **** here, classy");
        assert!(check_text(&["m"], "a classic").is_ok());
        assert!(check_text(&["m"], "pure spam!").is_err());
    }
}
