//! A count of changes to something published elsewhere (the routing table,
//! the apps' router settings, certificates, ACME challenges): whoever
//! publishes it waits for the next change and knows which one it sent.

use tokio::sync::watch;

#[derive(Debug, Default)]
pub struct Changes(watch::Sender<u64>);

impl Changes {
    /// Count one more change; its number.
    pub fn bump(&self) -> u64 {
        let mut now = 0;
        self.0.send_modify(|n| {
            *n += 1;
            now = *n;
        });
        now
    }

    /// The number of the last change.
    pub fn current(&self) -> u64 {
        *self.0.borrow()
    }

    /// The count so far, and a way to wait for the next change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_change_is_numbered_and_wakes_whoever_waits() {
        let changes = Changes::default();
        let mut waiting = changes.subscribe();
        assert_eq!(changes.bump(), 1);
        waiting.changed().await.unwrap();
        assert_eq!((*waiting.borrow(), changes.current()), (1, 1));
    }
}
