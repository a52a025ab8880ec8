//! The `zayavka` binary as a user runs it: serve answers, keeps its data across restarts,
//! refuses a second instance, and loses no queued message when it is stopped or killed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use zayavka::deps::Embedded;
use zayavka::ports::{OutMessage, Queue, SystemClock};
use zayavka::queues::QueueSpec;
use zayavka::sqs_batch::{QueueWorker, run_batch};
use zayavka_cli::serve::{self, Registry, ServeOptions};

const BIN: &str = env!("CARGO_BIN_EXE_zayavka");

/// A finished command as (succeeded, stdout, stderr).
fn outcome(out: std::process::Output) -> (bool, String, String) {
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

struct Serve {
    child: Child,
    url: String,
    first_line: String,
    /// Lines printed to stdout before the address.
    lines_before: usize,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a process and reads the address from its first stdout line.
fn spawn_and_read_address(mut cmd: Command) -> Serve {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start process");
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = BufReader::new(stdout);
    // The test harness of a child process prints its own lines first.
    let mut lines_before = 0;
    let (line, url) = loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).expect("read stdout");
        assert!(n > 0, "process ended before printing its address");
        if let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) {
            let url = url.to_string();
            break (line, url);
        }
        lines_before += 1;
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in reader.lines() {});
    Serve {
        child,
        url,
        first_line: line,
        lines_before,
    }
}

fn serve(data_dir: &Path) -> Serve {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--port", "0", "--data-dir"])
        .arg(data_dir);
    spawn_and_read_address(cmd)
}

fn zayavka(args: &[&str], data_dir: &Path) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("run zayavka");
    outcome(out)
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("send SIGTERM");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "did not stop within 20 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn visible_in(list_output: &str, queue: &str) -> u64 {
    list_output
        .lines()
        .find(|l| l.split_whitespace().next() == Some(queue))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no row for {queue} in {list_output}"))
}

#[tokio::test]
async fn serve_answers_health_and_keeps_its_data_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut first = serve(&data);
    // The address is the first thing on stdout (logs go to stderr), for scripts that read it.
    assert_eq!(first.lines_before, 0, "stdout before the address");
    let health: serde_json::Value = reqwest::get(format!("{}/health", first.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["backend"], "embedded");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    for f in [
        "lead-submit",
        "support-form",
        "telegram-webhook",
        "okdesk-webhook",
    ] {
        assert_eq!(health["functions"][f], "ok", "{health}");
        let one = reqwest::get(format!("{}/health/{f}", first.url))
            .await
            .unwrap();
        assert_eq!(one.status(), 200);
    }
    let missing = reqwest::get(format!("{}/no/such/route", first.url))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");

    // A message queued while serve runs, on the one queue nothing consumes (an alarm watches it).
    let (ok, _, err) = zayavka(
        &["queue", "send", "batch-results-dlq", "{\"hello\":1}"],
        &data,
    );
    assert!(ok, "{err}");
    assert_eq!(
        terminate(&mut first.child).code(),
        Some(0),
        "SIGTERM is a clean stop"
    );

    let second = serve(&data);
    assert_eq!(
        first.first_line,
        second.first_line.replace(&second.url, &first.url)
    );
    assert!(data.join("zayavka.db").exists());
    // The local API key is a credential: readable by its owner only.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(data.join("api-key"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let (ok, list, err) = zayavka(&["queue", "list"], &data);
    assert!(ok, "{err}");
    assert_eq!(visible_in(&list, "batch-results-dlq"), 1, "{list}");
}

#[tokio::test]
async fn a_second_serve_on_the_same_data_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let _first = serve(dir.path());
    let out = Command::new(BIN)
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already using"), "{stderr}");
}

#[test]
fn bad_commands_explain_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = zayavka(&["queue", "send", "no-such-queue", "x"], dir.path());
    assert!(!ok);
    assert!(err.contains("no queue named no-such-queue"), "{err}");
    let (ok, _, err) = zayavka(&["queue", "redrive", "notifications"], dir.path());
    assert!(!ok);
    assert!(err.contains("not the dead-letter queue"), "{err}");
}

// --- Crash safety: a child process runs the serve runtime with a worker that logs each
// message it starts and finishes; the parent kills it mid-message. -------------------

const CHILD_ENV: &str = "ZAYAVKA_CRASH_CHILD_DIR";
const WORK: &str = "work";

fn crash_specs() -> Vec<QueueSpec> {
    vec![
        // A long visibility timeout: recovery must not depend on it running out.
        QueueSpec::new(WORK, 600).with_dead_letter("work-dlq", 5),
        QueueSpec::new("work-dlq", 600),
    ]
}

struct LoggingWorker {
    log: PathBuf,
    slow: Duration,
}

impl LoggingWorker {
    fn append(&self, line: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open log");
        writeln!(f, "{line}").expect("write log");
        f.sync_all().expect("sync log");
    }
}

#[async_trait]
impl QueueWorker for LoggingWorker {
    fn name(&self) -> &'static str {
        "logging-worker"
    }

    fn queues(&self) -> Vec<String> {
        vec![WORK.into()]
    }

    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        run_batch(event, 1, |m| async move {
            self.append(&format!("start {}", m.body));
            if m.body.starts_with("slow") {
                tokio::time::sleep(self.slow).await;
            }
            self.append(&format!("done {}", m.body));
            Ok::<(), String>(())
        })
        .await
    }
}

/// Not a test: the process the crash tests start and kill.
#[tokio::test]
#[ignore = "helper process for the crash tests"]
async fn crash_child() {
    let dir = PathBuf::from(std::env::var(CHILD_ENV).expect("child data dir"));
    let slow = Duration::from_millis(
        std::env::var("ZAYAVKA_CRASH_SLOW_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60_000),
    );
    let worker = Arc::new(LoggingWorker {
        log: dir.join("worker.log"),
        slow,
    });
    let opts = ServeOptions::local(dir);
    serve::run(
        opts,
        crash_specs(),
        move |_, _| {
            Ok(Registry {
                workers: vec![worker],
                ..Registry::default()
            })
        },
        serve::shutdown_signal(),
    )
    .await
    .expect("serve");
}

fn start_crash_child(dir: &Path, slow_ms: u64) -> Serve {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "crash_child",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_ENV, dir)
    .env("ZAYAVKA_CRASH_SLOW_MS", slow_ms.to_string());
    spawn_and_read_address(cmd)
}

fn log_lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("worker.log"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

fn wait_for_log(dir: &Path, line: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while !log_lines(dir).iter().any(|l| l == line) {
        assert!(
            Instant::now() < deadline,
            "{line:?} not logged within {within:?}: {:?}",
            log_lines(dir)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn open_queue(dir: &Path) -> Embedded {
    Embedded::open(dir, crash_specs(), Arc::new(SystemClock)).expect("open queue")
}

#[tokio::test]
async fn killing_serve_mid_message_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_queue(dir.path());
    let mut child = start_crash_child(dir.path(), 60_000);
    store
        .queue
        .send(WORK, OutMessage::new("slow-1"))
        .await
        .unwrap();
    wait_for_log(dir.path(), "start slow-1", Duration::from_secs(10));
    // SIGKILL: no clean-up of any kind runs.
    child.child.kill().unwrap();
    child.child.wait().unwrap();
    // Enqueued while nothing consumes.
    store
        .queue
        .send(WORK, OutMessage::new("after-crash"))
        .await
        .unwrap();
    assert!(!log_lines(dir.path()).contains(&"done slow-1".to_string()));

    let _restarted = start_crash_child(dir.path(), 10);
    wait_for_log(dir.path(), "done slow-1", Duration::from_secs(10));
    wait_for_log(dir.path(), "done after-crash", Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stats = store.queue.stats(WORK).await.unwrap();
        if stats.visible + stats.in_flight + stats.delayed == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "messages left behind: {stats:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(store.queue.stats("work-dlq").await.unwrap().visible, 0);
}

#[tokio::test]
async fn sigterm_lets_the_message_in_progress_finish() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_queue(dir.path());
    let mut child = start_crash_child(dir.path(), 1_500);
    store
        .queue
        .send(WORK, OutMessage::new("slow-2"))
        .await
        .unwrap();
    wait_for_log(dir.path(), "start slow-2", Duration::from_secs(10));
    let status = terminate(&mut child.child);
    assert!(status.success(), "{status:?}");
    assert!(log_lines(dir.path()).contains(&"done slow-2".to_string()));
    let stats = store.queue.stats(WORK).await.unwrap();
    assert_eq!(stats.visible + stats.in_flight, 0, "{stats:?}");
}

// --- zayavka telegram: the webhook registration commands against a fake Bot API. ------

fn telegram_cmd(args: &[&str], api: &str) -> (bool, String, String) {
    let out = Command::new(BIN)
        .arg("telegram")
        .args(args)
        .env("TELEGRAM_API_BASE", api)
        .env("TELEGRAM_SUPPORT_BOT_TOKEN", "1:ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        .env("TELEGRAM_SUPPORT_WEBHOOK_SECRET", "support_secret-1")
        .output()
        .expect("run zayavka");
    outcome(out)
}

#[tokio::test]
async fn telegram_webhook_commands_send_the_secret_and_report_what_telegram_says() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let api = MockServer::start().await;
    let token = "1:ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    Mock::given(method("POST"))
        .and(path(format!("/bot{token}/setWebhook")))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"ok": true, "result": true, "description": "Webhook was set"}),
        ))
        .mount(&api)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{token}/getWebhookInfo")))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"ok": true, "result": {
            "url": "https://api.example.com/telegram/support/webhook", "has_custom_certificate": false,
            "pending_update_count": 3, "last_error_date": 1795256100,
            "last_error_message": "Wrong response from the webhook: 503 Service Unavailable"}})))
        .mount(&api)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{token}/deleteWebhook")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"ok": true, "result": true})),
        )
        .mount(&api)
        .await;
    let uri = api.uri();
    let url = "https://api.example.com/telegram/support/webhook";
    let (ok, out, err) = tokio::task::spawn_blocking({
        let uri = uri.clone();
        move || {
            telegram_cmd(
                &[
                    "set-webhook",
                    "--bot",
                    "support",
                    "--url",
                    url,
                    "--drop-pending-updates",
                ],
                &uri,
            )
        }
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert!(out.contains("updates now go to"), "{out}");
    let sent: serde_json::Value =
        serde_json::from_slice(&api.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(
        sent,
        serde_json::json!({"url": url, "secret_token": "support_secret-1", "allowed_updates": ["message", "callback_query"], "drop_pending_updates": true})
    );
    let (ok, out, _) = tokio::task::spawn_blocking({
        let uri = uri.clone();
        move || telegram_cmd(&["webhook-info", "--bot", "support"], &uri)
    })
    .await
    .unwrap();
    assert!(ok);
    assert!(
        out.contains("pending updates: 3") && out.contains("503 Service Unavailable"),
        "{out}"
    );
    let (ok, out, _) = tokio::task::spawn_blocking({
        let uri = uri.clone();
        move || telegram_cmd(&["delete-webhook", "--bot", "support"], &uri)
    })
    .await
    .unwrap();
    assert!(ok && out.contains("webhook removed"), "{out}");

    let (ok, _, err) = tokio::task::spawn_blocking({
        let uri = uri.clone();
        move || telegram_cmd(&["webhook-info", "--bot", "main"], &uri)
    })
    .await
    .unwrap();
    assert!(!ok && err.contains("TELEGRAM_MAIN_BOT_TOKEN"), "{err}");
    let (ok, _, err) = tokio::task::spawn_blocking(move || {
        telegram_cmd(
            &[
                "set-webhook",
                "--bot",
                "support",
                "--url",
                "http://plain.example",
            ],
            &uri,
        )
    })
    .await
    .unwrap();
    assert!(!ok && err.contains("https"), "{err}");
}

#[tokio::test]
async fn poll_feeds_updates_to_the_webhook_handler_and_refuses_while_a_webhook_is_set() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let token = "1:ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let dir = tempfile::tempdir().unwrap();
    let api = MockServer::start().await;
    let info = |url: &str| {
        ResponseTemplate::new(200).set_body_json(serde_json::json!({"ok": true, "result": {
            "url": url, "has_custom_certificate": false, "pending_update_count": 0}}))
    };
    Mock::given(method("POST"))
        .and(path(format!("/bot{token}/getWebhookInfo")))
        .respond_with(info("https://api.example.com/telegram/support/webhook"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&api)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{token}/getWebhookInfo")))
        .respond_with(info(""))
        .mount(&api)
        .await;
    let update = |id: i64| {
        serde_json::json!({"update_id": id, "message": {"message_id": id, "date": 0,
        "chat": {"id": 77, "type": "private", "first_name": "G"}, "text": "hi"}})
    };
    Mock::given(method("POST"))
        .and(path(format!("/bot{token}/getUpdates")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                serde_json::json!({"ok": true, "result": [update(1001), update(1002)]}),
            ),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&api)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{token}/getUpdates")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"ok": true, "result": []}))
                .set_delay(Duration::from_millis(200)),
        )
        .mount(&api)
        .await;
    let run = |api: String, dir: PathBuf| {
        Command::new(BIN)
            .args(["poll", "--bot", "support", "--data-dir"])
            .arg(dir)
            .env("TELEGRAM_API_BASE", api)
            .env("TELEGRAM_SUPPORT_BOT_TOKEN", token)
            .env("TELEGRAM_SUPPORT_WEBHOOK_SECRET", "support_secret-1")
            .env("TELEGRAM_ADMIN_CHAT_ID", "-100777")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // First: a webhook is set, so polling is refused with the way out.
    let refused = run(api.uri(), dir.path().to_path_buf())
        .wait_with_output()
        .unwrap();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("has a webhook set") && err.contains("delete-webhook --bot support"),
        "{err}"
    );

    let mut child = run(api.uri(), dir.path().to_path_buf());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let polls: Vec<serde_json::Value> = api
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.url.path().ends_with("/getUpdates"))
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect();
        if polls.len() >= 2 {
            assert_eq!(polls[0].get("offset"), None);
            assert_eq!(polls[1]["offset"], 1003, "confirms both updates");
            assert_eq!(
                polls[1]["allowed_updates"],
                serde_json::json!(["message", "callback_query"])
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "poll did not ask again: {polls:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Both updates were claimed, as a webhook delivery would have.
    let store = Embedded::open(dir.path(), Vec::new(), Arc::new(SystemClock)).unwrap();
    assert_eq!(store.table.count().await.unwrap(), 2);
}

#[tokio::test]
async fn support_clear_bindings_counts_then_removes_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = Embedded::open(dir.path(), Vec::new(), Arc::new(SystemClock)).unwrap();
    let deps = zayavka::Deps::embedded(&store, Arc::new(SystemClock));
    for (user, chat) in [("u:1", 101), ("a:tok2", 102)] {
        zayavka::support::store::ensure_thread(&deps, user, "X", None)
            .await
            .unwrap();
        let token = zayavka::support::store::new_binding_token(&deps, user)
            .await
            .unwrap();
        zayavka::support::store::bind(&deps, &token, chat, None)
            .await
            .unwrap();
    }
    assert!(
        zayavka::support::store::thread_of_chat(&deps, 101)
            .await
            .unwrap()
            .is_some()
    );
    let (ok, out, err) = zayavka(&["support", "clear-bindings", "--dry-run"], dir.path());
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "2 bindings would be removed");
    assert!(
        zayavka::support::store::thread_of_chat(&deps, 101)
            .await
            .unwrap()
            .is_some(),
        "a dry run changes nothing"
    );
    let (ok, out, _) = zayavka(&["support", "clear-bindings"], dir.path());
    assert!(ok);
    assert_eq!(out.trim(), "2 bindings removed");
    assert!(
        zayavka::support::store::thread_of_chat(&deps, 101)
            .await
            .unwrap()
            .is_none()
    );
    let thread = zayavka::support::store::ensure_thread(&deps, "u:1", "X", None)
        .await
        .unwrap();
    assert_eq!(thread.chat_id, None, "the thread stays, unbound");
    let (_, out, _) = zayavka(&["support", "clear-bindings", "--dry-run"], dir.path());
    assert_eq!(out.trim(), "0 bindings would be removed");
}

/// `zayavka okdesk check` with the given Okdesk settings.
fn okdesk_check(api_url: Option<&str>, token: &str, inn: Option<&str>) -> (bool, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(["okdesk", "check"]);
    if let Some(inn) = inn {
        cmd.args(["--inn", inn]);
    }
    for var in ["OKDESK_API_URL", "OKDESK_WEB_URL", "OKDESK_INN_PARAMETER"] {
        cmd.env_remove(var);
    }
    if let Some(url) = api_url {
        cmd.env("OKDESK_API_URL", url);
    }
    let out = cmd
        .env("OKDESK_API_TOKEN", token)
        .env("OKDESK_INN_PARAMETER", "inn")
        .env("OKDESK_TIMEOUT_SECS", "2")
        .output()
        .expect("run zayavka");
    outcome(out)
}

#[tokio::test]
async fn okdesk_check_gives_a_verdict_per_check() {
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let okdesk = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/issues/count"))
        .and(query_param("api_token", "good-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([11, 12, 13])))
        .mount(&okdesk)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/issues/count"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(serde_json::json!({"errors": "Неверный api_token"})),
        )
        .mount(&okdesk)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/companies/list"))
        .and(query_param("custom_parameters[inn]", "7707083893"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!([{"id": 7, "name": "ООО Ромашка"}])),
        )
        .mount(&okdesk)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/companies/list"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([])))
        .mount(&okdesk)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/companies/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
        .mount(&okdesk)
        .await;
    let api = format!("{}/api/v1", okdesk.uri());

    let (ok, out, _) = okdesk_check(Some(&api), "good-token", Some("7707 083 893"));
    assert!(ok, "{out}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            format!("✓ API reachable: {api}").as_str(),
            "✓ token accepted: yes",
            "✓ issues can be listed: 3 issues visible",
            "✓ company search by INN: 7707083893 → «ООО Ромашка» (#7) (attribute inn, then search)",
            "Okdesk is ready for zayavka.",
        ]
    );

    let (ok, out, _) = okdesk_check(Some(&api), "good-token", Some("500100732259"));
    assert!(!ok);
    assert!(
        out.contains("✗ company search by INN: 500100732259: no company found"),
        "{out}"
    );
    let (ok, out, _) = okdesk_check(Some(&api), "good-token", Some("7707083894"));
    assert!(!ok);
    assert!(
        out.contains("✗ company search by INN: 7707083894: the control digit"),
        "{out}"
    );

    let (ok, out, err) = okdesk_check(Some(&api), "stale-token", Some("7707083893"));
    assert!(!ok);
    assert!(out.contains("✓ API reachable"), "{out}");
    assert!(out.contains("✗ token accepted: HTTP 401"), "{out}");
    assert!(out.contains("– company search by INN: skipped"), "{out}");
    assert!(err.contains("some Okdesk checks failed"), "{err}");

    // Nothing listens there.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (ok, out, _) = okdesk_check(
        Some(&format!("http://127.0.0.1:{closed}/api/v1")),
        "good-token",
        None,
    );
    assert!(!ok);
    assert!(
        out.starts_with("✗ API reachable: Okdesk is not reachable"),
        "{out}"
    );
    assert!(out.contains("– token accepted: skipped"), "{out}");

    let (ok, _, err) = okdesk_check(None, "good-token", None);
    assert!(!ok);
    assert!(err.contains("OKDESK_API_URL is not set"), "{err}");
}

#[tokio::test]
async fn setting_the_main_bots_webhook_also_sets_its_command_menu_in_both_languages() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"ok": true, "result": true})),
        )
        .mount(&api)
        .await;
    let uri = api.uri();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args([
                "telegram",
                "set-webhook",
                "--bot",
                "main",
                "--url",
                "https://api.example.com/telegram/main/webhook",
            ])
            .env("TELEGRAM_API_BASE", uri)
            .env("TELEGRAM_MAIN_BOT_TOKEN", "2:ABCDEFGHIJKLMNOPQRSTUVWXYZ")
            .env("TELEGRAM_MAIN_WEBHOOK_SECRET", "main_secret-1")
            .output()
            .expect("run zayavka")
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let calls: Vec<(String, serde_json::Value)> = api
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.url.path().rsplit('/').next().unwrap().to_string(),
                serde_json::from_slice(&r.body).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        calls.iter().map(|(m, _)| m.as_str()).collect::<Vec<_>>(),
        ["setWebhook", "setMyCommands", "setMyCommands"]
    );
    assert_eq!(calls[1].1["language_code"], serde_json::Value::Null);
    assert_eq!(
        calls[1].1["commands"][0],
        serde_json::json!({"command": "menu", "description": "Меню: создать заявку, мои заявки, статус, комментарий"})
    );
    assert_eq!(calls[2].1["language_code"], "en");
    assert_eq!(calls[2].1["commands"][3]["command"], "register");
    assert!(String::from_utf8_lossy(&out.stdout).contains("command menu set (ru, en)"));
}

/// `zayavka` with the staff bot's settings pointed at a fake Bot API.
fn zayavka_staff(args: &[&str], data_dir: &Path, api: &str) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("TELEGRAM_API_BASE", api)
        .env("TELEGRAM_STAFF_BOT_TOKEN", "3:ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        .env("TELEGRAM_STAFF_WEBHOOK_SECRET", "staff_secret-1")
        .output()
        .expect("run zayavka");
    outcome(out)
}

#[tokio::test]
async fn executors_and_tickets_commands_do_the_seeds_setup_and_checks() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    use zayavka::tickets::store;
    let dir = tempfile::tempdir().unwrap();
    let store_parts = Embedded::open(
        dir.path(),
        zayavka::queues::catalogue(),
        Arc::new(SystemClock),
    )
    .unwrap();
    let deps = zayavka::Deps::embedded(&store_parts, Arc::new(SystemClock));
    let bound = store::create_user(&deps, "Алексей", Some(2001))
        .await
        .unwrap();
    let unbound = store::create_user(&deps, "Борис", None).await.unwrap();
    let it = store::create_category(&deps, "IT", vec![]).await.unwrap();
    let api = MockServer::start().await;
    let webhook_at = |url: &str| {
        ResponseTemplate::new(200).set_body_json(serde_json::json!({"ok": true, "result": {
            "url": url, "has_custom_certificate": false, "pending_update_count": 2}}))
    };
    Mock::given(method("POST"))
        .and(path("/bot3:ABCDEFGHIJKLMNOPQRSTUVWXYZ/getWebhookInfo"))
        .respond_with(webhook_at(""))
        .up_to_n_times(1)
        .mount(&api)
        .await;
    let uri = api.uri();
    let run = |args: Vec<String>| {
        let dir = dir.path().to_path_buf();
        let uri = uri.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                zayavka_staff(&args, &dir, &uri)
            })
            .await
            .unwrap()
        }
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();

    // No executor yet: the first check fails and says how to fix it; so does the webhook.
    let (ok, out, _) = run(s(&["tickets", "check", "--category", &it.id.to_string()])).await;
    assert!(!ok, "{out}");
    assert!(
        out.contains("✗ active executors with a bound Telegram: «IT» has none"),
        "{out}"
    );
    assert!(
        out.contains("✗ staff bot webhook set: Telegram sends the staff bot's updates to \"\""),
        "{out}"
    );
    assert!(
        out.contains("✓ notifications queue draining: 0 waiting"),
        "{out}"
    );

    let (ok, out, err) = run(s(&[
        "executors",
        "add",
        "--user",
        &bound.id.to_string(),
        "--category",
        &it.id.to_string(),
        "--priority",
        "5",
        "--max-tickets",
        "10",
    ]))
    .await;
    assert!(ok, "{err}");
    assert!(
        out.starts_with("executor 1: user 1 in category 1 (priority 5, max 10 tickets)"),
        "{out}"
    );
    let (ok, _, err) = run(s(&[
        "executors",
        "add",
        "--user",
        &bound.id.to_string(),
        "--category",
        &it.id.to_string(),
    ]))
    .await;
    assert!(!ok);
    assert!(err.contains("already an executor"), "{err}");
    let (ok, _, err) = run(s(&[
        "executors",
        "add",
        "--user",
        "99",
        "--category",
        &it.id.to_string(),
    ]))
    .await;
    assert!(!ok && err.contains("there is no user 99"), "{err}");
    let (ok, _, err) = run(s(&[
        "executors",
        "add",
        "--user",
        &unbound.id.to_string(),
        "--category",
        &it.id.to_string(),
        "--max-tickets",
        "0",
    ]))
    .await;
    assert!(!ok && err.contains("max_tickets"), "{err}");
    run(s(&[
        "executors",
        "add",
        "--user",
        &unbound.id.to_string(),
        "--category",
        &it.id.to_string(),
        "--inactive",
    ]))
    .await;
    let (ok, out, _) = run(s(&["executors", "list", "--category", &it.id.to_string()])).await;
    assert!(ok);
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.len(), 3, "{out}");
    assert!(
        rows[1].contains("Алексей") && rows[1].contains("yes") && rows[1].contains("2001"),
        "{out}"
    );
    assert!(rows[2].contains("Борис") && rows[2].contains("no"), "{out}");

    // With the webhook set, every check passes.
    Mock::given(method("POST"))
        .and(path("/bot3:ABCDEFGHIJKLMNOPQRSTUVWXYZ/getWebhookInfo"))
        .respond_with(webhook_at("https://api.example.com/telegram/staff/webhook"))
        .mount(&api)
        .await;
    let (ok, out, err) = run(s(&["tickets", "check", "--category", &it.id.to_string()])).await;
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(
            "✓ active executors with a bound Telegram: Алексей (priority 5, 0 of 10 open)"
        ),
        "{out}"
    );
    assert!(out.contains("✓ staff bot webhook set: https://api.example.com/telegram/staff/webhook (2 updates waiting)"), "{out}");

    // The seed's test command: the latest ticket offered again, through the queue.
    let (ok, _, err) = run(s(&["tickets", "notify"])).await;
    assert!(!ok && err.contains("there are no tickets yet"), "{err}");
    let (t, _) = store::create_ticket(
        &deps,
        store::NewTicket {
            category_id: it.id,
            author_user_id: unbound.id,
            title: "Принтер".into(),
            description: "Принтер".into(),
        },
        None,
        None,
    )
    .await
    .unwrap();
    let (ok, out, err) = run(s(&["tickets", "notify"])).await;
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("ticket #{} «Принтер»: offer queued", t.id)),
        "{out}"
    );
    assert!(
        out.contains("the notification worker sends it to: Алексей (priority 5)"),
        "{out}"
    );
    let queued = store_parts
        .queue
        .receive("notifications", 10, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(queued.len(), 1);
    let notice: serde_json::Value = serde_json::from_str(&queued[0].body).unwrap();
    assert_eq!(
        (
            notice["kind"].as_str(),
            notice["event"].as_str(),
            notice["ticket_id"].as_i64()
        ),
        (Some("ticket"), Some("offered"), Some(t.id))
    );
    // A dead-lettered notice fails the queue check, with the command that redrives it.
    store_parts
        .queue
        .send("notifications-dlq", zayavka::ports::OutMessage::new("{}"))
        .await
        .unwrap();
    let (ok, out, _) = run(s(&["tickets", "check", "--category", &it.id.to_string()])).await;
    assert!(!ok);
    assert!(
        out.contains(
            "✗ notifications queue draining: 1 notices dead-lettered in notifications-dlq"
        ) && out.contains("zayavka queue redrive notifications-dlq"),
        "{out}"
    );

    let (ok, out, _) = run(s(&["executors", "remove", "1"])).await;
    assert!(ok && out.trim() == "executor 1 removed", "{out}");
    let (ok, _, err) = run(s(&["executors", "remove", "1"])).await;
    assert!(!ok && err.contains("there is no executor 1"), "{err}");
}

/// Handles every message at once, except `hang`, which waits until the test lets it go.
struct HangingWorker {
    release: Arc<tokio::sync::Notify>,
    done: Arc<std::sync::atomic::AtomicUsize>,
}

#[async_trait]
impl QueueWorker for HangingWorker {
    fn name(&self) -> &'static str {
        "hanging-worker"
    }

    fn queues(&self) -> Vec<String> {
        vec![WORK.into()]
    }

    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        run_batch(event, 10, |m| async move {
            if m.body == "hang" {
                self.release.notified().await;
            }
            self.done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<(), String>(())
        })
        .await
    }
}

/// One outside call that hangs holds up its own batch only: serve keeps other batches of
/// the queue going meanwhile, as Lambda runs a queue's invocations side by side.
#[tokio::test]
async fn a_hanging_message_does_not_stall_its_queue_in_serve() {
    let dir = tempfile::tempdir().unwrap();
    let release = Arc::new(tokio::sync::Notify::new());
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let worker = Arc::new(HangingWorker {
        release: release.clone(),
        done: done.clone(),
    });
    let w = worker.clone();
    let started = serve::start(
        ServeOptions::local(dir.path().to_path_buf()),
        crash_specs(),
        move |_, _| {
            Ok(Registry {
                workers: vec![w],
                ..Registry::default()
            })
        },
    )
    .await
    .unwrap();
    let store = open_queue(dir.path());
    store
        .queue
        .send(WORK, OutMessage::new("hang"))
        .await
        .unwrap();
    // Let the hanging message be taken first, in a batch of its own.
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.queue.stats(WORK).await.unwrap().in_flight == 0 {
        assert!(
            Instant::now() < deadline,
            "the hanging message was never taken"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for i in 0..30 {
        store
            .queue
            .send(WORK, OutMessage::new(format!("quick {i}")))
            .await
            .unwrap();
    }
    // All thirty are handled while the first still hangs (before, the poller waited).
    while done.load(std::sync::atomic::Ordering::SeqCst) < 30 {
        assert!(
            Instant::now() < deadline,
            "the queue stalled behind one hanging message: {} done",
            done.load(std::sync::atomic::Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    release.notify_one();
    while done.load(std::sync::atomic::Ordering::SeqCst) < 31 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.stop().await;
    let s = store.queue.stats(WORK).await.unwrap();
    assert_eq!((s.visible, s.in_flight), (0, 0), "everything deleted");
}

/// `set-webhook --all --api-url`: every configured bot at its own webhook under the API,
/// each with its secret and the updates it handles, the menus where a bot has one; a bot
/// Telegram refuses is named and fails the command, without stopping the others.
#[tokio::test]
async fn set_webhook_all_registers_every_configured_bot() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let api = MockServer::start().await;
    let (main, support, staff) = (
        "2:MAINMAINMAINMAINMAINMAINMAIN",
        "1:SUPPORTSUPPORTSUPPORTSUPPORT",
        "3:STAFFSTAFFSTAFFSTAFFSTAFFSTA",
    );
    // The main bot's token was revoked (the first bot: the others must still be set), and
    // Telegram's answer quotes it.
    Mock::given(method("POST"))
        .and(path(format!("/bot{main}/setWebhook")))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            serde_json::json!({"ok": false, "error_code": 401, "description": format!("Unauthorized: bot{main}")}),
        ))
        .mount(&api)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"ok": true, "result": true})),
        )
        .mount(&api)
        .await;
    let run = |args: Vec<&'static str>| {
        let uri = api.uri();
        tokio::task::spawn_blocking(move || {
            Command::new(BIN)
                .args(["telegram", "set-webhook"])
                .args(args)
                .env("TELEGRAM_API_BASE", uri)
                .env("TELEGRAM_MAIN_BOT_TOKEN", main)
                .env("TELEGRAM_MAIN_WEBHOOK_SECRET", "main_secret-1")
                .env("TELEGRAM_SUPPORT_BOT_TOKEN", support)
                .env("TELEGRAM_SUPPORT_WEBHOOK_SECRET", "support_secret-1")
                .env("TELEGRAM_STAFF_BOT_TOKEN", staff)
                .env("TELEGRAM_STAFF_WEBHOOK_SECRET", "staff_secret-1")
                .output()
                .expect("run zayavka")
        })
    };
    // Not https: refused before any call.
    let (ok, _, err) = outcome(
        run(vec!["--all", "--api-url", "http://abc.example.com"])
            .await
            .unwrap(),
    );
    assert!(!ok && err.contains("https://"), "{err}");
    assert!(api.received_requests().await.unwrap().is_empty());

    let (ok, out, err) = outcome(
        run(vec!["--all", "--api-url", "https://abc.example.com/"])
            .await
            .unwrap(),
    );
    assert!(!ok, "a refused bot fails the command: {out}");
    assert!(
        err.contains("bot main") && err.contains("Unauthorized"),
        "{err}"
    );
    let calls: Vec<(String, serde_json::Value)> = api
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.url.path().to_string(),
                serde_json::from_slice(&r.body).unwrap(),
            )
        })
        .collect();
    let set = |token: &str| {
        calls
            .iter()
            .find(|(p, _)| *p == format!("/bot{token}/setWebhook"))
            .map(|(_, b)| b.clone())
            .unwrap_or_else(|| panic!("no setWebhook for {token}: {calls:?}"))
    };
    for (token, bot, secret) in [
        (main, "main", "main_secret-1"),
        (support, "support", "support_secret-1"),
        (staff, "staff", "staff_secret-1"),
    ] {
        let body = set(token);
        assert_eq!(
            body["url"],
            format!("https://abc.example.com/telegram/{bot}/webhook")
        );
        assert_eq!(body["secret_token"], secret);
        assert_eq!(
            body["allowed_updates"],
            serde_json::json!(["message", "callback_query"])
        );
    }
    let menus: Vec<(&str, serde_json::Value)> = calls
        .iter()
        .filter(|(p, _)| p.ends_with("/setMyCommands"))
        .map(|(p, b)| (p.as_str(), b["language_code"].clone()))
        .collect();
    // The staff bot's two menus, Russian for everyone and English; the support bot has
    // none; the main bot got no further than its refused webhook.
    let staff_menu = format!("/bot{staff}/setMyCommands");
    assert_eq!(
        menus,
        [
            (staff_menu.as_str(), serde_json::Value::Null),
            (staff_menu.as_str(), serde_json::json!("en"))
        ]
    );
    assert!(
        out.contains("bot staff: updates now go to https://abc.example.com/telegram/staff/webhook"),
        "{out}"
    );
    assert!(
        out.contains("bot staff: command menu set (ru, en)"),
        "{out}"
    );
    assert!(out.contains("bot support: updates now go to"), "{out}");
    // No token in what the command prints.
    for token in [main, support, staff] {
        assert!(!out.contains(token) && !err.contains(token), "{out}{err}");
    }
}

/// An HTTPS server on 127.0.0.1 whose certificate a CA made here signs, answering every
/// request with `body` (JSON). Returns its base URL, the CA's certificate (PEM) and the
/// request lines it received (a client that refuses the certificate sends none).
fn https_server(body: &'static str) -> (String, String, Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "zayavka test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(mut tcp) = tcp else { continue };
            let mut conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match tls.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break, // the client refused the handshake, or hung up
                }
            }
            if !head.ends_with(b"\r\n\r\n") {
                continue;
            }
            let line = String::from_utf8_lossy(&head)
                .lines()
                .next()
                .unwrap_or("")
                .to_string();
            log.lock().unwrap().push(line);
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tls.write_all(answer.as_bytes());
            let _ = tls.flush();
        }
    });
    (url, ca.pem(), seen)
}

#[test]
fn outbound_https_trusts_the_roots_ssl_cert_file_names_and_nothing_else() {
    let (url, ca_pem, seen) = https_server("[11, 12]");
    let dir = tempfile::tempdir().unwrap();
    let run = |bundle: &Path| {
        let out = Command::new(BIN)
            .args(["okdesk", "check"])
            .env_remove("OKDESK_WEB_URL")
            .env_remove("SSL_CERT_DIR")
            .env("SSL_CERT_FILE", bundle)
            .env("OKDESK_API_URL", format!("{url}/api/v1"))
            .env("OKDESK_API_TOKEN", "tls-token")
            .env("OKDESK_TIMEOUT_SECS", "3")
            .output()
            .expect("run zayavka");
        outcome(out)
    };

    // Trusted: the bundle holds the CA that signed the server's certificate.
    let trusted = dir.path().join("trusted.pem");
    std::fs::write(&trusted, &ca_pem).unwrap();
    let (ok, out, err) = run(&trusted);
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("✓ issues can be listed: 2 issues visible"),
        "{out}"
    );
    assert!(
        seen.lock().unwrap()[0].starts_with("GET /api/v1/issues/count?"),
        "{:?}",
        seen.lock().unwrap()
    );

    // Untrusted: another CA's bundle. The handshake is refused before any request is sent.
    let (_, other, _) = https_server("[]");
    let untrusted = dir.path().join("untrusted.pem");
    std::fs::write(&untrusted, &other).unwrap();
    let before = seen.lock().unwrap().len();
    let (ok, out, err) = run(&untrusted);
    assert!(!ok, "{out}\n{err}");
    assert!(out.contains("✗ API reachable"), "{out}");
    assert_eq!(
        seen.lock().unwrap().len(),
        before,
        "no request without trust"
    );
}

/// The moto server the AWS tests use (`./scripts/test` starts one).
fn moto_url() -> String {
    std::env::var("ZAYAVKA_TEST_MOTO_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("ZAYAVKA_TEST_MOTO_URL is not set: run ./scripts/test, which starts moto")
}

/// `zayavka` against moto, `stdin` piped in.
fn zayavka_aws(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> (bool, String, String) {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(args)
        .env("AWS_ENDPOINT_URL", moto_url())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run zayavka");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    outcome(child.wait_with_output().unwrap())
}

/// A deployer's secrets: `zayavka secrets set` stores a value only from standard input
/// (never an argument) and only once it has the secret's shape, as a SecureString, and
/// never prints it; `secrets list` says which are set without a value; and `set-webhook
/// --all --stack` and `doctor --aws --stack` read the stack's from Parameter Store instead
/// of the shell (where the secrets no longer need to be).
#[tokio::test]
async fn secrets_are_checked_stored_listed_and_read_back_from_parameter_store() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let stack = format!("it{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let path = format!("/zayavka/{stack}/");
    let ssm = zayavka::deps::AwsClients::new(&zayavka::config::AwsConfig {
        table_name: "unused".into(),
        queue_prefix: String::new(),
        endpoint_url: Some(moto_url()),
        region: Some("us-east-1".into()),
        ses_configuration_set: None,
        invoked: Default::default(),
        metrics_namespace: None,
    })
    .await
    .ssm;
    let stored = |name: &str| {
        let ssm = ssm.clone();
        let name = format!("{path}{name}");
        async move {
            ssm.get_parameter()
                .name(name)
                .with_decryption(true)
                .send()
                .await
                .ok()
                .and_then(|o| o.parameter)
                .map(|p| {
                    (
                        p.r#type.map(|t| t.as_str().to_string()),
                        p.value.unwrap_or_default(),
                    )
                })
        }
    };
    let main = "123456789:MAINbotTOKENvalue0123456789abcdefgh";
    let support = "987654321:SUPPORTbotTOKENvalue0123456789abcde";
    let run = |args: Vec<String>, stdin: String, env: Vec<(&'static str, String)>| {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            zayavka_aws(&args, &stdin, &env)
        })
    };
    let set = |name: &str, value: &str| {
        run(
            vec![
                "secrets".into(),
                "set".into(),
                name.into(),
                "--stack".into(),
                stack.clone(),
            ],
            format!("{value}\n"),
            Vec::new(),
        )
    };

    // A value of the wrong shape: refused, not repeated, nothing stored.
    let (ok, out, err) = set("TELEGRAM_MAIN_BOT_TOKEN", "bot123:NOTATOKEN")
        .await
        .unwrap();
    assert!(!ok, "{out}");
    assert!(
        err.contains("TELEGRAM_MAIN_BOT_TOKEN refused, nothing stored"),
        "{err}"
    );
    assert!(!format!("{out}{err}").contains("NOTATOKEN"), "{err}");
    assert_eq!(stored("TELEGRAM_MAIN_BOT_TOKEN").await, None);
    // A value on the command line is not taken at all.
    let (ok, _, err) = run(
        [
            "secrets",
            "set",
            "TELEGRAM_MAIN_BOT_TOKEN",
            main,
            "--stack",
            &stack,
        ]
        .map(String::from)
        .to_vec(),
        String::new(),
        Vec::new(),
    )
    .await
    .unwrap();
    assert!(!ok && err.contains("unexpected argument"), "{err}");
    assert_eq!(stored("TELEGRAM_MAIN_BOT_TOKEN").await, None);

    // Right: stored encrypted, as given, and not printed.
    for (name, value) in [
        ("TELEGRAM_MAIN_BOT_TOKEN", main),
        ("TELEGRAM_MAIN_WEBHOOK_SECRET", "main_hook-SECRET1"),
        ("TELEGRAM_SUPPORT_BOT_TOKEN", support),
        ("TELEGRAM_SUPPORT_WEBHOOK_SECRET", "support_hook-SECRET2"),
    ] {
        let (ok, out, err) = set(name, value).await.unwrap();
        assert!(ok, "{name}: {err}");
        assert!(out.contains(&format!("{name} stored")), "{out}");
        assert!(!format!("{out}{err}").contains(value), "{out}{err}");
        assert_eq!(
            stored(name).await,
            Some((Some("SecureString".to_string()), value.to_string())),
            "{name}"
        );
    }

    let (ok, out, err) = run(
        ["secrets", "list", "--stack", &stack]
            .map(String::from)
            .to_vec(),
        String::new(),
        Vec::new(),
    )
    .await
    .unwrap();
    assert!(ok, "{err}");
    let row = |name: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row for {name}: {out}"))
            .to_string()
    };
    assert!(row("TELEGRAM_MAIN_BOT_TOKEN").contains(" yes "), "{out}");
    assert!(
        row("TELEGRAM_MAIN_BOT_TOKEN").contains("telegram-webhook"),
        "{out}"
    );
    assert!(row("ZAYAVKA_API_KEYS").contains(" no "), "{out}");
    assert!(row("ZAYAVKA_API_KEYS").contains("required"), "{out}");
    for value in [main, support, "main_hook-SECRET1", "SECRET2"] {
        assert!(!out.contains(value), "{out}");
    }

    // set-webhook with the stack's secrets: nothing of them in the shell but a staff bot's,
    // which the stack does not have and so is not set.
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"ok": true, "result": true})),
        )
        .mount(&api)
        .await;
    let (ok, out, err) = run(
        [
            "telegram",
            "set-webhook",
            "--all",
            "--api-url",
            "https://abc.example.com",
            "--stack",
            &stack,
        ]
        .map(String::from)
        .to_vec(),
        String::new(),
        vec![
            ("TELEGRAM_API_BASE", api.uri()),
            (
                "TELEGRAM_STAFF_BOT_TOKEN",
                "555:STAFFFROMTHESHELL0123456789abcdefghij".into(),
            ),
            ("TELEGRAM_STAFF_WEBHOOK_SECRET", "staff_shell".into()),
        ],
    )
    .await
    .unwrap();
    assert!(ok, "{out}{err}");
    let calls: Vec<(String, serde_json::Value)> = api
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with("/setWebhook"))
        .map(|r| {
            (
                r.url.path().to_string(),
                serde_json::from_slice(&r.body).unwrap(),
            )
        })
        .collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    for (token, bot, secret) in [
        (main, "main", "main_hook-SECRET1"),
        (support, "support", "support_hook-SECRET2"),
    ] {
        let (_, body) = calls
            .iter()
            .find(|(p, _)| *p == format!("/bot{token}/setWebhook"))
            .unwrap_or_else(|| panic!("{bot} not set: {calls:?}"));
        assert_eq!(
            body["url"],
            format!("https://abc.example.com/telegram/{bot}/webhook")
        );
        assert_eq!(body["secret_token"], secret);
    }
    assert!(!format!("{out}{err}").contains("SECRET"), "{out}{err}");

    // doctor: the stack's API keys are missing, which stops every HTTP API function.
    let (ok, out, err) = run(
        ["doctor", "--aws", "--stack", &stack]
            .map(String::from)
            .to_vec(),
        String::new(),
        vec![
            ("TELEGRAM_API_BASE", api.uri()),
            ("TABLE_NAME", format!("{stack}-table")),
        ],
    )
    .await
    .unwrap();
    assert!(!ok, "{out}");
    let line = out
        .lines()
        .skip_while(|l| !l.starts_with("FAIL  secrets:"))
        .take(2)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(line.contains("ZAYAVKA_API_KEYS not set"), "{out}");
    assert!(
        line.contains(&format!(
            "zayavka secrets set ZAYAVKA_API_KEYS --stack {stack}"
        )),
        "{out}"
    );
    for value in [main, support, "SECRET1", "SECRET2"] {
        assert!(!format!("{out}{err}").contains(value), "{out}{err}");
    }
}
