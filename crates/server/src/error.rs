//! The one place where errors become HTTP status codes and response bodies.
//!
//! Four envelopes: Prometheus' (`status`, `errorType`, `error`) for `/api/v1/*`, Strix's
//! (`success: false`, `error: {code, message}`) for `/api/monitoring/*`, Alertmanager's
//! (the message as a JSON string) for `/api/v2/*`, and plain text for the remote-write
//! receiver (Prometheus logs the body of a failed write as text).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use strix_core::ErrorClass;

/// Which response shape the failing endpoint uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    Prometheus,
    Strix,
    /// Alertmanager's v2 API: the body is the message as a JSON string.
    Alertmanager,
    Text,
}

/// An API error: a class (decides the status code), a message for the client, the
/// envelope, and an optional `Retry-After` in seconds.
#[derive(Debug)]
pub struct ApiError {
    pub class: ErrorClass,
    pub message: String,
    pub envelope: Envelope,
    pub retry_after: Option<u64>,
    /// Overrides the class mapping (e.g. 413 for size limits, 401/403 for auth).
    pub status: Option<StatusCode>,
    /// Overrides Prometheus' `errorType` derived from the class (PromQL's `execution`).
    pub prometheus_type: Option<&'static str>,
}

impl ApiError {
    pub fn new(class: ErrorClass, message: impl Into<String>, envelope: Envelope) -> Self {
        ApiError {
            class,
            message: message.into(),
            envelope,
            retry_after: None,
            status: None,
            prometheus_type: None,
        }
    }

    /// A PromQL failure, with Prometheus' `errorType` and status: `bad_data` 400,
    /// `execution` 422, `timeout` 503, `canceled` 499, `unavailable` 503, `internal` 500.
    pub fn query(e: &strix_query::QueryError, envelope: Envelope) -> Self {
        let ty = e.prometheus_type();
        let status = match ty {
            "bad_data" => StatusCode::BAD_REQUEST,
            "execution" => StatusCode::UNPROCESSABLE_ENTITY,
            "timeout" | "unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            "canceled" => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            "not_found" => StatusCode::NOT_FOUND,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut err = Self::new(e.class(), e.to_string(), envelope);
        err.status = Some(status);
        err.prometheus_type = Some(ty);
        if ty == "unavailable" {
            err.retry_after = Some(5);
        }
        err
    }

    /// All query slots are busy: 503 with `Retry-After`, as the client should retry.
    pub fn too_many_queries(envelope: Envelope) -> Self {
        let mut e = Self::new(
            ErrorClass::Unavailable,
            "too many concurrent queries",
            envelope,
        );
        e.retry_after = Some(1);
        e
    }

    pub fn bad_input(message: impl Into<String>, envelope: Envelope) -> Self {
        Self::new(ErrorClass::BadInput, message, envelope)
    }

    pub fn too_large(message: impl Into<String>, envelope: Envelope) -> Self {
        let mut e = Self::new(ErrorClass::Limit, message, envelope);
        e.status = Some(StatusCode::PAYLOAD_TOO_LARGE);
        e
    }

    pub fn overloaded(message: impl Into<String>, envelope: Envelope, retry_after: u64) -> Self {
        let mut e = Self::new(ErrorClass::Limit, message, envelope);
        e.status = Some(StatusCode::TOO_MANY_REQUESTS);
        e.retry_after = Some(retry_after);
        e
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status.unwrap_or(match self.class {
            ErrorClass::BadInput => StatusCode::BAD_REQUEST,
            ErrorClass::NotFound => StatusCode::NOT_FOUND,
            ErrorClass::Conflict => StatusCode::CONFLICT,
            // A data limit (series, labels) is not retryable: 400 makes senders drop it.
            ErrorClass::Limit => StatusCode::BAD_REQUEST,
            ErrorClass::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorClass::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            ErrorClass::Canceled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            ErrorClass::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        })
    }

    fn prometheus_type(&self) -> &'static str {
        if let Some(t) = self.prometheus_type {
            return t;
        }
        match self.class {
            ErrorClass::BadInput | ErrorClass::Limit => "bad_data",
            ErrorClass::NotFound => "not_found",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Canceled => "canceled",
            ErrorClass::Unavailable => "unavailable",
            ErrorClass::Conflict | ErrorClass::Internal => "internal",
        }
    }

    fn strix_code(&self) -> &'static str {
        match self.status().as_u16() {
            401 => "unauthorized",
            403 => "forbidden",
            413 => "payload_too_large",
            429 => "rate_limited",
            _ => match self.class {
                ErrorClass::BadInput => "bad_request",
                ErrorClass::NotFound => "not_found",
                ErrorClass::Conflict => "conflict",
                ErrorClass::Limit => "limit_exceeded",
                ErrorClass::Unavailable => "unavailable",
                ErrorClass::Timeout => "timeout",
                ErrorClass::Canceled => "canceled",
                ErrorClass::Internal => "internal",
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), error = %self.message, "Request failed.");
        } else {
            tracing::debug!(status = status.as_u16(), error = %self.message, "Request refused.");
        }
        let mut resp = match self.envelope {
            Envelope::Prometheus => (
                status,
                axum::Json(json!({"status": "error", "errorType": self.prometheus_type(), "error": self.message})),
            )
                .into_response(),
            Envelope::Strix => (
                status,
                axum::Json(json!({"success": false, "error": {"code": self.strix_code(), "message": self.message}})),
            )
                .into_response(),
            Envelope::Alertmanager => (status, axum::Json(json!(self.message))).into_response(),
            Envelope::Text => (status, format!("{}\n", self.message)).into_response(),
        };
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

impl From<(strix_core::storage::StorageError, Envelope)> for ApiError {
    fn from((e, env): (strix_core::storage::StorageError, Envelope)) -> Self {
        let mut err = ApiError::new(e.class, e.message, env);
        if e.class == ErrorClass::Unavailable {
            err.retry_after = Some(5);
        }
        err
    }
}

/// Turns a body extraction result into the body or an error in the endpoint's envelope;
/// a body over `limits.max_body_size` is a 413 naming the limit.
pub fn body(
    r: Result<bytes::Bytes, axum::extract::rejection::BytesRejection>,
    limit: usize,
    env: Envelope,
) -> Result<bytes::Bytes, ApiError> {
    r.map_err(|rej| {
        if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(
                format!(
                    "request body too large: the limit is {limit} bytes (limits.max_body_size)"
                ),
                env,
            )
        } else {
            ApiError::bad_input(format!("cannot read request body: {rej}"), env)
        }
    })
}
