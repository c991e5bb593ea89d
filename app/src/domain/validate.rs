//! Parse, don't validate: input from forms, the API and the CLI becomes one of these newtypes or a message a
//! person can act on.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A normalised (trimmed, lower-cased) email address: the identity of a user.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Email(String);

impl Email {
    /// Deliberately shallow: one `@`, something on both sides, a dot in the domain, no spaces. Deliverability is
    /// not ours to judge; mistyped addresses are.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err("email is required".into());
        }
        if email.len() > 254 {
            return Err("email is longer than 254 characters".into());
        }
        let valid = match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            }
            None => false,
        };
        if !valid {
            return Err(format!("'{}' is not an email address", raw.trim()));
        }
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password that meets the policy. Never printed: `Debug` hides it.
#[derive(Clone)]
pub struct NewPassword(String);

impl NewPassword {
    pub const MIN_CHARS: usize = 10;
    /// Argon2 hashes any length, but unbounded input is a cheap way to burn server CPU.
    pub const MAX_BYTES: usize = 1024;

    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.chars().count() < Self::MIN_CHARS {
            return Err(format!("password must have at least {} characters", Self::MIN_CHARS));
        }
        if raw.len() > Self::MAX_BYTES {
            return Err(format!("password must be at most {} bytes", Self::MAX_BYTES));
        }
        if raw.trim().is_empty() {
            return Err("password must not be only spaces".into());
        }
        Ok(NewPassword(raw.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(..)")
    }
}

/// A short human label, e.g. an API key's name ("checkout-service").
pub fn parse_label(what: &str, raw: &str, max_chars: usize) -> Result<String, String> {
    let label = raw.trim();
    if label.is_empty() {
        return Err(format!("{what} is required"));
    }
    if label.chars().count() > max_chars {
        return Err(format!("{what} must be at most {max_chars} characters"));
    }
    if label.chars().any(char::is_control) {
        return Err(format!("{what} must not contain control characters"));
    }
    Ok(label.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised() {
        assert_eq!(Email::parse("  Ana@Shop.Example ").unwrap().as_str(), "ana@shop.example");
    }

    #[test]
    fn malformed_emails_are_refused_with_the_input_named() {
        for bad in ["", "ana", "ana@", "@shop.example", "ana@shop", "a b@shop.example", "a@b@c.de", "ana@.example"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(Email::parse("ana").unwrap_err(), "'ana' is not an email address");
    }

    #[test]
    fn password_policy() {
        assert!(NewPassword::parse("short").is_err());
        assert!(NewPassword::parse("          ").is_err());
        assert!(NewPassword::parse(&"x".repeat(1025)).is_err());
        assert_eq!(NewPassword::parse("correct horse").unwrap().expose(), "correct horse");
        assert_eq!(format!("{:?}", NewPassword::parse("correct horse").unwrap()), "NewPassword(..)");
    }

    #[test]
    fn labels() {
        assert_eq!(parse_label("name", "  checkout ", 10), Ok("checkout".into()));
        assert_eq!(parse_label("name", " ", 10), Err("name is required".into()));
        assert!(parse_label("name", "abcdefghijk", 10).is_err());
        assert!(parse_label("name", "a\nb", 10).is_err());
    }
}
