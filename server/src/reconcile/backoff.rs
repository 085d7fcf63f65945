//! Crash-loop backoff, as Heroku does it: a process that crashes is restarted
//! at once the first time; if it keeps crashing, each restart waits longer,
//! up to a cap. A process that ran long enough before crashing starts over
//! at once. Pure: the caller passes how long the process ran.

use std::time::Duration;

/// The waits after the 2nd, 3rd, ... consecutive crash double from this.
pub const BASE: Duration = Duration::from_secs(2);
/// The longest wait between restarts.
pub const MAX: Duration = Duration::from_secs(300);
/// A process that ran this long before crashing had recovered: its next
/// crash counts as the first.
pub const RESET_AFTER: Duration = Duration::from_secs(60);

/// After a crash: the new count of consecutive crashes, and how long to wait
/// before the next start. `ran_for`: how long the process had been up, if it
/// ever came up.
pub fn after_crash(previous: u32, ran_for: Option<Duration>) -> (u32, Duration) {
    let count = if ran_for.is_some_and(|d| d >= RESET_AFTER) { 1 } else { previous.saturating_add(1) };
    let wait = match count {
        0 | 1 => Duration::ZERO,
        n => BASE.saturating_mul(2u32.saturating_pow((n - 2).min(16))).min(MAX),
    };
    (count, wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_crash_restarts_at_once_then_waits_grow_to_a_cap() {
        let mut count = 0;
        let mut waits = Vec::new();
        for _ in 0..12 {
            let (next, wait) = after_crash(count, Some(Duration::from_secs(1)));
            count = next;
            waits.push(wait.as_secs());
        }
        assert_eq!(waits, vec![0, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
    }

    #[test]
    fn a_process_that_ran_long_enough_starts_over() {
        assert_eq!(after_crash(7, Some(RESET_AFTER)), (1, Duration::ZERO));
        assert_eq!(after_crash(7, Some(RESET_AFTER - Duration::from_secs(1))).0, 8);
        assert_eq!(after_crash(2, None), (3, Duration::from_secs(4)), "never came up: no reset");
        assert_eq!(after_crash(u32::MAX, None).1, MAX);
    }
}
