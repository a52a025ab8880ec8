//! The support page in a real browser: Debian's Chromium, headless, driven over WebDriver,
//! against the whole local stack. It fills and submits the form like a person, sees the
//! success page with the Telegram binding link, and keeps a screenshot in
//! `target/test-artifacts/`. The test command installs chromium and chromium-driver; without
//! them this test fails and says so.

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

#[tokio::test]
async fn the_support_form_works_in_a_real_browser() {
    let chromium = find_program(&["chromium", "chromium-browser"]);
    let chromedriver = find_program(&["chromedriver"]);

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

    let port = free_port();
    let _driver = Driver(
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
    let client = ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps.as_object().unwrap().clone())
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a browser session");

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
