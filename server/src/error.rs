//! One error type for every handler. It renders as `{"error":{"code","message"}}`
//! with the matching status; 5xx details go to the log, never to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{message}")]
    Validation { field: String, message: String },
    #[error("{0}")]
    Conflict(String),
    /// A rollout did not come up; the running release keeps serving.
    #[error("{0}")]
    DeployFailed(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Held off for a while (the password throttle).
    #[error("{message}")]
    TooManyRequests { message: String, retry_after: u64 },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    /// The database cannot be reached at the moment.
    #[error("the database is unavailable; try again in a moment")]
    DatabaseUnavailable,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(what.into())
    }

    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        Self::Validation { field: field.to_string(), message: message.into() }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::DeployFailed(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Db(e) if crate::db::is_unavailable(e) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Db(_) | Self::Other(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::NotFound(_) => "not_found",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::Validation { .. } => "validation_failed",
            Self::Conflict(_) => "conflict",
            Self::DeployFailed(_) => "deploy_failed",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::DatabaseUnavailable => "database_unavailable",
            Self::Db(e) if crate::db::is_unavailable(e) => "database_unavailable",
            Self::Db(_) | Self::Other(_) => "internal_error",
        }
    }

    /// The message shown to the client: server errors stay generic.
    pub fn public_message(&self) -> String {
        match self {
            Self::Db(e) if crate::db::is_unavailable(e) => Self::DatabaseUnavailable.to_string(),
            Self::Db(_) | Self::Other(_) => "internal server error".to_string(),
            other => other.to_string(),
        }
    }
}

/// The JSON body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable code: bad_request, not_found, unauthorized, forbidden,
    /// validation_failed, conflict, deploy_failed, too_many_requests, payload_too_large,
    /// database_unavailable, internal_error.
    pub code: String,
    pub message: String,
    /// The offending field, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        // An unavailable database is reported once by the health monitor.
        if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(error = ?self, "request failed");
        }
        let field = match &self {
            Self::Validation { field, .. } => Some(field.clone()),
            _ => None,
        };
        let retry_after = match &self {
            Self::TooManyRequests { retry_after, .. } => Some(*retry_after),
            _ => None,
        };
        let body =
            ErrorBody { error: ErrorDetail { code: self.code().to_string(), message: self.public_message(), field } };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"paas\""),
            );
        }
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<axum::extract::rejection::JsonRejection> for AppError {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
        use axum::extract::rejection::JsonRejection::*;
        match rejection {
            JsonDataError(e) => AppError::validation("body", e.body_text()),
            other => AppError::BadRequest(other.body_text()),
        }
    }
}

impl From<crate::db::DbError> for AppError {
    fn from(err: crate::db::DbError) -> Self {
        match err {
            crate::db::DbError::Conflict(message) => AppError::Conflict(message),
            crate::db::DbError::Sql(err) => AppError::Db(err),
        }
    }
}

impl From<axum::extract::rejection::PathRejection> for AppError {
    fn from(rejection: axum::extract::rejection::PathRejection) -> Self {
        AppError::validation("path", rejection.body_text())
    }
}

impl From<axum::extract::rejection::QueryRejection> for AppError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        AppError::validation("query", rejection.body_text())
    }
}
