//! Error-tracking projects created through the admin API: a numeric id (the last part of
//! the DSN), a unique slug, a display name and the DSN public key. Projects declared in
//! the configuration are not stored here; the caller keeps the two apart.

use serde::{Deserialize, Serialize};

use crate::StateError;

/// Longest slug accepted.
pub const MAX_SLUG_LEN: usize = 64;
/// Longest display name accepted, in characters.
pub const MAX_NAME_LEN: usize = 200;

/// A stored project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRecord {
    /// The project id (the DSN's path), unique, > 0.
    pub id: u64,
    /// Unique short name: lowercase letters, digits, `-` and `_`.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// The DSN public key, 32 lowercase hex digits.
    pub public_key: String,
    /// When it was created, ms.
    pub created_at: i64,
    /// When it was last changed (created, key rotated, disabled), ms.
    pub updated_at: i64,
    /// When it was deleted through the API; a disabled project accepts no events, keeps
    /// its id and slug reserved, and its stored events stay.
    pub disabled_at: Option<i64>,
}

/// A project to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProject {
    /// The id to give it (the caller picks one free among configured and stored ids).
    pub id: u64,
    /// See [`ProjectRecord::slug`].
    pub slug: String,
    /// See [`ProjectRecord::name`].
    pub name: String,
    /// See [`ProjectRecord::public_key`].
    pub public_key: String,
}

/// Checks a slug: 1 to [`MAX_SLUG_LEN`] characters of `a-z 0-9 - _`. The error names the
/// field `slug`.
pub fn validate_slug(slug: &str) -> Result<(), StateError> {
    if slug.is_empty() {
        return Err(StateError::BadInput("slug: must not be empty".into()));
    }
    if slug.len() > MAX_SLUG_LEN {
        return Err(StateError::BadInput(format!(
            "slug: longer than {MAX_SLUG_LEN} characters"
        )));
    }
    if !slug
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(StateError::BadInput(format!(
            "slug: {slug:?} may hold only lowercase letters, digits, '-' and '_'"
        )));
    }
    Ok(())
}

/// Checks a display name: at most [`MAX_NAME_LEN`] characters, no control characters.
pub fn validate_name(name: &str) -> Result<(), StateError> {
    if name.chars().count() > MAX_NAME_LEN {
        return Err(StateError::BadInput(format!(
            "name: longer than {MAX_NAME_LEN} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(StateError::BadInput(
            "name: must not contain control characters".into(),
        ));
    }
    Ok(())
}

/// Checks a public key: exactly 32 lowercase hexadecimal digits.
pub fn validate_public_key(key: &str) -> Result<(), StateError> {
    if key.len() != 32
        || !key
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(StateError::BadInput(
            "public_key: must be 32 lowercase hexadecimal digits".into(),
        ));
    }
    Ok(())
}

impl NewProject {
    /// Validates every field (errors name the field).
    pub fn validate(&self) -> Result<(), StateError> {
        if self.id == 0 {
            return Err(StateError::BadInput("id: must be greater than 0".into()));
        }
        if i64::try_from(self.id).is_err() {
            return Err(StateError::BadInput("id: too large".into()));
        }
        validate_slug(&self.slug)?;
        validate_name(&self.name)?;
        validate_public_key(&self.public_key)
    }
}
