/// What kind of failure an error is, independent of any transport.
///
/// Every crate's error type has a `class()` returning one of these; the HTTP layer maps
/// classes to status codes in exactly one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The caller sent something invalid; retrying the same input will fail again.
    BadInput,
    /// The named thing does not exist.
    NotFound,
    /// The request conflicts with current state.
    Conflict,
    /// A configured limit was hit (size, series, rate); the input itself may be valid.
    Limit,
    /// The service cannot take the request now (overload, failed disk); retry later.
    Unavailable,
    /// The operation ran out of time.
    Timeout,
    /// The caller went away.
    Canceled,
    /// A bug or an unexpected environment failure.
    Internal,
}
