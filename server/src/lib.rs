//! `paas`: a self-hosted, git-push PaaS. The library holds the server (control
//! plane + router) and the CLI client; `main.rs` only parses arguments.

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod db;
pub mod error;
pub mod names;
pub mod router;
pub mod serve;
pub mod state;
pub mod telemetry;
