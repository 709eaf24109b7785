//! API keys with scopes. Keys are kept only as SHA-256 hashes; a request presents
//! `Authorization: Bearer KEY`.

use sha2::{Digest, Sha256};

/// What a key may do. `Admin` implies the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Ingest,
    Read,
    Admin,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "ingest" => Some(Scope::Ingest),
            "read" => Some(Scope::Read),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }
}

#[derive(Clone)]
pub struct ApiKey {
    pub name: String,
    pub sha256: [u8; 32],
    pub scopes: Vec<Scope>,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl ApiKey {
    /// Builds a key from its plain text (the plain text is not kept).
    pub fn from_plain(name: impl Into<String>, key: &str, scopes: Vec<Scope>) -> Self {
        ApiKey {
            name: name.into(),
            sha256: hash(key),
            scopes,
        }
    }

    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes
            .iter()
            .any(|s| *s == scope || *s == Scope::Admin)
    }
}

pub fn hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Parses a hex SHA-256 digest.
pub fn parse_sha256_hex(s: &str) -> Option<[u8; 32]> {
    let v = hex::decode(s.trim()).ok()?;
    v.try_into().ok()
}

/// The outcome of checking a request.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthResult {
    Allowed,
    /// No or unknown key.
    Unauthenticated,
    /// Known key without the scope.
    Forbidden,
}

/// Checks the `Authorization` header value against `keys` for `scope`. With no keys
/// configured everything is allowed (the binary refuses to listen beyond loopback then).
pub fn check(keys: &[ApiKey], header: Option<&str>, scope: Scope) -> AuthResult {
    if keys.is_empty() {
        return AuthResult::Allowed;
    }
    let Some(token) = header.and_then(|h| {
        h.strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("bearer "))
    }) else {
        return AuthResult::Unauthenticated;
    };
    let digest = hash(token.trim());
    // Compare every key in full so timing does not reveal which prefix matched.
    let found = keys.iter().fold(None, |acc, k| {
        let diff = k
            .sha256
            .iter()
            .zip(digest.iter())
            .fold(0u8, |d, (a, b)| d | (a ^ b));
        if diff == 0 {
            Some(k)
        } else {
            acc
        }
    });
    match found {
        None => AuthResult::Unauthenticated,
        Some(k) if k.allows(scope) => AuthResult::Allowed,
        Some(_) => AuthResult::Forbidden,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_keys() {
        let keys = vec![
            ApiKey::from_plain("w", "writer-key", vec![Scope::Ingest]),
            ApiKey::from_plain("a", "admin-key", vec![Scope::Admin]),
        ];
        assert_eq!(
            check(&keys, Some("Bearer writer-key"), Scope::Ingest),
            AuthResult::Allowed
        );
        assert_eq!(
            check(&keys, Some("Bearer writer-key"), Scope::Read),
            AuthResult::Forbidden
        );
        assert_eq!(
            check(&keys, Some("Bearer admin-key"), Scope::Read),
            AuthResult::Allowed
        );
        assert_eq!(
            check(&keys, Some("Bearer nope"), Scope::Read),
            AuthResult::Unauthenticated
        );
        assert_eq!(check(&keys, None, Scope::Read), AuthResult::Unauthenticated);
        assert_eq!(check(&[], None, Scope::Admin), AuthResult::Allowed);
        assert_eq!(parse_sha256_hex(&hex::encode(hash("x"))), Some(hash("x")));
    }
}
