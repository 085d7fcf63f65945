//! A small JSON client of the REST API that turns error bodies into messages.

use anyhow::{anyhow, Context};
use reqwest::{Method, RequestBuilder};
use serde_json::Value;

use super::credentials::{self, Credentials};

pub struct Client {
    http: reqwest::Client,
    pub server: String,
    auth: Auth,
}

enum Auth {
    Token(String),
    Password { email: String, password: String },
}

impl Client {
    /// A client with the stored (or environment) token.
    pub fn from_credentials() -> anyhow::Result<Self> {
        let Credentials { server, token, .. } = credentials::load()?;
        Ok(Self::new(&server, Auth::Token(token)))
    }

    pub fn with_token(server: &str, token: &str) -> Self {
        Self::new(server, Auth::Token(token.to_string()))
    }

    pub fn with_password(server: &str, email: &str, password: &str) -> Self {
        Self::new(server, Auth::Password { email: email.to_string(), password: password.to_string() })
    }

    fn new(server: &str, auth: Auth) -> Self {
        let http = reqwest::Client::builder()
            .user_agent(concat!("paas-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self { http, server: server.trim_end_matches('/').to_string(), auth }
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self.http.request(method, format!("{}/api/v1{path}", self.server));
        match &self.auth {
            Auth::Token(token) => builder.bearer_auth(token),
            Auth::Password { email, password } => builder.basic_auth(email, Some(password)),
        }
    }

    /// GET a text resource (logs).
    pub async fn get_text(&self, path: &str) -> anyhow::Result<String> {
        let response = self
            .request(Method::GET, path)
            .send()
            .await
            .with_context(|| format!("could not reach the paas server at {}", self.server))?;
        if response.status().is_success() {
            return Ok(response.text().await?);
        }
        Err(self.refusal(response).await)
    }

    /// A streaming GET (server-sent events), returned raw.
    pub async fn get_stream(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        let response = self
            .request(Method::GET, path)
            .send()
            .await
            .with_context(|| format!("could not reach the paas server at {}", self.server))?;
        if !response.status().is_success() {
            return Err(self.refusal(response).await);
        }
        Ok(response)
    }

    /// Open a WebSocket on `path` (HTTP/1.1 upgrade), as a client.
    pub async fn websocket(&self, path: &str) -> anyhow::Result<tokio_tungstenite::WebSocketStream<reqwest::Upgraded>> {
        use base64::Engine;
        let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
        let response = self
            .request(Method::GET, path)
            .header(reqwest::header::CONNECTION, "Upgrade")
            .header(reqwest::header::UPGRADE, "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", key)
            .send()
            .await
            .with_context(|| format!("could not reach the paas server at {}", self.server))?;
        if response.status() != reqwest::StatusCode::SWITCHING_PROTOCOLS {
            return Err(self.refusal(response).await);
        }
        let upgraded = response.upgrade().await.context("the server did not switch to a WebSocket")?;
        let role = tokio_tungstenite::tungstenite::protocol::Role::Client;
        Ok(tokio_tungstenite::WebSocketStream::from_raw_socket(upgraded, role, None).await)
    }

    /// The message of an error answer.
    async fn refusal(&self, response: reqwest::Response) -> anyhow::Error {
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        self.error(status, &body)
    }

    /// The error a refusal with this status and body means.
    fn error(&self, status: reqwest::StatusCode, body: &Value) -> anyhow::Error {
        let message = body
            .pointer("/error/message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("the server answered {status}"));
        if status == reqwest::StatusCode::UNAUTHORIZED && matches!(self.auth, Auth::Token(_)) {
            return anyhow!("{message}; run `paas login` again");
        }
        anyhow!("{message}")
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(self.request(Method::PATCH, path).json(body)).await
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.request(Method::DELETE, path)).await
    }

    /// Ask for a change without waiting for it: the operation (202), or the
    /// finished result when the server answered at once.
    pub async fn start(&self, method: Method, path: &str, body: &Value) -> anyhow::Result<Value> {
        let request = self.request(method.clone(), path).header("prefer", "respond-async");
        let request = if method == Method::DELETE { request } else { request.json(body) };
        self.send(request).await
    }

    async fn send(&self, request: RequestBuilder) -> anyhow::Result<Value> {
        let response =
            request.send().await.with_context(|| format!("could not reach the paas server at {}", self.server))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let body: Value =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        if status.is_success() {
            return Ok(body);
        }
        Err(self.error(status, &body))
    }
}

pub use crate::percent::encode as segment;
