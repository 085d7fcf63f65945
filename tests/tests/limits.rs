//! Everything has a limit a user can hit and read about: the size of a push,
//! how long a build, a request to an app, or a wait for another deploy may
//! take. Nothing hangs forever, and the running release keeps serving.

use std::time::{Duration, Instant};

use paas_e2e::apps::AppRepo;
use paas_e2e::TestServer;
use serde_json::json;

#[tokio::test]
async fn a_push_over_the_size_limit_is_refused_and_nothing_changes() {
    let server = TestServer::start_with_env(&[("PAAS_MAX_PUSH_SIZE", "1m")]).await;
    let token = server.admin_token().await;
    server.create_app(&token, "lim-size").await;
    let repo = AppRepo::from_fixture("hello");
    // 3 MB that does not compress.
    let mut noise = vec![0u8; 3_000_000];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut noise).unwrap();
    std::fs::write(repo.path().join("www/noise.bin"), noise).unwrap();
    repo.commit("too big");
    let (ok, output) = repo.push(&server.git_url("lim-size", &token));
    assert!(!ok, "{output}");
    assert!(server.all_logs().contains("refused a push larger than the push size limit"), "{output}");
    let (_, releases) = server.call("GET", "/apps/lim-size/releases", &token, None).await;
    assert_eq!(releases, json!([]), "nothing was released");
    // A push under the limit still works.
    let small = AppRepo::from_fixture("hello");
    let (ok, output) = small.push(&server.git_url("lim-size", &token));
    assert!(ok, "{output}");
}

#[tokio::test]
async fn a_build_over_the_build_timeout_is_stopped_and_the_push_refused() {
    let (server, token, repo) = {
        let server = TestServer::start_with_env(&[("PAAS_BUILD_TIMEOUT", "3")]).await;
        let token = server.admin_token().await;
        server.create_app(&token, "lim-build").await;
        let repo = AppRepo::from_fixture("hello");
        assert!(repo.push(&server.git_url("lim-build", &token)).0);
        (server, token, repo)
    };
    let dockerfile = std::fs::read_to_string(repo.path().join("Dockerfile")).unwrap();
    repo.write("Dockerfile", &format!("{dockerfile}RUN sleep 60\n"));
    repo.commit("a build that never ends");
    let began = Instant::now();
    let (ok, output) = repo.push(&server.git_url("lim-build", &token));
    assert!(!ok, "{output}");
    assert!(output.contains("the build took longer than 3 s (the build timeout) and was stopped"), "{output}");
    assert!(began.elapsed() < Duration::from_secs(30), "stopped, not waited out: {:?}", began.elapsed());
    assert_eq!(server.app_get("lim-build", "/").await, (200, "hello from v1\n".to_string()));
    let (_, builds) = server.call("GET", "/apps/lim-build/builds", &token, None).await;
    assert_eq!(builds[0]["status"], "failed", "{builds}");
}

#[tokio::test]
async fn a_request_the_app_does_not_answer_in_time_gets_504() {
    let server = TestServer::start_with_env(&[("PAAS_PROXY_TIMEOUT", "2")]).await;
    let token = server.admin_token().await;
    server.create_app(&token, "lim-proxy").await;
    let repo = AppRepo::from_fixture("healing");
    assert!(repo.push(&server.git_url("lim-proxy", &token)).0);
    let began = Instant::now();
    let (status, body) = server.app_get("lim-proxy", "/cgi-bin/slow?10").await;
    assert_eq!(status, 504, "{body}");
    assert!(body.contains("lim-proxy did not answer within 2 s"), "{body}");
    assert!(began.elapsed() < Duration::from_secs(8), "{:?}", began.elapsed());
    assert_eq!(server.app_get("lim-proxy", "/").await.0, 200, "quick requests still pass");
}

#[tokio::test]
async fn a_change_gives_up_waiting_for_another_deploy_after_the_lock_timeout() {
    let server = TestServer::start_with_env(&[("PAAS_LOCK_TIMEOUT", "2")]).await;
    let token = server.admin_token().await;
    server.create_app(&token, "lim-lock").await;
    let repo = AppRepo::from_fixture("hello");
    assert!(repo.push(&server.git_url("lim-lock", &token)).0);
    // A push whose release phase takes a while holds the app's lock.
    repo.write("Procfile", "web: exec httpd -f -p $PORT -h /www\nrelease: sleep 8\n");
    repo.commit("slow release phase");
    let mut push = repo.push_command(&server.git_url("lim-lock", &token), "main").spawn().unwrap();
    paas_e2e::wait_until("the release phase to run", Duration::from_secs(30), || async {
        paas_e2e::apps::containers("lim-lock").iter().any(|c| c.contains("-release-"))
    })
    .await;
    let (status, body) = server.call("PATCH", "/apps/lim-lock/config", &token, Some(json!({ "X": "1" }))).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("gave up after 2 s waiting for another deploy"),
        "{body}"
    );
    assert!(push.wait().unwrap().success(), "the push that held the lock finishes");
}
