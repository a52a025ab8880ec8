//! The pages in a real browser: Debian's Chromium, headless, driven over WebDriver, against
//! the whole local stack. The support page is filled and submitted like a person would; the
//! administrators' `/executors` page signs in with an API key, adds an executor, changes
//! its priority and deactivates it, the API's state checked after each step. Screenshots go
//! to `target/test-artifacts/`. The test command installs chromium and chromium-driver;
//! without them these tests fail and say so.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicI64;
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer};
use zayavka_cli::serve::{self, ServeOptions};

use crate::support::test_env;
use crate::support_relay::NextId;

const BOT: &str = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ";

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn find_program(names: &[&str]) -> String {
    for name in names {
        for dir in ["/usr/bin", "/usr/local/bin", "/usr/lib/chromium"] {
            let p = format!("{dir}/{name}");
            if std::path::Path::new(&p).exists() {
                return p;
            }
        }
    }
    panic!(
        "{} not found: the browser test needs Debian's chromium and chromium-driver; \
         ./scripts/test installs them",
        names.join(" or ")
    )
}

/// A headless Chromium session (Russian, a phone's window) and its driver process.
async fn browser() -> (Driver, fantoccini::Client) {
    let chromium = find_program(&["chromium", "chromium-browser"]);
    let chromedriver = find_program(&["chromedriver"]);
    let port = free_port();
    let driver = Driver(
        Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("http://127.0.0.1:{port}/status"))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--lang=ru-RU",
                     "--window-size=412,915"],
            "prefs": {"intl.accept_languages": "ru-RU,ru"}
        }
    });
    // fantoccini's connector takes rustls's process-wide provider, and this test build has two
    // (ring, ours; aws-lc, reqwest's for the tests' plain clients), so name one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps.as_object().unwrap().clone())
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a browser session");

    (driver, client)
}

fn artifacts() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn the_support_form_works_in_a_real_browser() {
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(NextId(AtomicI64::new(700)))
        .mount(&api)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let env = test_env(&[
        ("TELEGRAM_SUPPORT_BOT_TOKEN", BOT),
        ("TELEGRAM_SUPPORT_WEBHOOK_SECRET", "support_secret-1"),
        ("TELEGRAM_ADMIN_CHAT_ID", "-100777"),
        ("TELEGRAM_API_BASE", &api.uri()),
        ("TELEGRAM_SUPPORT_BOT_USERNAME", "zayavka_support_bot"),
    ]);
    let started = serve::start(
        ServeOptions::local(dir.path().to_path_buf()),
        zayavka::queues::catalogue(),
        move |deps, prefix| serve::functions(deps, &env, prefix),
    )
    .await
    .unwrap();

    let (_driver, client) = browser().await;
    client
        .goto(&format!("http://{}/support", started.addr))
        .await
        .unwrap();
    // Filled through the labels' fields, as a person (or a screen reader) finds them.
    for (id, text) in [
        ("subject", "Доставка"),
        ("message", "Где мой заказ №5? <срочно>"),
        ("name", "Ольга"),
        ("email", "olga@example.com"),
    ] {
        client
            .find(Locator::Id(id))
            .await
            .unwrap()
            .send_keys(text)
            .await
            .unwrap();
    }
    let artifacts =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    std::fs::write(
        artifacts.join("support-form-filled.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();
    client
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let done = client
        .wait()
        .for_element(Locator::Id("done"))
        .await
        .unwrap();
    assert_eq!(done.text().await.unwrap(), "Сообщение отправлено");
    let link = client
        .find(Locator::Id("telegram-binding"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        link.starts_with("https://t.me/zayavka_support_bot?start="),
        "{link}"
    );

    let png = client.screenshot().await.unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    std::fs::write(artifacts.join("support-form-success.png"), &png).unwrap();
    client.close().await.unwrap();

    // And the admins got the message, escaped.
    let sent: Vec<serde_json::Value> = api
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with("/sendMessage"))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["chat_id"], -100777);
    assert!(
        sent[0]["text"]
            .as_str()
            .unwrap()
            .ends_with("Где мой заказ №5? &lt;срочно&gt;"),
        "{}",
        sent[0]
    );
    started.stop().await;
}

/// Waits until the page (the one after a form's redirect, not the one before it) says `text`.
async fn wait_for_notice(client: &fantoccini::Client, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(el) = client.find(Locator::Css(".ok")).await
            && el.text().await.is_ok_and(|t| t == text)
        {
            return;
        }
        assert!(Instant::now() < deadline, "the page never said {text:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A ticket API call to the running stack.
async fn api(
    addr: std::net::SocketAddr,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let mut req = reqwest::Client::new()
        .request(method, format!("http://{addr}{path}"))
        .bearer_auth(crate::support::TEST_API_KEY);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

#[tokio::test]
async fn the_executors_page_adds_changes_and_deactivates_an_executor_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let env = test_env(&[]);
    let started = serve::start(
        ServeOptions::local(dir.path().to_path_buf()),
        zayavka::queues::catalogue(),
        move |deps, prefix| serve::functions(deps, &env, prefix),
    )
    .await
    .unwrap();
    let addr = started.addr;
    let alexey = api(
        addr,
        reqwest::Method::POST,
        "/api/users",
        Some(json!({"name": "Алексей <админ>", "telegram_id": 2001})),
    )
    .await;
    api(
        addr,
        reqwest::Method::POST,
        "/api/users",
        Some(json!({"name": "Борис"})),
    )
    .await;
    let it = api(
        addr,
        reqwest::Method::POST,
        "/api/categories",
        Some(json!({"name": "IT"})),
    )
    .await;
    api(
        addr,
        reqwest::Method::POST,
        "/api/categories",
        Some(json!({"name": "Хозчасть"})),
    )
    .await;
    let executors = |addr| async move {
        api(addr, reqwest::Method::GET, "/api/executors", None).await["items"]
            .as_array()
            .unwrap()
            .clone()
    };

    let (_driver, client) = browser().await;
    let out = artifacts();
    client
        .goto(&format!("http://{addr}/executors"))
        .await
        .unwrap();
    // Signing in: the key goes into a password field, once.
    client
        .find(Locator::Id("key"))
        .await
        .unwrap()
        .send_keys(crate::support::TEST_API_KEY)
        .await
        .unwrap();
    std::fs::write(
        out.join("executors-sign-in.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();
    client
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Id("add-submit"))
        .await
        .unwrap();
    let page = client.source().await.unwrap();
    assert!(
        page.contains("В этой категории пока нет исполнителей."),
        "{page}"
    );
    // Names are escaped, never markup.
    assert!(page.contains("Алексей &lt;админ&gt;"));

    // Add Alexey to IT with priority 7 and at most 3 tickets.
    client
        .find(Locator::Id("add-user"))
        .await
        .unwrap()
        .select_by_value(&alexey["id"].to_string())
        .await
        .unwrap();
    client
        .find(Locator::Id("add-category"))
        .await
        .unwrap()
        .select_by_value(&it["id"].to_string())
        .await
        .unwrap();
    for (id, value) in [("add-priority", "7"), ("add-max", "3")] {
        let field = client.find(Locator::Id(id)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }
    client
        .find(Locator::Id("add-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_notice(&client, "Исполнитель добавлен.").await;
    let list = executors(addr).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let e = list[0].clone();
    assert_eq!(
        (e["user_id"].clone(), e["category_id"].clone()),
        (alexey["id"].clone(), it["id"].clone())
    );
    assert_eq!(
        (
            e["priority"].as_i64(),
            e["max_tickets"].as_i64(),
            e["is_active"].as_bool()
        ),
        (Some(7), Some(3), Some(true))
    );
    std::fs::write(
        out.join("executors-added.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();
    let id = e["id"].as_i64().unwrap();

    // Raise the priority to 9.
    let priority = client
        .find(Locator::Id(&format!("priority-{id}")))
        .await
        .unwrap();
    priority.clear().await.unwrap();
    priority.send_keys("9").await.unwrap();
    client
        .find(Locator::Css(&format!("button[name=save][value='{id}']")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_notice(&client, "Сохранено.").await;
    let e = executors(addr).await[0].clone();
    assert_eq!(
        (e["priority"].as_i64(), e["max_tickets"].as_i64()),
        (Some(9), Some(3))
    );

    // Deactivate.
    client
        .find(Locator::Id(&format!("toggle-{id}")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_notice(&client, "Исполнитель отключён.").await;
    assert_eq!(executors(addr).await[0]["is_active"], false);
    let toggle = client
        .find(Locator::Id(&format!("toggle-{id}")))
        .await
        .unwrap();
    assert_eq!(toggle.text().await.unwrap(), "Включить");
    let png = client.screenshot().await.unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    std::fs::write(out.join("executors-deactivated.png"), &png).unwrap();

    // The key was never in a URL, and signing out forgets it.
    let url = client.current_url().await.unwrap();
    assert!(
        !url.as_str().contains(crate::support::TEST_API_KEY),
        "{url}"
    );
    client
        .find(Locator::Css("form.inline button.secondary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client.wait().for_element(Locator::Id("key")).await.unwrap();
    client
        .goto(&format!("http://{addr}/executors"))
        .await
        .unwrap();
    assert!(client.find(Locator::Id("key")).await.is_ok(), "signed out");
    client.close().await.unwrap();
    started.stop().await;
}
