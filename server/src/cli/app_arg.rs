//! `-a APP`: the flag, else `PAAS_APP`, else the app of the `paas` git remote
//! of the repository in the current directory (as Heroku does).

use anyhow::bail;

#[derive(Debug, Clone, clap::Args)]
pub struct AppArg {
    /// The app (default: PAAS_APP, or the `paas` git remote here)
    #[arg(long = "app", short = 'a', env = "PAAS_APP")]
    pub app: Option<String>,
}

impl AppArg {
    pub fn resolve(&self) -> anyhow::Result<String> {
        if let Some(app) = &self.app {
            return Ok(app.clone());
        }
        if let Some(app) = from_git_remote() {
            return Ok(app);
        }
        bail!("which app? Pass -a APP (or run this inside a repository with a `paas` git remote)")
    }
}

fn from_git_remote() -> Option<String> {
    let out = std::process::Command::new("git").args(["config", "--get", "remote.paas.url"]).output().ok()?;
    let url = String::from_utf8(out.stdout).ok()?;
    let name = url.trim().rsplit('/').next()?.strip_suffix(".git")?;
    (!name.is_empty()).then(|| name.to_string())
}

/// `-a APP [--json]`, for the commands that list something of an app.
#[derive(Debug, clap::Args)]
pub struct AppListArgs {
    #[command(flatten)]
    pub app: AppArg,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}
