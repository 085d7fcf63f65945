//! Add-ons: created for an app (its `NAME_URL` set, a release rolled out),
//! shown with their facts, attached to and detached from other apps of the
//! team, destroyed (the owner's only), their credentials revealed, their
//! backups captured, listed, downloaded and restored. Changes run as
//! operations; `Prefer: respond-async` gets 202 and the operation.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::operations::{accepted, Prefer};
use super::{ApiJson, Path};
use crate::addons;
use crate::auth::{app_access, CurrentUser, Role};
use crate::db;
use crate::db::addons::{var_of, Addon, Attachment, Backup};
use crate::db::apps::App;
use crate::error::{AppError, AppResult};
use crate::ops::{self, Actor};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_addons, create_addon))
        .routes(routes!(addon_info, destroy_addon))
        .routes(routes!(addon_credentials))
        .routes(routes!(attach_addon))
        .routes(routes!(detach_addon))
        .routes(routes!(list_backups, capture_backup))
        .routes(routes!(restore_backup))
        .routes(routes!(delete_backup))
        .routes(routes!(schedule_backups, unschedule_backups))
        .routes(routes!(download_backup))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAddon {
    /// The service: `postgres`.
    pub service: String,
    /// Its major version; the newest offered when left out.
    #[serde(default)]
    pub version: Option<String>,
    /// The attachment's name: `DATABASE` (the default) sets `DATABASE_URL`.
    #[serde(default, rename = "as")]
    pub attachment: Option<String>,
    /// Its memory limit, e.g. "512m".
    #[serde(default)]
    pub memory: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachAddon {
    /// The add-on's name (of an app of this app's team).
    pub addon: String,
    /// The attachment's name; the service's default (`DATABASE`) when left out.
    #[serde(default, rename = "as")]
    pub attachment: Option<String>,
}

/// An add-on as an app it is attached to sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddonView {
    #[serde(flatten)]
    pub addon: Addon,
    /// Its attachment to this app: `DATABASE`.
    pub attachment: String,
    /// The config var that holds its URL: `DATABASE_URL`.
    pub config_var: String,
}

impl AddonView {
    fn new(addon: Addon, attachment: String) -> Self {
        Self { config_var: var_of(&attachment), addon, attachment }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AddonInfo {
    #[serde(flatten)]
    pub view: AddonView,
    /// up, starting or down.
    pub state: String,
    /// Every app it is attached to.
    pub attachments: Vec<Attachment>,
    /// What the service tells of itself (version, size, connections), when up.
    pub facts: Vec<(String, String)>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Credentials {
    pub url: String,
}

async fn view(state: &AppState, app: &App, name: &str) -> AppResult<AddonView> {
    let (addon, attachment) = ops::addons::find(state, app, name).await?;
    Ok(AddonView::new(addon, attachment))
}

/// The add-ons attached to the app.
#[utoipa::path(get, path = "/apps/{app}/addons", tag = "addons", params(("app" = String, Path)),
    responses((status = 200, body = Vec<AddonView>)))]
pub async fn list_addons(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
) -> AppResult<Json<Vec<AddonView>>> {
    let (app, _) = app_access(&state, &user, &app, Role::Viewer, "viewing add-ons").await?;
    let attached = db::addons::attached_to(&state.db, app.id).await?;
    Ok(Json(attached.into_iter().map(|(addon, attachment)| AddonView::new(addon, attachment)).collect()))
}

/// Create an add-on for the app: it is provisioned (its image built the
/// first time), and once it serves its URL is set as `AS_URL`, which rolls
/// out a release. With `Prefer: respond-async`: 202 and the operation.
#[utoipa::path(post, path = "/apps/{app}/addons", tag = "addons", params(("app" = String, Path)), request_body = CreateAddon,
    responses((status = 201, body = Addon), (status = 202, body = super::operations::OperationInfo),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_addon(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    prefer: Prefer,
    Path(app): Path<String>,
    ApiJson(body): ApiJson<CreateAddon>,
) -> AppResult<Response> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "creating add-ons").await?;
    let memory_mb = match &body.memory {
        Some(m) => crate::deploy::formation::parse_memory(m).map_err(|e| AppError::validation("memory", e))?.into(),
        None => None,
    };
    let request =
        ops::addons::NewRequest { service: body.service, version: body.version, name: body.attachment, memory_mb };
    let job = ops::addons::create(&state, &Actor::new(user, "api"), &app, request).await?;
    if prefer.respond_async {
        return accepted(&state, &app, job.id).await;
    }
    Ok((StatusCode::CREATED, Json(job.outcome().await?)).into_response())
}

/// An add-on attached to the app (by its name or the attachment's), with
/// its state, its attachments and its facts.
#[utoipa::path(get, path = "/apps/{app}/addons/{addon}", tag = "addons", params(("app" = String, Path), ("addon" = String, Path)),
    responses((status = 200, body = AddonInfo)))]
pub async fn addon_info(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((app, addon)): Path<(String, String)>,
) -> AppResult<Json<AddonInfo>> {
    let (app, _) = app_access(&state, &user, &app, Role::Viewer, "viewing add-ons").await?;
    let view = view(&state, &app, &addon).await?;
    let attachments = db::addons::attachments(&state.db, view.addon.id).await?;
    let (state_word, facts) = addons::state_and_facts(&state, &view.addon).await?;
    Ok(Json(AddonInfo { view, state: state_word, attachments, facts }))
}

/// Destroy an add-on created for this app: its config var goes (a release),
/// then its process, its data and its backups. Refused while other apps
/// are attached. With `Prefer: respond-async`: 202 and the operation.
#[utoipa::path(delete, path = "/apps/{app}/addons/{addon}", tag = "addons", params(("app" = String, Path), ("addon" = String, Path)),
    responses((status = 204), (status = 202, body = super::operations::OperationInfo), (status = 409, body = crate::error::ErrorBody)))]
pub async fn destroy_addon(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    prefer: Prefer,
    Path((app, addon)): Path<(String, String)>,
) -> AppResult<Response> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "destroying add-ons").await?;
    let (addon, _) = ops::addons::find(&state, &app, &addon).await?;
    let job = ops::addons::destroy(&state, &Actor::new(user, "api"), &app, &addon).await?;
    if prefer.respond_async {
        return accepted(&state, &app, job.id).await;
    }
    job.outcome().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The URL (with its password) apps connect to the add-on with.
#[utoipa::path(get, path = "/apps/{app}/addons/{addon}/credentials", tag = "addons",
    params(("app" = String, Path), ("addon" = String, Path)), responses((status = 200, body = Credentials)))]
pub async fn addon_credentials(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((app, addon)): Path<(String, String)>,
) -> AppResult<Json<Credentials>> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "viewing credentials").await?;
    let view = view(&state, &app, &addon).await?;
    Ok(Json(Credentials { url: addons::url(&state, &view.addon)? }))
}

/// Attach an add-on of another app of the team to this app (its URL is set
/// here too, a release rolls out). With `Prefer: respond-async`: 202.
#[utoipa::path(post, path = "/apps/{app}/addon-attachments", tag = "addons", params(("app" = String, Path)),
    request_body = AttachAddon, responses((status = 204), (status = 202, body = super::operations::OperationInfo)))]
pub async fn attach_addon(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    prefer: Prefer,
    Path(app): Path<String>,
    ApiJson(body): ApiJson<AttachAddon>,
) -> AppResult<Response> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "attaching add-ons").await?;
    let missing = || AppError::not_found(format!("there is no add-on {} in {}'s team", body.addon, app.name));
    let addon =
        db::addons::find(&state.db, &body.addon).await?.filter(|a| a.team_id == app.team_id).ok_or_else(missing)?;
    let job = ops::addons::attach(&state, &Actor::new(user, "api"), &app, &addon, body.attachment.as_deref()).await?;
    if prefer.respond_async {
        return accepted(&state, &app, job.id).await;
    }
    job.outcome().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Detach an add-on another app created from this app (its config var goes,
/// a release rolls out). With `Prefer: respond-async`: 202.
#[utoipa::path(delete, path = "/apps/{app}/addon-attachments/{addon}", tag = "addons",
    params(("app" = String, Path), ("addon" = String, Path)),
    responses((status = 204), (status = 202, body = super::operations::OperationInfo)))]
pub async fn detach_addon(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    prefer: Prefer,
    Path((app, addon)): Path<(String, String)>,
) -> AppResult<Response> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "detaching add-ons").await?;
    let (addon, _) = ops::addons::find(&state, &app, &addon).await?;
    let job = ops::addons::detach(&state, &Actor::new(user, "api"), &app, &addon).await?;
    if prefer.respond_async {
        return accepted(&state, &app, job.id).await;
    }
    job.outcome().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BackupView {
    /// `b001`.
    pub name: String,
    #[serde(flatten)]
    pub backup: Backup,
}

impl From<Backup> for BackupView {
    fn from(backup: Backup) -> Self {
        Self { name: backup.name(), backup }
    }
}

/// The add-on's backups, newest first.
#[utoipa::path(get, path = "/apps/{app}/addons/{addon}/backups", tag = "addons",
    params(("app" = String, Path), ("addon" = String, Path)), responses((status = 200, body = Vec<BackupView>)))]
pub async fn list_backups(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((app, addon)): Path<(String, String)>,
) -> AppResult<Json<Vec<BackupView>>> {
    let (app, _) = app_access(&state, &user, &app, Role::Viewer, "viewing backups").await?;
    let view = view(&state, &app, &addon).await?;
    Ok(Json(db::addons::backups(&state.db, view.addon.id).await?.into_iter().map(BackupView::from).collect()))
}

/// Capture a backup of the add-on's data (kept encrypted). With `Prefer:
/// respond-async`: 202 and the operation.
#[utoipa::path(post, path = "/apps/{app}/addons/{addon}/backups", tag = "addons",
    params(("app" = String, Path), ("addon" = String, Path)),
    responses((status = 201, body = BackupView), (status = 202, body = super::operations::OperationInfo)))]
pub async fn capture_backup(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    prefer: Prefer,
    Path((app, addon)): Path<(String, String)>,
) -> AppResult<Response> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "capturing backups").await?;
    let view = view(&state, &app, &addon).await?;
    let job = ops::addons::capture(&state, &Actor::new(user, "api"), &app, &view.addon).await?;
    if prefer.respond_async {
        return accepted(&state, &app, job.id).await;
    }
    Ok((StatusCode::CREATED, Json(BackupView::from(job.outcome().await?))).into_response())
}

async fn backup_of(state: &AppState, app: &App, addon: &str, backup: &str) -> AppResult<(Addon, Backup)> {
    let view = view(state, app, addon).await?;
    let id = ops::addons::backup_id(backup)?;
    let backup = db::addons::find_backup(&state.db, view.addon.id, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("{} has no backup {backup}", view.addon.name)))?;
    Ok((view.addon, backup))
}

/// Restore a backup into the add-on: its tables become the backup's. With
/// `Prefer: respond-async`: 202 and the operation.
#[utoipa::path(post, path = "/apps/{app}/addons/{addon}/backups/{backup}/restore", tag = "addons",
    params(("app" = String, Path), ("addon" = String, Path), ("backup" = String, Path)),
    responses((status = 204), (status = 202, body = super::operations::OperationInfo)))]
pub async fn restore_backup(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    prefer: Prefer,
    Path((app, addon, backup)): Path<(String, String, String)>,
) -> AppResult<Response> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "restoring backups").await?;
    let (addon, backup) = backup_of(&state, &app, &addon, &backup).await?;
    let job = ops::addons::restore(&state, &Actor::new(user, "api"), &app, &addon, &backup).await?;
    if prefer.respond_async {
        return accepted(&state, &app, job.id).await;
    }
    job.outcome().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupSchedule {
    /// The hour of the day, UTC: `02:00` (or `02:00 UTC`).
    pub at: String,
    /// How many scheduled backups are kept (default 7); backups asked for
    /// are never deleted by the schedule.
    #[serde(default)]
    pub keep: Option<i32>,
}

/// Back the add-on up every day at an hour (UTC), keeping the newest
/// `keep` scheduled backups.
#[utoipa::path(put, path = "/apps/{app}/addons/{addon}/backup-schedule", tag = "addons",
    params(("app" = String, Path), ("addon" = String, Path)), request_body = BackupSchedule,
    responses((status = 204)))]
pub async fn schedule_backups(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((app, addon)): Path<(String, String)>,
    ApiJson(body): ApiJson<BackupSchedule>,
) -> AppResult<Response> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "scheduling backups").await?;
    let view = view(&state, &app, &addon).await?;
    let hour = ops::addons::schedule_hour(&body.at)?;
    let keep = body.keep.unwrap_or(7);
    ops::addons::schedule(&state, &Actor::new(user, "api"), &app, &view.addon, Some(hour), keep).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Stop the add-on's scheduled backups (those taken stay).
#[utoipa::path(delete, path = "/apps/{app}/addons/{addon}/backup-schedule", tag = "addons",
    params(("app" = String, Path), ("addon" = String, Path)), responses((status = 204)))]
pub async fn unschedule_backups(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((app, addon)): Path<(String, String)>,
) -> AppResult<Response> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "scheduling backups").await?;
    let view = view(&state, &app, &addon).await?;
    let keep = view.addon.backup_keep;
    ops::addons::schedule(&state, &Actor::new(user, "api"), &app, &view.addon, None, keep).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Delete a backup.
#[utoipa::path(delete, path = "/apps/{app}/addons/{addon}/backups/{backup}", tag = "addons",
    params(("app" = String, Path), ("addon" = String, Path), ("backup" = String, Path)),
    responses((status = 204), (status = 409, body = crate::error::ErrorBody)))]
pub async fn delete_backup(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((app, addon, backup)): Path<(String, String, String)>,
) -> AppResult<Response> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "deleting backups").await?;
    let (addon, backup) = backup_of(&state, &app, &addon, &backup).await?;
    ops::addons::delete_backup(&state, &Actor::new(user, "api"), &app, &addon, &backup).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A backup's dump, decrypted (for PostgreSQL: `pg_dump`'s custom format,
/// for `pg_restore`).
#[utoipa::path(get, path = "/apps/{app}/addons/{addon}/backups/{backup}/download", tag = "addons",
    params(("app" = String, Path), ("addon" = String, Path), ("backup" = String, Path)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>)))]
pub async fn download_backup(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((app, addon, backup)): Path<(String, String, String)>,
) -> AppResult<Response> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "downloading backups").await?;
    backup_response(&state, &app, &addon, &backup).await
}

/// The download of a backup, for the API and the dashboard.
pub(crate) async fn backup_response(state: &AppState, app: &App, addon: &str, backup: &str) -> AppResult<Response> {
    let (addon, backup) = backup_of(state, app, addon, backup).await?;
    if backup.status != "completed" {
        return Err(AppError::validation("backup", format!("{} {}", backup.name(), backup.status)));
    }
    let chunks = addons::backups::read(state, backup.id).await?;
    let body = Body::from_stream(chunks.map(|chunk| chunk.map_err(std::io::Error::other)));
    let file = format!("attachment; filename=\"{}-{}.dump\"", addon.name, backup.name());
    Ok(([(header::CONTENT_TYPE, "application/octet-stream".to_string()), (header::CONTENT_DISPOSITION, file)], body)
        .into_response())
}
