//! Old releases' images: once a rollout's replaced processes have stopped,
//! the images no release among the app's newest `--keep-release-images`
//! (nor its current one) names are removed, so an app pushed hundreds of
//! times does not fill the disk. Rolling back to a release whose image went
//! is refused, saying so; an image a container still uses stays.

use std::collections::{BTreeSet, HashSet};

use crate::db;
use crate::db::apps::App;
use crate::state::AppState;

/// The images to remove, given an app's releases (id, image) newest first:
/// those only releases past the newest `keep` name, other than the current
/// one (`current`, an id). `keep` 0 keeps every image.
pub fn beyond(releases: &[(i64, &str)], current: Option<i64>, keep: usize) -> Vec<String> {
    if keep == 0 {
        return Vec::new();
    }
    let kept: HashSet<&str> = releases
        .iter()
        .enumerate()
        .filter(|(n, (id, _))| *n < keep || Some(*id) == current)
        .map(|(_, (_, image))| *image)
        .collect();
    let gone: BTreeSet<&str> = releases.iter().map(|(_, image)| *image).filter(|i| !kept.contains(i)).collect();
    gone.into_iter().map(str::to_string).collect()
}

/// Remove the app's images beyond what it keeps; failures are logged.
pub async fn prune(state: &AppState, app: &App) {
    let listed = async {
        let releases = db::releases::list(&state.db, app.id).await?;
        let current = db::releases::current(&state.db, app.id).await?.map(|r| r.id);
        let named: Vec<(i64, &str)> = releases.iter().map(|r| (r.id, r.image.as_str())).collect();
        anyhow::Ok(beyond(&named, current, state.config.keep_release_images))
    };
    let images = match listed.await {
        Ok(images) => images,
        Err(err) => {
            tracing::warn!(app = %app.name, error = %format!("{err:#}"), "could not list the releases whose images may go");
            return;
        }
    };
    for image in images {
        if let Err(err) = state.runtime.remove_image(&image).await {
            tracing::warn!(app = %app.name, image = %image, error = %format!("{err:#}"), "could not remove an old release's image");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_images_no_kept_release_names_go() {
        // v5..v1, newest first; v4 changed only config (v5's image again).
        let releases = [(5, "paas/a:e"), (4, "paas/a:e"), (3, "paas/a:c"), (2, "paas/a:b"), (1, "paas/a:a")];
        assert_eq!(beyond(&releases, Some(5), 2), ["paas/a:a", "paas/a:b", "paas/a:c"]);
        assert_eq!(beyond(&releases, Some(5), 3), ["paas/a:a", "paas/a:b"]);
        // Rolled back to v2: its image stays however old.
        assert_eq!(beyond(&releases, Some(2), 2), ["paas/a:a", "paas/a:c"]);
        assert!(beyond(&releases, Some(5), 0).is_empty(), "0 keeps all");
        assert!(beyond(&releases, Some(5), 10).is_empty());
    }
}
