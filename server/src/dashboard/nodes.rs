//! The Nodes page (server admins): the machines processes run on, what is
//! placed on each, and draining one (the same operation as
//! `paas nodes:drain`).

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::Form;
use serde::Deserialize;

use super::{render, DashError, DashUser, Layout};
use crate::ops::{self, Actor};
use crate::state::AppState;

/// A node as the page shows it.
struct Row {
    name: String,
    address: String,
    role: String,
    state: String,
    availability: String,
    cpus: String,
    memory: String,
    /// Share of its memory the processes placed on it reserve, 0–100.
    used_percent: u32,
    apps: i64,
}

#[derive(Template)]
#[template(path = "nodes.html")]
struct NodesPage {
    layout: Layout,
    nodes: Vec<Row>,
    /// A swarm (nodes can be drained) rather than the one engine.
    cluster: bool,
}

fn admin(dash: &DashUser) -> Result<(), DashError> {
    dash.user.require_admin("see the nodes").map_err(DashError)
}

pub async fn list_nodes(State(state): State<AppState>, dash: DashUser) -> Result<Response, DashError> {
    admin(&dash)?;
    let views = ops::nodes::view(&state).await?;
    let cluster = views.iter().any(|v| v.node.role != "engine");
    let gib = |bytes: i64| bytes as f64 / (1024.0 * 1024.0 * 1024.0);
    let nodes = views
        .into_iter()
        .map(|v| Row {
            used_percent: match v.node.memory_bytes {
                0 => 0,
                total => ((v.memory_reserved_bytes as f64 / total as f64) * 100.0).clamp(0.0, 100.0) as u32,
            },
            memory: format!("{:.1} of {:.1} GiB", gib(v.memory_reserved_bytes), gib(v.node.memory_bytes)),
            cpus: format!("{:.1} of {}", v.cpus_reserved, v.node.cpus),
            address: v.node.address.unwrap_or_else(|| "-".into()),
            name: v.node.name,
            role: v.node.role,
            state: v.node.state,
            availability: v.node.availability,
            apps: v.apps,
        })
        .collect();
    render(&NodesPage { layout: dash.layout("Nodes").await, nodes, cluster })
}

#[derive(Debug, Deserialize)]
pub struct NodeForm {
    csrf: String,
    node: String,
}

pub async fn drain_node(
    State(state): State<AppState>,
    dash: DashUser,
    Form(form): Form<NodeForm>,
) -> Result<Response, DashError> {
    dash.check_csrf(&form.csrf)?;
    admin(&dash)?;
    let actor = Actor::new(dash.user.clone(), "dashboard");
    let result = ops::nodes::drain(&state, &actor, &form.node).await.map(|moved| {
        let moved: Vec<&str> = moved.iter().map(String::as_str).collect();
        ops::nodes::drained_sentence(&form.node, &moved)
    });
    dash.finish("/nodes", result).await
}

pub async fn activate_node(
    State(state): State<AppState>,
    dash: DashUser,
    Form(form): Form<NodeForm>,
) -> Result<Response, DashError> {
    dash.check_csrf(&form.csrf)?;
    admin(&dash)?;
    let result = ops::nodes::activate(&state, &form.node).await.map(|()| ops::nodes::activated_sentence(&form.node));
    dash.finish("/nodes", result).await
}
