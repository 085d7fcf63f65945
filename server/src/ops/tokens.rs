//! API tokens: made (shown once) and revoked, each with its audit event in
//! the same transaction.

use super::Actor;
use crate::auth::token;
use crate::db;
use crate::db::tokens::ApiToken;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Make a named token for the actor; the row and the secret (shown once).
pub async fn create(state: &AppState, actor: &Actor, name: &str) -> AppResult<(ApiToken, String)> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(AppError::validation("name", "token name must be 1 to 100 characters"));
    }
    let secret = token::generate();
    let mut tx = state.db.begin().await?;
    let row = db::tokens::create(&mut tx, actor.user.id, name, &token::hash(&secret)).await?;
    db::audit::record(&mut tx, &actor.user_event("token.create", format!("{} ({})", row.name, row.id))).await?;
    tx.commit().await?;
    tracing::info!(user = %actor.user.email, token_id = row.id, "created API token");
    Ok((row, secret))
}

/// Revoke one of the actor's tokens.
pub async fn revoke(state: &AppState, actor: &Actor, id: i64) -> AppResult<()> {
    let mut tx = state.db.begin().await?;
    if !db::tokens::revoke(&mut tx, actor.user.id, id).await? {
        return Err(AppError::not_found(format!("no token with id {id}")));
    }
    db::audit::record(&mut tx, &actor.user_event("token.revoke", id.to_string())).await?;
    tx.commit().await?;
    tracing::info!(user = %actor.user.email, token_id = id, "revoked API token");
    Ok(())
}
