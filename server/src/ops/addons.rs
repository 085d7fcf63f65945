//! Add-ons as operations: creating one (its image built the first time, its
//! container started by the reconcile loop, then `NAME_URL` set in the app's
//! config, which rolls out a release like any config change), attaching it to
//! another app of the team, detaching, destroying it (its config var, its
//! container, its data and its backups), and capturing and restoring
//! backups. A change that fails leaves what ran as it was: an add-on whose
//! release did not go live is removed again.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{launch, Actor, Job, Op, Plan};
use crate::addons::{self, backups};
use crate::db;
use crate::db::addons::{var_of, Addon, Attachment, Backup, NewAddon};
use crate::db::apps::App;
use crate::db::config_vars::Sealed;
use crate::error::{AppError, AppResult};
use crate::runtime::{self, Session};
use crate::state::AppState;

/// How long a new add-on may take to serve (its first start makes its data).
const READY: Duration = Duration::from_secs(120);

/// What `addons:create` asks for.
pub struct NewRequest {
    pub service: String,
    pub version: Option<String>,
    /// The attachment's name (`DATABASE`); the service's default when None.
    pub name: Option<String>,
    pub memory_mb: Option<i32>,
}

/// An attachment name: upper-case letters, digits and _, as a config var.
fn attachment_name(name: &str) -> AppResult<String> {
    let name = name.trim().to_ascii_uppercase();
    let name = name.strip_suffix("_URL").unwrap_or(&name).to_string();
    let valid = !name.is_empty()
        && name.len() <= 60
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if !valid || name.starts_with("PAAS_") {
        return Err(AppError::validation(
            "as",
            format!("{name:?} cannot name an attachment: letters, digits and _, starting with a letter (DATABASE)"),
        ));
    }
    Ok(name)
}

async fn free_name(state: &AppState, app: &App, name: &str) -> AppResult<()> {
    let var = var_of(name);
    if db::addons::attached_to(&state.db, app.id).await?.iter().any(|(_, n)| n == name) {
        return Err(AppError::Conflict(format!("{} already has an add-on attached as {name}", app.name)));
    }
    if db::config_vars::get(&state.db, app.id).await?.contains_key(&var) {
        return Err(AppError::Conflict(format!(
            "{} has a config var {var} of its own; unset it or attach with another name (--as)",
            app.name
        )));
    }
    Ok(())
}

/// Provision an add-on for `app` and attach it.
pub async fn create(state: &AppState, actor: &Actor, app: &App, request: NewRequest) -> AppResult<Job<Addon>> {
    let service = addons::service(&request.service).map_err(|e| AppError::validation("service", e))?;
    let version =
        addons::version(service, request.version.as_deref()).map_err(|e| AppError::validation("version", e))?;
    let attachment = attachment_name(request.name.as_deref().unwrap_or(service.default_attachment()))?;
    let memory_mb = request.memory_mb.unwrap_or(service.default_memory_mb());
    if !(100..=99_999).contains(&memory_mb) {
        return Err(AppError::validation("memory", "an add-on's memory is between 100 MB and 64 GB"));
    }
    free_name(state, app, &attachment).await?;
    let summary = format!("{} {version} as {attachment}", service.name());
    let plan = Plan { action: "addon.create", summary, push: None };
    launch(state, app, actor, plan, move |op| async move {
        let state = &op.state;
        let _lock = op.lock().await?;
        free_name(state, &op.app, &attachment).await?;
        let name = addons::new_name(service);
        let password = state.secrets.seal(&addons::password_context(&name), &addons::new_password())?;
        let mut tx = state.db.begin().await?;
        let id = db::addons::create(
            &mut tx,
            NewAddon {
                name: &name,
                app_id: op.app.id,
                service: service.name(),
                version,
                password: &password,
                memory_mb,
            },
        )
        .await?;
        db::addons::attach(&mut tx, id, op.app.id, &attachment).await?;
        tx.commit().await?;
        let addon = db::addons::find_by_id(&state.db, id).await?.ok_or_else(|| AppError::not_found("the add-on"))?;
        op.out.step(format!("Creating {name}: {} {version}, {memory_mb} MB", service.title()));
        let made = async {
            addons::ensure_image(state, &addon, &op.out).await?;
            state.reconcile.wake();
            addons::wait_ready(state, &addon, READY).await?;
            anyhow::Ok(())
        };
        if let Err(err) = made.await {
            remove(state, &addon).await;
            return Err(AppError::DeployFailed(format!("{err:#}")));
        }
        op.out.step(format!("{name} is up; setting {} on {}", var_of(&attachment), op.app.name));
        let url = addons::url(state, &addon)?;
        if let Err(err) = super::config::apply(&op, &BTreeMap::from([(var_of(&attachment), Some(url))])).await {
            remove(state, &addon).await;
            return Err(err);
        }
        Ok(addon)
    })
    .await
}

/// The add-on `name` as `app` may use it: attached to it.
pub async fn find(state: &AppState, app: &App, name: &str) -> AppResult<(Addon, String)> {
    let attached = db::addons::attached_to(&state.db, app.id).await?;
    let upper = name.to_ascii_uppercase();
    let upper = upper.strip_suffix("_URL").unwrap_or(&upper);
    attached
        .into_iter()
        .find(|(addon, attachment)| addon.name == name || attachment == upper)
        .ok_or_else(|| AppError::not_found(format!("{} has no add-on {name}", app.name)))
}

/// Attach an add-on of `from` (an app of the same team) to `app` too.
pub async fn attach(
    state: &AppState,
    actor: &Actor,
    app: &App,
    addon: &Addon,
    name: Option<&str>,
) -> AppResult<Job<()>> {
    if addon.team_id != app.team_id {
        return Err(AppError::not_found(format!("there is no add-on {} in {}'s team", addon.name, app.name)));
    }
    let service = addons::of(addon)?;
    let attachment = attachment_name(name.unwrap_or(service.default_attachment()))?;
    free_name(state, app, &attachment).await?;
    if db::addons::attachments(&state.db, addon.id).await?.iter().any(|a| a.app_id == app.id) {
        return Err(AppError::Conflict(format!("{} is already attached to {}", addon.name, app.name)));
    }
    let plan = Plan { action: "addon.attach", summary: format!("{} as {attachment}", addon.name), push: None };
    let addon = addon.clone();
    launch(state, app, actor, plan, move |op| async move {
        let state = &op.state;
        let _lock = op.lock().await?;
        free_name(state, &op.app, &attachment).await?;
        let mut tx = state.db.begin().await?;
        db::addons::attach(&mut tx, addon.id, op.app.id, &attachment).await?;
        tx.commit().await?;
        let url = addons::url(state, &addon)?;
        op.out.step(format!("Attaching {} to {} as {attachment}", addon.name, op.app.name));
        let joined = async {
            let container = addons::running(state, &addon).await?;
            match container {
                Some(c) => addons::connect_attachments(state, &addon, &c.id).await,
                None => Ok(()),
            }
        };
        let attached = match joined.await {
            Ok(()) => super::config::apply(&op, &BTreeMap::from([(var_of(&attachment), Some(url))])).await,
            Err(err) => Err(AppError::Other(err)),
        };
        if let Err(err) = attached {
            let mut tx = state.db.begin().await?;
            db::addons::detach(&mut tx, addon.id, op.app.id).await?;
            tx.commit().await?;
            return Err(err);
        }
        Ok(())
    })
    .await
}

/// Detach an add-on from an app that did not create it.
pub async fn detach(state: &AppState, actor: &Actor, app: &App, addon: &Addon) -> AppResult<Job<()>> {
    if addon.app_id == app.id {
        return Err(AppError::validation(
            "addon",
            format!("{} was created for {}; destroy it instead (addons:destroy)", addon.name, app.name),
        ));
    }
    let plan = Plan { action: "addon.detach", summary: addon.name.clone(), push: None };
    let addon = addon.clone();
    launch(state, app, actor, plan, move |op| async move {
        let _lock = op.lock().await?;
        unset(&op, &addon).await
    })
    .await
}

/// End an add-on's attachment to the operation's app: its config var goes
/// with a release, and the attachment once that release is live (a server
/// that stops between the two leaves an attachment without its var, which
/// `settle` ends at the next start).
async fn unset(op: &Op, addon: &Addon) -> AppResult<()> {
    let state = &op.state;
    let Some((_, attachment)) =
        db::addons::attached_to(&state.db, op.app.id).await?.into_iter().find(|(a, _)| a.id == addon.id)
    else {
        return Err(AppError::not_found(format!("{} is not attached to {}", addon.name, op.app.name)));
    };
    op.out.step(format!("Unsetting {} on {}", var_of(&attachment), op.app.name));
    super::config::apply(op, &BTreeMap::from([(var_of(&attachment), None)])).await?;
    let mut tx = state.db.begin().await?;
    db::addons::detach(&mut tx, addon.id, op.app.id).await?;
    tx.commit().await?;
    let network = runtime::attachment_network(addon.id, op.app.id);
    if let Ok(Some(container)) = addons::running(state, addon).await {
        if let Err(err) = state.runtime.disconnect(&container.id, &network).await {
            tracing::warn!(addon = %addon.name, error = %format!("{err:#}"), "could not leave an attachment's network");
        }
    }
    remove_network_when_free(state, network);
    Ok(())
}

/// Remove a network once nothing is on it (the apps' replaced processes
/// leave as they stop).
fn remove_network_when_free(state: &AppState, network: String) {
    super::remove_once_retired(state, format!("the network {network}"), move |state| {
        let network = network.clone();
        async move { state.runtime.remove_network(&network).await }
    });
}

/// At start, before any operation runs: an attachment whose app has no
/// config var for it was cut short (an attach or create whose release never
/// went live, or a detach or destroy whose release did): it ends, and an
/// add-on whose own app's attachment ended is removed whole.
pub async fn settle(state: &AppState) -> anyhow::Result<()> {
    for addon in db::addons::all(&state.db).await? {
        for attachment in db::addons::attachments(&state.db, addon.id).await? {
            if db::config_vars::get(&state.db, attachment.app_id).await?.contains_key(&attachment.var()) {
                continue;
            }
            if attachment.app_id == addon.app_id {
                tracing::warn!(addon = %addon.name, "removing an add-on whose creation or destruction was cut short");
                remove(state, &addon).await;
                break;
            }
            tracing::warn!(addon = %addon.name, app = %attachment.app, "ending an attachment cut short");
            let mut tx = state.db.begin().await?;
            db::addons::detach(&mut tx, addon.id, attachment.app_id).await?;
            tx.commit().await?;
        }
    }
    Ok(())
}

/// Destroy an add-on of `app`: its config var (a release), then its
/// container, its data and its backups. Refused while other apps use it.
pub async fn destroy(state: &AppState, actor: &Actor, app: &App, addon: &Addon) -> AppResult<Job<()>> {
    if addon.app_id != app.id {
        return Err(AppError::validation(
            "addon",
            format!(
                "{} belongs to {}; detach it from {} instead (addons:detach)",
                addon.name, addon.app_name, app.name
            ),
        ));
    }
    refuse_if_shared(state, addon).await?;
    let plan = Plan { action: "addon.destroy", summary: addon.name.clone(), push: None };
    let addon = addon.clone();
    launch(state, app, actor, plan, move |op| async move {
        let state = &op.state;
        let _lock = op.lock().await?;
        refuse_if_shared(state, &addon).await?;
        unset(&op, &addon).await?;
        op.out.step(format!("Deleting {} and its data", addon.name));
        remove(state, &addon).await;
        Ok(())
    })
    .await
}

/// Other apps still use it: refused, with what to do.
pub async fn refuse_if_shared(state: &AppState, addon: &Addon) -> AppResult<()> {
    let others: Vec<String> = db::addons::attachments(&state.db, addon.id)
        .await?
        .into_iter()
        .filter(|a| a.app_id != addon.app_id)
        .map(|a| a.app)
        .collect();
    if let Some(first) = others.first() {
        return Err(AppError::Conflict(format!(
            "{} is attached to {} too; detach it there first (paas addons:detach {} -a {first})",
            addon.name,
            others.join(", "),
            addon.name
        )));
    }
    Ok(())
}

/// Remove an add-on whose apps no longer use it: its row (the reconcile loop
/// stops keeping it), then what it has in the engine and on disk.
pub async fn remove(state: &AppState, addon: &Addon) {
    let backups = db::addons::backups(&state.db, addon.id).await.unwrap_or_default();
    let attached = db::addons::attachments(&state.db, addon.id).await.unwrap_or_default();
    let deleted = async {
        let mut tx = state.db.begin().await?;
        db::addons::delete(&mut tx, addon.id).await?;
        tx.commit().await
    };
    match deleted.await {
        Ok(()) => clear(state, addon, &backups, &attached).await,
        Err(err) => tracing::warn!(addon = %addon.name, error = %err, "could not delete an add-on"),
    }
}

/// The container, volume, network and backup files of an add-on whose row
/// is gone. What cannot be removed now is logged; a container is removed by
/// the reconcile loop, a volume at the next start.
pub async fn clear(state: &AppState, addon: &Addon, backups: &[Backup], attached: &[Attachment]) {
    let result = async {
        // A start the reconcile loop began before the row went may still
        // bring a container up: it goes too, until the volume is free.
        let id = addon.id.to_string();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            for c in state.runtime.list(&[(runtime::LABEL_ADDON, &id)]).await? {
                state.runtime.stop_and_remove(&c.id, Duration::from_secs(state.config.stop_grace)).await?;
            }
            match state.runtime.remove_volume(&addons::volume_name(addon.id)).await {
                Ok(()) => break,
                Err(err) if tokio::time::Instant::now() >= deadline => return Err(err),
                Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
            }
        }
        for backup in backups {
            backups::delete(&state.config, backup.id).await?;
        }
        anyhow::Ok(())
    };
    if let Err(err) = result.await {
        tracing::warn!(addon = %addon.name, error = %format!("{err:#}"), "could not remove all of an add-on");
    }
    remove_network_when_free(state, runtime::addon_network(addon.id));
    for attachment in attached {
        remove_network_when_free(state, runtime::attachment_network(addon.id, attachment.app_id));
    }
}

/// Capture a backup of an add-on attached to `app`.
pub async fn capture(state: &AppState, actor: &Actor, app: &App, addon: &Addon) -> AppResult<Job<Backup>> {
    capture_as(state, actor, app, addon, false).await
}

/// Capture a backup, asked for or `scheduled` (then the schedule's oldest
/// beyond the add-on's `backup_keep` go once it is done).
async fn capture_as(
    state: &AppState,
    actor: &Actor,
    app: &App,
    addon: &Addon,
    scheduled: bool,
) -> AppResult<Job<Backup>> {
    let service = addons::of(addon)?;
    if service.dump_command().is_none() {
        return Err(AppError::validation("addon", format!("{} has no backups", service.title())));
    }
    let summary = format!("{}{}", addon.name, if scheduled { " (scheduled)" } else { "" });
    let plan = Plan { action: "addon.backup", summary, push: None };
    let addon = addon.clone();
    launch(state, app, actor, plan, move |op| async move {
        let state = &op.state;
        let backup = db::addons::start_backup(&state.db, addon.id, scheduled).await?;
        op.out.step(format!("Backing up {} to {}", addon.name, backup.name()));
        let result = backups::capture(state, &addon, backup.id).await;
        let size = match result {
            Ok(size) => size as i64,
            Err(err) => {
                let err = format!("{err:#}");
                db::addons::finish_backup(&state.db, backup.id, Err(err.clone())).await?;
                return Err(AppError::DeployFailed(err));
            }
        };
        op.out.step(format!("{} done: {} bytes, encrypted at rest", backup.name(), size));
        // Completed and audited together: whoever sees the one sees the other.
        let mut tx = state.db.begin().await?;
        db::addons::finish_backup(&mut *tx, backup.id, Ok(size)).await?;
        db::audit::record(&mut tx, &op.audit(&format!("to {}", backup.name()))).await?;
        db::operations::commit(&mut tx, op.id).await?;
        tx.commit().await?;
        if scheduled {
            let all = db::addons::backups(&state.db, addon.id).await?;
            for id in beyond_keep(&all, addon.backup_keep) {
                backups::delete(&state.config, id).await?;
                db::addons::delete_backup(&state.db, id).await?;
                op.out.step(format!("Deleted b{id:03}: the schedule keeps {}", addon.backup_keep));
            }
        }
        db::addons::find_backup(&state.db, addon.id, backup.id).await?.ok_or_else(|| AppError::not_found("the backup"))
    })
    .await
}

/// The scheduled backups past the newest `keep` of them (asked-for ones are
/// never pruned, running ones wait).
fn beyond_keep(backups: &[Backup], keep: i32) -> Vec<i64> {
    let mut scheduled: Vec<&Backup> = backups.iter().filter(|b| b.scheduled && b.status != "running").collect();
    scheduled.sort_by_key(|b| std::cmp::Reverse(b.id));
    scheduled.into_iter().skip(keep.max(1) as usize).map(|b| b.id).collect()
}

/// An hour of the day as `pg:backups:schedule --at` takes it: `02:00`,
/// `2`, `02:00 UTC`. Other time zones are refused (the schedule is UTC).
pub fn schedule_hour(at: &str) -> AppResult<i16> {
    let fail = |why: &str| AppError::validation("at", format!("{at:?} is not an hour of the day: {why}"));
    let mut parts = at.split_whitespace();
    let time = parts.next().ok_or_else(|| fail("give one, like 02:00"))?;
    if let Some(zone) = parts.next() {
        if !zone.eq_ignore_ascii_case("UTC") || parts.next().is_some() {
            return Err(fail("schedules are in UTC; give the hour in UTC"));
        }
    }
    let (hour, minute) = time.split_once(':').unwrap_or((time, "00"));
    let hour: i16 = hour.parse().map_err(|_| fail("HH:00, 0 to 23"))?;
    if !(0..=23).contains(&hour) || !minute.chars().all(|c| c.is_ascii_digit()) || minute.len() != 2 {
        return Err(fail("HH:00, 0 to 23"));
    }
    Ok(hour)
}

/// Schedule an add-on's daily backups (or stop them, `hour` None).
pub async fn schedule(
    state: &AppState,
    actor: &Actor,
    app: &App,
    addon: &Addon,
    hour: Option<i16>,
    keep: i32,
) -> AppResult<()> {
    if !(1..=90).contains(&keep) {
        return Err(AppError::validation("keep", "keep 1 to 90 scheduled backups"));
    }
    if addons::of(addon)?.dump_command().is_none() {
        return Err(AppError::validation("addon", format!("{} has no backups", addon.name)));
    }
    db::addons::set_schedule(&state.db, addon.id, hour, keep, actor.user.id).await?;
    let detail = match hour {
        Some(h) => format!("{} daily at {h:02}:00 UTC, keeping {keep}", addon.name),
        None => format!("{} unscheduled", addon.name),
    };
    super::run::audit(state, actor, app, "addon.backup.schedule", detail).await
}

/// Take the scheduled backups that are due, every 10 s: each add-on once a
/// day, in the hour it is scheduled at (a server down all that hour skips
/// that day), in the name of the member who scheduled it.
pub fn spawn_schedule(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        loop {
            tick.tick().await;
            if let Err(err) = take_due_backups(&state).await {
                tracing::warn!(error = %format!("{err:#}"), "could not take scheduled backups");
            }
        }
    });
}

async fn take_due_backups(state: &AppState) -> anyhow::Result<()> {
    use chrono::Timelike;
    let now = chrono::Utc::now();
    let today = now.date_naive().and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    for addon in db::addons::due_backups(&state.db, now.hour() as i16, today).await? {
        let user = match addon.backup_scheduled_by {
            Some(id) => db::users::find_by_id(&state.db, id).await?,
            None => None,
        };
        let (Some(user), Some(app)) = (user, db::apps::find_by_name(&state.db, &addon.app_name).await?) else {
            continue;
        };
        let actor = Actor::new(user, "schedule");
        if let Err(err) = capture_as(state, &actor, &app, &addon, true).await {
            tracing::warn!(addon = %addon.name, error = %err.public_message(), "a scheduled backup could not start");
        }
    }
    Ok(())
}

/// A backup's id from its name (`b007` or `7`).
pub fn backup_id(name: &str) -> AppResult<i64> {
    name.trim()
        .trim_start_matches(['b', 'B'])
        .parse()
        .map_err(|_| AppError::validation("backup", format!("{name:?} is not a backup name (b001)")))
}

/// Restore a completed backup of an add-on into it.
pub async fn restore(state: &AppState, actor: &Actor, app: &App, addon: &Addon, backup: &Backup) -> AppResult<Job<()>> {
    if backup.status != "completed" {
        return Err(AppError::validation(
            "backup",
            format!("{} {}; restore a completed one", backup.name(), backup.status),
        ));
    }
    let plan = Plan { action: "addon.restore", summary: format!("{} from {}", addon.name, backup.name()), push: None };
    let (addon, backup) = (addon.clone(), backup.clone());
    launch(state, app, actor, plan, move |op| async move {
        let state = &op.state;
        op.out.step(format!("Restoring {} into {}", backup.name(), addon.name));
        backups::restore(state, &addon, backup.id).await.map_err(|e| AppError::DeployFailed(format!("{e:#}")))?;
        let mut tx = state.db.begin().await?;
        db::audit::record(&mut tx, &op.audit("")).await?;
        db::operations::commit(&mut tx, op.id).await?;
        tx.commit().await?;
        op.out.step(format!("{} restored", backup.name()));
        Ok(())
    })
    .await
}

/// Delete a backup (its file, then its record); a running one cannot be.
pub async fn delete_backup(
    state: &AppState,
    actor: &Actor,
    app: &App,
    addon: &Addon,
    backup: &Backup,
) -> AppResult<()> {
    if backup.status == "running" {
        return Err(AppError::Conflict(format!("{} is still being captured", backup.name())));
    }
    backups::delete(&state.config, backup.id).await?;
    db::addons::delete_backup(&state.db, backup.id).await?;
    let detail = format!("{} {}", addon.name, backup.name());
    super::run::audit(state, actor, app, "addon.backup.delete", detail).await
}

/// Open an add-on's console (`pg:psql`) attached to `app`; with `command`,
/// only that runs. The session and the add-on's name.
pub async fn console(
    state: &AppState,
    actor: &Actor,
    app: &App,
    name: &str,
    command: Option<&str>,
    tty: bool,
) -> AppResult<(String, Session)> {
    let (addon, _) = find(state, app, name).await?;
    let container = addons::running(state, &addon)
        .await?
        .ok_or_else(|| AppError::Conflict(format!("{} is not running; try again in a moment", addon.name)))?;
    let command = command.map(str::trim).filter(|c| !c.is_empty());
    let argv = addons::of(&addon)?.console_command(command);
    super::run::audit(state, actor, app, "addon.console", addon.name.clone()).await?;
    let session = state
        .runtime
        .exec(&container.id, argv, tty)
        .await
        .map_err(|e| AppError::Conflict(format!("could not open {}'s console: {e:#}", addon.name)))?;
    Ok((addon.name, session))
}

/// A rollback keeps the app's add-ons as they are: the vars of its current
/// attachments keep their values, whatever the earlier release had.
pub async fn keep_attachment_vars(state: &AppState, app: &App, config: &mut Sealed) -> AppResult<()> {
    let current = db::config_vars::get(&state.db, app.id).await?;
    for var in db::addons::vars_of(&state.db, app.id).await? {
        if let Some(value) = current.get(&var) {
            config.insert(var, value.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{attachment_name, backup_id, beyond_keep, schedule_hour};
    use crate::db::addons::Backup;

    #[test]
    fn attachment_names_are_config_var_stems() {
        assert_eq!(attachment_name("database").unwrap(), "DATABASE");
        assert_eq!(attachment_name("REPORTS_URL").unwrap(), "REPORTS");
        for bad in ["", "1DB", "my-db", "PAAS_DB"] {
            assert!(attachment_name(bad).is_err(), "{bad}");
        }
        assert_eq!(backup_id("b007").unwrap(), 7);
        assert!(backup_id("latest").is_err());
    }

    #[test]
    fn schedules_take_utc_hours_and_keep_the_newest_scheduled_backups() {
        assert_eq!(schedule_hour("02:00").unwrap(), 2);
        assert_eq!(schedule_hour("23").unwrap(), 23);
        assert_eq!(schedule_hour("7:00 UTC").unwrap(), 7);
        for bad in ["24:00", "02:00 America/New_York", "noon", "", "2:0"] {
            assert!(schedule_hour(bad).is_err(), "{bad}");
        }
        let backup = |id: i64, scheduled: bool, status: &str| Backup {
            id,
            addon_id: 1,
            status: status.into(),
            size_bytes: None,
            error: None,
            created_at: chrono::Utc::now(),
            finished_at: None,
            scheduled,
        };
        let all = [
            backup(1, true, "completed"),
            backup(2, false, "completed"),
            backup(3, true, "failed"),
            backup(4, true, "completed"),
            backup(5, true, "running"),
        ];
        assert_eq!(beyond_keep(&all, 1), vec![3, 1], "the newest finished scheduled one stays; asked-for ones all do");
        assert_eq!(beyond_keep(&all, 7), Vec::<i64>::new());
    }
}
