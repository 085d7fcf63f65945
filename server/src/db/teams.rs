use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{FromRow, PgConnection, PgPool};
use utoipa::ToSchema;

use super::{conflict_on_unique, DbResult};

/// A member's role in a team, weakest first so that `>=` means "at least".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, sqlx::Type, Serialize, Deserialize, ToSchema)]
#[sqlx(type_name = "team_role", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Developer,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Developer => "developer",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct Team {
    pub id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// A team together with the caller's role in it.
#[derive(Debug, Clone, FromRow, Serialize, ToSchema)]
pub struct TeamWithRole {
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, FromRow, Serialize, ToSchema)]
pub struct Member {
    pub email: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// Create a team with its first owner (inside the caller's transaction).
pub async fn create(conn: &mut PgConnection, name: &str, owner_id: i64) -> DbResult<Team> {
    let team: Team = sqlx::query_as("INSERT INTO teams (name) VALUES ($1) RETURNING *")
        .bind(name)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| conflict_on_unique(e, format!("a team named {name} already exists")))?;
    sqlx::query("INSERT INTO memberships (team_id, user_id, role) VALUES ($1, $2, 'owner')")
        .bind(team.id)
        .bind(owner_id)
        .execute(&mut *conn)
        .await?;
    Ok(team)
}

pub async fn find_by_name(pool: &PgPool, name: &str) -> sqlx::Result<Option<Team>> {
    sqlx::query_as("SELECT * FROM teams WHERE name = $1").bind(name).fetch_optional(pool).await
}

pub async fn role_of(pool: &PgPool, team_id: i64, user_id: i64) -> sqlx::Result<Option<Role>> {
    sqlx::query_scalar("SELECT role FROM memberships WHERE team_id = $1 AND user_id = $2")
        .bind(team_id)
        .bind(user_id)
        .fetch_optional(pool)
        .await
}

/// Teams the user belongs to; server admins see every team, as owners.
pub async fn list_for_user(pool: &PgPool, user_id: i64, is_admin: bool) -> sqlx::Result<Vec<TeamWithRole>> {
    if is_admin {
        return sqlx::query_as(
            "SELECT t.name, COALESCE(m.role, 'owner') AS role, t.created_at FROM teams t
             LEFT JOIN memberships m ON m.team_id = t.id AND m.user_id = $1 ORDER BY t.name",
        )
        .bind(user_id)
        .fetch_all(pool)
        .await;
    }
    sqlx::query_as(
        "SELECT t.name, m.role, t.created_at FROM teams t
         JOIN memberships m ON m.team_id = t.id WHERE m.user_id = $1 ORDER BY t.name",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await
}

pub async fn members(pool: &PgPool, team_id: i64) -> sqlx::Result<Vec<Member>> {
    sqlx::query_as(
        "SELECT u.email, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.team_id = $1 ORDER BY m.role DESC, u.email",
    )
    .bind(team_id)
    .fetch_all(pool)
    .await
}

pub async fn add_member(conn: &mut PgConnection, team_id: i64, user_id: i64, role: Role) -> DbResult<()> {
    sqlx::query("INSERT INTO memberships (team_id, user_id, role) VALUES ($1, $2, $3)")
        .bind(team_id)
        .bind(user_id)
        .bind(role)
        .execute(conn)
        .await
        .map_err(|e| conflict_on_unique(e, "that user is already a member of the team"))?;
    Ok(())
}

pub async fn set_role(conn: &mut PgConnection, team_id: i64, user_id: i64, role: Role) -> sqlx::Result<()> {
    sqlx::query("UPDATE memberships SET role = $3 WHERE team_id = $1 AND user_id = $2")
        .bind(team_id)
        .bind(user_id)
        .bind(role)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn remove_member(conn: &mut PgConnection, team_id: i64, user_id: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM memberships WHERE team_id = $1 AND user_id = $2")
        .bind(team_id)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn count_owners(pool: &PgPool, team_id: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM memberships WHERE team_id = $1 AND role = 'owner'")
        .bind(team_id)
        .fetch_one(pool)
        .await
}

/// Teams where the user is an admin or owner.
pub async fn admin_team_ids(pool: &PgPool, user_id: i64) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar("SELECT team_id FROM memberships WHERE user_id = $1 AND role IN ('admin', 'owner')")
        .bind(user_id)
        .fetch_all(pool)
        .await
}
