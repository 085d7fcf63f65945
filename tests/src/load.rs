//! A request loop through the router that counts what failed: the measure of
//! "no request dropped" while something changes underneath.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Load {
    done: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failures: Arc<Mutex<Vec<String>>>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// `workers` loops GETting `path` of `app` through the router, until
    /// stopped (or 240 s, or 50,000 requests each).
    pub fn start(router: &str, app: &str, path: &str, workers: usize) -> Self {
        Self::start_host(router, &format!("{app}.paas.test"), path, workers)
    }

    /// The same, for any `Host` (a custom domain).
    pub fn start_host(router: &str, host: &str, path: &str, workers: usize) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let workers = (0..workers)
            .map(|_| {
                let (done, ok, failures) = (done.clone(), ok.clone(), failures.clone());
                let url = format!("http://{router}{path}");
                let host = host.to_string();
                tokio::spawn(async move {
                    let client = reqwest::Client::new();
                    let deadline = Instant::now() + Duration::from_secs(240);
                    for _ in 0..50_000 {
                        if done.load(Ordering::SeqCst) || Instant::now() > deadline {
                            break;
                        }
                        match client.get(&url).header("host", &host).send().await {
                            Ok(r) if r.status() == 200 => {
                                ok.fetch_add(1, Ordering::SeqCst);
                            }
                            Ok(r) => failures.lock().unwrap().push(format!("status {}", r.status())),
                            Err(e) => failures.lock().unwrap().push(e.to_string()),
                        }
                    }
                })
            })
            .collect();
        Self { done, ok, failures, workers }
    }

    /// Requests answered 200 so far.
    pub fn ok(&self) -> usize {
        self.ok.load(Ordering::SeqCst)
    }

    /// Wait until `more` further requests succeeded (the app serves).
    pub async fn wait_for(&self, more: usize, within: Duration) {
        let target = self.ok() + more;
        crate::wait_until("requests to succeed", within, || async { self.ok() >= target }).await;
    }

    /// Stop; (succeeded, failures).
    pub async fn stop(self) -> (usize, Vec<String>) {
        self.done.store(true, Ordering::SeqCst);
        for worker in self.workers {
            let _ = worker.await;
        }
        let failures = self.failures.lock().unwrap().clone();
        (self.ok.load(Ordering::SeqCst), failures)
    }
}
