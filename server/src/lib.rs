//! `paas`: a self-hosted, git-push PaaS. The library holds the server (control
//! plane + router) and the CLI client; `main.rs` only parses arguments.

pub mod addons;
pub mod api;
pub mod auth;
pub mod build;
pub mod changes;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod dashboard;
pub mod db;
pub mod deploy;
pub mod error;
pub mod git;
pub mod guard;
pub mod health;
pub mod http1;
pub mod logs;
pub mod metrics;
pub mod names;
pub mod ops;
pub mod percent;
pub mod progress;
pub mod reconcile;
pub mod repos;
pub mod router;
pub mod runtime;
pub mod serve;
pub mod spill;
pub mod state;
pub mod telemetry;
pub mod tls;
