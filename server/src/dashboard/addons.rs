//! The Add-ons tab: an app's add-ons with their state and facts, their
//! credentials revealed on demand, backups (capture, download, restore), and
//! forms to create, attach, detach and destroy them. Changes run the same
//! operations as the REST API (`ops::addons`).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Form;
use serde::Deserialize;

use super::apps::{frame, AppFrame};
use super::ops::{actor, app_for, outcome};
use super::{render, DashError, DashUser, Layout};
use crate::addons;
use crate::auth::{app_access, Role};
use crate::db;
use crate::db::addons::{var_of, Addon, Backup};
use crate::error::AppError;
use crate::ops;
use crate::state::AppState;

/// One add-on as the page shows it.
pub struct AddonCard {
    pub addon: Addon,
    pub config_var: String,
    /// up, starting or down.
    pub state: String,
    pub facts: Vec<(String, String)>,
    /// The apps it is attached to (`shop::DATABASE`).
    pub attachments: Vec<String>,
    /// Its URL, once a member who may see config asked for it.
    pub url: Option<String>,
    pub backups: Vec<(String, Backup)>,
    /// Created for this app (destroy), or attached from another (detach).
    pub owned: bool,
}

impl AddonCard {
    /// Whether its backups are scheduled at this hour.
    pub fn scheduled_at(&self, hour: &i16) -> bool {
        self.addon.backup_hour == Some(*hour)
    }
}

#[derive(Template)]
#[template(path = "apps/addons.html")]
struct AddonsPage {
    layout: Layout,
    app: AppFrame,
    addons: Vec<AddonCard>,
    /// The hours a schedule may take.
    hours: Vec<i16>,
    services: Vec<(&'static str, &'static str, Vec<&'static str>)>,
}

#[derive(Debug, Deserialize)]
pub struct ShowQuery {
    /// The add-on whose credentials to show.
    #[serde(default)]
    reveal: Option<String>,
}

/// The tab; an add-on's credentials are in the page only when asked for
/// (`?reveal=NAME`).
pub async fn show_addons(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Query(query): Query<ShowQuery>,
) -> Result<Response, DashError> {
    let (app, frame) = frame(&state, &dash, &name, "addons").await?;
    let mut cards = Vec::new();
    for (addon, attachment) in db::addons::attached_to(&state.db, app.id).await? {
        let (state_word, facts) = addons::state_and_facts(&state, &addon).await?;
        let attachments = db::addons::attachments(&state.db, addon.id).await?;
        let backups = db::addons::backups(&state.db, addon.id).await?;
        cards.push(AddonCard {
            config_var: var_of(&attachment),
            state: state_word,
            facts,
            attachments: attachments.iter().map(|a| format!("{}::{}", a.app, a.name)).collect(),
            url: match frame.can_edit && query.reveal.as_deref() == Some(addon.name.as_str()) {
                true => Some(addons::url(&state, &addon)?),
                false => None,
            },
            backups: backups.into_iter().map(|b| (b.name(), b)).collect(),
            owned: addon.app_id == app.id,
            addon,
        });
    }
    let services = addons::services().iter().map(|s| (s.name(), s.title(), s.versions().to_vec())).collect();
    render(&AddonsPage {
        layout: dash.layout(format!("{} add-ons", app.name)).await,
        app: frame,
        addons: cards,
        services,
        hours: (0..24).collect(),
    })
}

fn back(name: &str) -> String {
    format!("/apps/{name}/addons")
}

#[derive(Debug, Deserialize)]
pub struct CreateForm {
    csrf: String,
    service: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    attachment: String,
}

pub async fn create_addon(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<CreateForm>,
) -> Result<Response, DashError> {
    let app = app_for(&state, &dash, &form.csrf, &name, Role::Developer, "creating add-ons").await?;
    let request = ops::addons::NewRequest {
        service: form.service,
        version: Some(form.version).filter(|v| !v.trim().is_empty()),
        name: Some(form.attachment).filter(|a| !a.trim().is_empty()),
        memory_mb: None,
    };
    let result = outcome(ops::addons::create(&state, &actor(&dash), &app, request).await).await;
    let message = result.map(|a| format!("{} is up and attached to {name}.", a.name));
    dash.finish(&back(&name), message).await
}

#[derive(Debug, Deserialize)]
pub struct ScheduleForm {
    csrf: String,
    addon: String,
    /// `02`, or empty to stop.
    #[serde(default)]
    hour: String,
    #[serde(default)]
    keep: String,
}

/// Schedule (an hour given) or stop (none) an add-on's daily backups.
pub async fn schedule_backups(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<ScheduleForm>,
) -> Result<Response, DashError> {
    let app = app_for(&state, &dash, &form.csrf, &name, Role::Developer, "scheduling backups").await?;
    let result = async {
        let (addon, _) = ops::addons::find(&state, &app, &form.addon).await?;
        let hour = match form.hour.trim() {
            "" => None,
            at => Some(ops::addons::schedule_hour(at)?),
        };
        let keep = match form.keep.trim() {
            "" => addon.backup_keep,
            keep => keep.parse().map_err(|_| AppError::validation("keep", "keep a number of backups, 1 to 90"))?,
        };
        ops::addons::schedule(&state, &actor(&dash), &app, &addon, hour, keep).await?;
        Ok(match hour {
            Some(h) => format!("{} is backed up daily at {h:02}:00 UTC, keeping {keep}.", addon.name),
            None => format!("{}'s scheduled backups are stopped.", addon.name),
        })
    }
    .await;
    dash.finish(&back(&name), result).await
}

#[derive(Debug, Deserialize)]
pub struct AddonForm {
    csrf: String,
    addon: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    attachment: String,
    #[serde(default)]
    backup: String,
}

pub async fn attach_addon(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<AddonForm>,
) -> Result<Response, DashError> {
    let app = app_for(&state, &dash, &form.csrf, &name, Role::Developer, "attaching add-ons").await?;
    let result = async {
        let missing = || AppError::not_found(format!("there is no add-on {} in {}'s team", form.addon.trim(), name));
        let addon = db::addons::find(&state.db, form.addon.trim())
            .await?
            .filter(|a| a.team_id == app.team_id)
            .ok_or_else(missing)?;
        let attachment = Some(form.attachment.as_str()).filter(|a| !a.trim().is_empty());
        ops::addons::attach(&state, &actor(&dash), &app, &addon, attachment).await?.outcome().await?;
        Ok(format!("{} is attached to {name}.", addon.name))
    }
    .await;
    dash.finish(&back(&name), result).await
}

pub async fn detach_addon(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<AddonForm>,
) -> Result<Response, DashError> {
    let app = app_for(&state, &dash, &form.csrf, &name, Role::Developer, "detaching add-ons").await?;
    let result = async {
        let (addon, _) = ops::addons::find(&state, &app, &form.addon).await?;
        ops::addons::detach(&state, &actor(&dash), &app, &addon).await?.outcome().await?;
        Ok(format!("{} is detached from {name}.", addon.name))
    }
    .await;
    dash.finish(&back(&name), result).await
}

/// Destroy an add-on with its data, once its name was typed again.
pub async fn destroy_addon(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<AddonForm>,
) -> Result<Response, DashError> {
    let app = app_for(&state, &dash, &form.csrf, &name, Role::Developer, "destroying add-ons").await?;
    let result = async {
        if form.confirm.trim() != form.addon {
            return Err(AppError::validation(
                "confirm",
                format!("type {} to confirm; nothing was deleted", form.addon),
            ));
        }
        let (addon, _) = ops::addons::find(&state, &app, &form.addon).await?;
        ops::addons::destroy(&state, &actor(&dash), &app, &addon).await?.outcome().await?;
        Ok(format!("{} is destroyed with its data and backups.", addon.name))
    }
    .await;
    dash.finish(&back(&name), result).await
}

pub async fn capture_backup(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<AddonForm>,
) -> Result<Response, DashError> {
    let app = app_for(&state, &dash, &form.csrf, &name, Role::Developer, "capturing backups").await?;
    let result = async {
        let (addon, _) = ops::addons::find(&state, &app, &form.addon).await?;
        let backup = ops::addons::capture(&state, &actor(&dash), &app, &addon).await?.outcome().await?;
        Ok(format!("Backup {} of {} is captured.", backup.name(), addon.name))
    }
    .await;
    dash.finish(&back(&name), result).await
}

/// Restore a backup, once the app's name was typed.
pub async fn restore_backup(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<AddonForm>,
) -> Result<Response, DashError> {
    let app = app_for(&state, &dash, &form.csrf, &name, Role::Developer, "restoring backups").await?;
    let result = async {
        if form.confirm.trim() != name {
            return Err(AppError::validation("confirm", format!("type {name} to confirm; nothing was restored")));
        }
        let (addon, _) = ops::addons::find(&state, &app, &form.addon).await?;
        let id = ops::addons::backup_id(&form.backup)?;
        let backup = db::addons::find_backup(&state.db, addon.id, id)
            .await?
            .ok_or_else(|| AppError::not_found(format!("{} has no backup {}", addon.name, form.backup)))?;
        ops::addons::restore(&state, &actor(&dash), &app, &addon, &backup).await?.outcome().await?;
        Ok(format!("{} of {} is restored.", backup.name(), addon.name))
    }
    .await;
    dash.finish(&back(&name), result).await
}

pub async fn download_backup(
    State(state): State<AppState>,
    dash: DashUser,
    Path((name, addon, backup)): Path<(String, String, String)>,
) -> Result<Response, DashError> {
    let (app, _) = app_access(&state, &dash.user, &name, Role::Developer, "downloading backups").await?;
    Ok(crate::api::addons::backup_response(&state, &app, &addon, &backup).await?)
}
