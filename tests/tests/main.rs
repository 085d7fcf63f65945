//! The end-to-end suite, linked as one test binary: every test starts the real
//! `paas` server against real PostgreSQL, Docker and git. One binary rather
//! than one per file keeps a clean build's link step and its disk use small
//! (each binary would carry its own copy of every dependency).

mod addons;
mod app_names;
mod buildpacks;
mod cli;
mod crash_safety;
mod dashboard;
mod git_push;
mod hardening;
mod identity;
mod isolation;
mod lifecycle;
mod limits;
mod maintenance;
mod metrics;
mod nodes;
mod openapi;
mod private_network;
mod release_phase;
mod rename;
mod router;
mod router_apart;
mod run;
mod self_healing;
mod server_lifecycle;
mod swarm;
mod tls;
mod volumes;
