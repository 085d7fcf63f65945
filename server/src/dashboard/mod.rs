//! The web dashboard: server-rendered askama pages (templates in
//! `web/templates`) and the small static files under `web/static`.

use askama::Template;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;

use crate::error::AppResult;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(show_index)).route("/static/style.css", get(style_css))
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage<'a> {
    public_url: &'a str,
}

async fn show_index(State(state): State<AppState>) -> AppResult<Html<String>> {
    let page = IndexPage { public_url: &state.public_url };
    Ok(Html(page.render().map_err(anyhow::Error::from)?))
}

async fn style_css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("../../../web/static/style.css"))
}
