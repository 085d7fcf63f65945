//! What enters the control plane. Before any handler runs, a request's body
//! is read whole (up to `MAX_BODY`; git's are streamed and skipped), so a
//! refused request never leaves an unread body behind that would break the
//! client's kept-alive connection. And no string may carry a NUL byte (which
//! PostgreSQL cannot store) or other control characters: not the URL's path
//! or query, nor a JSON body's strings, nor a form's fields (where tabs and
//! line breaks are text) — they get 422, not a server error.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::error::AppError;

/// The largest body the API and the dashboard read (git streams its own).
pub const MAX_BODY: usize = 2 * 1024 * 1024;

pub async fn guard(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let api = path.starts_with("/api/");
    let query = request.uri().query().unwrap_or("").as_bytes().to_vec();
    if has_control(&crate::percent::decode(path.as_bytes()), false) {
        return refuse(api, "path", "the URL's path contains a control character");
    }
    if has_control(&crate::percent::decode(&query), false) {
        return refuse(api, "query", "the URL's query contains a control character");
    }
    if path.starts_with("/git/") {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        let err = AppError::PayloadTooLarge(format!("the request body is larger than {} MiB", MAX_BODY >> 20));
        return answer(api, err);
    };
    let content_type = parts.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.starts_with("application/json") {
        if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
            if let Some(field) = bad_string(&value, "body") {
                return refuse(api, &field, &format!("{field} contains a NUL byte or a control character"));
            }
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        for pair in bytes.split(|b| *b == b'&') {
            let decoded = crate::percent::decode(pair);
            if has_control(&decoded, true) {
                let name =
                    String::from_utf8_lossy(decoded.split(|b| *b == b'=').next().unwrap_or_default()).into_owned();
                let name = name.chars().filter(|c| !c.is_control()).collect::<String>();
                return refuse(api, &name, &format!("the field {name:?} contains a NUL byte or a control character"));
            }
        }
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// A NUL, or another control character (tabs and line breaks allowed where
/// text may have them).
fn has_control(bytes: &[u8], text: bool) -> bool {
    bytes.iter().any(|&b| b == 0 || ((b < 0x20 || b == 0x7f) && !(text && matches!(b, b'\t' | b'\n' | b'\r'))))
}

/// The first string (key or value) of a JSON document that carries a NUL or
/// a control character other than tab and line breaks: its path.
fn bad_string(value: &Value, at: &str) -> Option<String> {
    match value {
        Value::String(s) => has_control(s.as_bytes(), true).then(|| at.to_string()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| bad_string(v, &format!("{at}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if has_control(k.as_bytes(), false) {
                return Some(format!("{at} key"));
            }
            bad_string(v, &format!("{at}.{k}"))
        }),
        _ => None,
    }
}

fn refuse(api: bool, field: &str, message: &str) -> Response {
    answer(api, AppError::validation(field, message))
}

fn answer(api: bool, err: AppError) -> Response {
    if api {
        err.into_response()
    } else {
        crate::dashboard::DashError(err).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_found_where_they_hide() {
        assert!(has_control(b"a\0b", true));
        assert!(!has_control(b"line one\nline two\tcol", true), "text keeps its breaks");
        assert!(has_control(b"a\nb", false), "not in a URL");
        let body = serde_json::json!({ "name": "ok", "config": { "KEY": "bad\u{0}value" } });
        assert_eq!(bad_string(&body, "body").as_deref(), Some("body.config.KEY"));
        assert_eq!(bad_string(&serde_json::json!({ "pem": "-----BEGIN\nxyz\n" }), "body"), None);
    }
}
