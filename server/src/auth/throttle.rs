//! One throttle for every password check (the dashboard's login and the
//! API's basic auth alike). Failures count per account *and* client address,
//! so an attacker locks out only their own attempts at an account, never
//! its owner elsewhere; and per address, so spraying many accounts from one
//! address stops too. Time is passed in, so the rules are tested without
//! sleeping.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed per account and address within `WINDOW`.
pub const PER_ACCOUNT: u32 = 5;
/// Failures allowed per address (any accounts) within `WINDOW`.
pub const PER_ADDRESS: u32 = 30;
pub const WINDOW: Duration = Duration::from_secs(300);
/// Entries kept at most (oldest windows go first beyond it).
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Count {
    failures: u32,
    since: Instant,
}

#[derive(Default)]
pub struct Throttle {
    accounts: Mutex<HashMap<(String, IpAddr), Count>>,
    addresses: Mutex<HashMap<IpAddr, Count>>,
}

impl Throttle {
    /// How long until `email` may be tried again from `client`, if it is held off now.
    pub fn wait(&self, email: &str, client: IpAddr, now: Instant) -> Option<Duration> {
        let held = |count: Option<&Count>, limit: u32| {
            count.and_then(|c| {
                let elapsed = now.saturating_duration_since(c.since);
                (c.failures >= limit && elapsed < WINDOW).then(|| WINDOW - elapsed)
            })
        };
        let account = self.accounts.lock().ok().and_then(|a| held(a.get(&(email.to_string(), client)), PER_ACCOUNT));
        let address = self.addresses.lock().ok().and_then(|a| held(a.get(&client), PER_ADDRESS));
        account.into_iter().chain(address).max()
    }

    pub fn failed(&self, email: &str, client: IpAddr, now: Instant) {
        if let Ok(mut accounts) = self.accounts.lock() {
            bump(&mut accounts, (email.to_string(), client), now);
        }
        if let Ok(mut addresses) = self.addresses.lock() {
            bump(&mut addresses, client, now);
        }
    }

    /// A correct password: this account's count from this address starts over.
    pub fn succeeded(&self, email: &str, client: IpAddr) {
        if let Ok(mut accounts) = self.accounts.lock() {
            accounts.remove(&(email.to_string(), client));
        }
    }
}

fn bump<K: std::hash::Hash + Eq + Clone>(map: &mut HashMap<K, Count>, key: K, now: Instant) {
    if map.len() >= MAX_ENTRIES {
        map.retain(|_, c| now.saturating_duration_since(c.since) < WINDOW);
    }
    let count = map.entry(key).or_insert(Count { failures: 0, since: now });
    if now.saturating_duration_since(count.since) >= WINDOW {
        *count = Count { failures: 0, since: now };
    }
    count.failures += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    const ATTACKER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 66));
    const OWNER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));

    #[test]
    fn an_account_is_held_off_for_one_address_only() {
        let throttle = Throttle::default();
        let t0 = Instant::now();
        for i in 0..PER_ACCOUNT {
            assert!(throttle.wait("a@x", ATTACKER, t0).is_none(), "attempt {i}");
            throttle.failed("a@x", ATTACKER, t0);
        }
        let wait = throttle.wait("a@x", ATTACKER, t0 + Duration::from_secs(60)).unwrap();
        assert_eq!(wait, WINDOW - Duration::from_secs(60));
        assert!(throttle.wait("a@x", OWNER, t0).is_none(), "the owner elsewhere is not locked out");
        assert!(throttle.wait("a@x", ATTACKER, t0 + WINDOW).is_none(), "the window ends");
    }

    #[test]
    fn spraying_many_accounts_from_one_address_is_held_off() {
        let throttle = Throttle::default();
        let t0 = Instant::now();
        for i in 0..PER_ADDRESS {
            throttle.failed(&format!("user{i}@x"), ATTACKER, t0);
        }
        assert!(throttle.wait("fresh@x", ATTACKER, t0).is_some());
        assert!(throttle.wait("fresh@x", OWNER, t0).is_none());
    }

    #[test]
    fn success_clears_the_account_count() {
        let throttle = Throttle::default();
        let t0 = Instant::now();
        for _ in 0..PER_ACCOUNT - 1 {
            throttle.failed("a@x", OWNER, t0);
        }
        throttle.succeeded("a@x", OWNER);
        throttle.failed("a@x", OWNER, t0);
        assert!(throttle.wait("a@x", OWNER, t0).is_none());
    }
}
