//! Lead fan-out end to end, through the local stack (`serve`), with fake amoCRM, Bitrix24,
//! Telegram and webhook servers, on the embedded store and on moto alike.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};
use zayavka::Deps;
use zayavka::config::AwsConfig;
use zayavka::metrics::Metrics;
use zayavka::ports::{OutMessage, SystemClock};
use zayavka::queues::{INTEGRATION_BITRIX24, INTEGRATION_WEBHOOK};
use zayavka_cli::serve::{self, Registry, ServeOptions, Started};

use crate::support::{Kind, TEST_API_KEY, moto_config, moto_url, test_env, unique};

const BOT: &str = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ";

pub struct Fakes {
    pub amo: MockServer,
    pub bitrix: MockServer,
    pub telegram: MockServer,
    pub hook: MockServer,
}

impl Fakes {
    pub async fn start() -> Self {
        Self {
            amo: MockServer::start().await,
            bitrix: MockServer::start().await,
            telegram: MockServer::start().await,
            hook: MockServer::start().await,
        }
    }

    pub async fn all_succeed(&self) {
        // A new customer: amoCRM's contact search answers 204 with no body, Bitrix24's
        // duplicate search an empty `result`, as the documented APIs do (`tests/crm.rs`
        // has fakes that find repeat customers).
        Mock::given(method("GET"))
            .and(path("/api/v4/contacts"))
            .respond_with(ResponseTemplate::new(204))
            .mount(&self.amo)
            .await;
        Mock::given(method("POST"))
            .and(path("/rest/1/abc/crm.duplicate.findbycomm.json"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "result": [], "time": {"start": 1.0, "finish": 1.1, "duration": 0.1}
            })))
            .mount(&self.bitrix)
            .await;
        Mock::given(method("POST"))
            .and(path("/api/v4/leads/complex"))
            .and(header("authorization", "Bearer amo-token-123"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                {"id": 9774766, "contact_id": 12117258, "company_id": null, "request_id": ["1"], "merged": false}
            ])))
            .mount(&self.amo)
            .await;
        Mock::given(method("POST"))
            .and(path("/rest/1/abc/crm.lead.add.json"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "result": 77, "time": {"start": 1.0, "finish": 1.2, "duration": 0.2}
            })))
            .mount(&self.bitrix)
            .await;
        self.telegram_ok().await;
        Mock::given(method("POST"))
            .and(path("/hook"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&self.hook)
            .await;
    }

    pub async fn telegram_ok(&self) {
        Mock::given(method("POST"))
            .and(path(format!("/bot{BOT}/sendMessage")))
            .respond_with(|req: &Request| {
                // Like Telegram: more than 4096 characters is refused, for good.
                crate::support_relay::too_long(req).unwrap_or_else(|| {
                    ResponseTemplate::new(200).set_body_json(json!({
                        "ok": true, "result": {"message_id": 42, "date": 0, "chat": {"id": -100123, "type": "supergroup"}}
                    }))
                })
            })
            .mount(&self.telegram)
            .await;
    }
}

pub struct Stack {
    pub started: Option<Started>,
    pub deps: Deps,
    pub url: String,
    pub dir: tempfile::TempDir,
    pub aws: Option<AwsConfig>,
    pub fakes: Arc<Fakes>,
    pub env: Vec<(String, String)>,
    /// What every function emitted as embedded-format metrics (stdout in Lambda).
    pub metrics: Metrics,
}

fn env_for(fakes: &Fakes, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("AMOCRM_BASE_URL".into(), fakes.amo.uri()),
        ("TELEGRAM_API_BASE".into(), fakes.telegram.uri()),
        ("RETRY_SCHEDULE".into(), "1s,2s".into()),
        ("NOTIFY_EMAILS".into(), "admin@example.com".into()),
        ("NOTIFY_TELEGRAM_CHAT_ID".into(), "-100999".into()),
        ("TELEGRAM_BOT_TOKEN".into(), BOT.into()),
        ("SWEEP_INTERVAL_SECONDS".into(), "0.5".into()),
        ("OUTBOUND_ALLOW_HOSTS".into(), "127.0.0.1".into()),
    ];
    for (k, v) in extra {
        env.retain(|(name, _)| name != k);
        env.push((k.to_string(), v.to_string()));
    }
    env
}

impl Stack {
    pub async fn start(kind: Kind, extra: &[(&str, &str)], skip: &[&str]) -> Self {
        let fakes = Arc::new(Fakes::start().await);
        let dir = tempfile::tempdir().unwrap();
        let aws = match kind {
            Kind::Embedded => None,
            Kind::Moto => {
                let cfg = moto_config(&unique("e2e"), &format!("{}-", unique("s")));
                zayavka_cli::admin::init_aws(&cfg, &zayavka::queues::catalogue())
                    .await
                    .expect("init moto");
                let clients = zayavka::deps::AwsClients::new(&cfg).await;
                clients
                    .ses
                    .verify_email_identity()
                    .email_address("noreply@zayavka.test")
                    .send()
                    .await
                    .expect("verify sender");
                Some(cfg)
            }
        };
        let env = env_for(&fakes, extra);
        let mut stack = Self {
            started: None,
            deps: Deps::embedded(
                &crate::support::embedded(Vec::new()).parts,
                Arc::new(SystemClock),
            ),
            url: String::new(),
            dir,
            aws,
            fakes,
            env,
            metrics: Metrics::in_memory("Zayavka/test"),
        };
        stack.restart(skip).await;
        stack
    }

    /// (Re)starts the stack on the same storage, leaving out the named functions.
    pub async fn restart(&mut self, skip: &[&str]) {
        if let Some(s) = self.started.take() {
            s.stop().await;
        }
        let pairs: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let env = test_env(&pairs);
        let skip: Vec<String> = skip.iter().map(|s| s.to_string()).collect();
        let keep = Arc::new(std::sync::Mutex::new(None));
        let keep2 = keep.clone();
        let metrics = self.metrics.clone();
        let started = serve::start(
            ServeOptions {
                host: "127.0.0.1".parse().unwrap(),
                port: 0,
                data_dir: self.dir.path().to_path_buf(),
                aws: self.aws.clone(),
            },
            zayavka::queues::catalogue(),
            move |deps, prefix| {
                let deps = &Deps {
                    metrics,
                    ..deps.clone()
                };
                *keep2.lock().unwrap() = Some(deps.clone());
                let all = serve::functions(deps, &env, prefix)?;
                Ok(Registry {
                    http: all.http,
                    workers: all
                        .workers
                        .into_iter()
                        .filter(|w| !skip.contains(&w.name().to_string()))
                        .collect(),
                    scheduled: all
                        .scheduled
                        .into_iter()
                        .filter(|s| !skip.contains(&s.name().to_string()))
                        .collect(),
                })
            },
        )
        .await
        .expect("start stack");
        self.url = format!("http://{}", started.addr);
        self.deps = keep.lock().unwrap().clone().unwrap();
        self.started = Some(started);
    }

    pub async fn submit(&self, body: &Value, idempotency: Option<&str>) -> (u16, Value) {
        let mut req = reqwest::Client::new()
            .post(format!("{}/api/integrations/send-batch", self.url))
            .bearer_auth(TEST_API_KEY)
            .json(body);
        if let Some(k) = idempotency {
            req = req.header("Idempotency-Key", k);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn lead(&self, id: &str) -> (u16, String) {
        let r = reqwest::Client::new()
            .get(format!("{}/api/leads/{id}", self.url))
            .bearer_auth(TEST_API_KEY)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Waits until the lead leaves `processing`.
    pub async fn settled(&self, id: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let (status, body) = self.lead(id).await;
            assert_eq!(status, 200, "{body}");
            let v: Value = serde_json::from_str(&body).unwrap();
            if v["status"] != "processing" {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "lead {id} still processing: {v:#}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Mail sent, as (recipients, subject, text): read back from the outbox folder
    /// (embedded) or from moto's record of SES.
    pub async fn mails(&self) -> Vec<(Vec<String>, String, String)> {
        match &self.aws {
            None => {
                let dir = self.dir.path().join("outbox");
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    return Vec::new();
                };
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                    .map(|e| {
                        let raw = std::fs::read(e.path()).unwrap();
                        let msg = mail_parser::MessageParser::default()
                            .parse(&raw)
                            .expect("a parseable e-mail");
                        let to = msg
                            .to()
                            .map(|a| {
                                a.iter()
                                    .filter_map(|x| x.address().map(String::from))
                                    .collect()
                            })
                            .unwrap_or_default();
                        let subject = msg.subject().unwrap_or_default().to_string();
                        let text = msg.body_text(0).map(|t| t.to_string()).unwrap_or_default();
                        (to, subject, text)
                    })
                    .collect()
            }
            Some(_) => {
                let dump: Value = reqwest::get(format!("{}/moto-api/data.json", moto_url()))
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                dump["ses"]["Message"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|m| {
                        let to = m["destinations"]["ToAddresses"]
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .map(|x| x.as_str().unwrap_or_default().to_string())
                                    .collect()
                            })
                            .unwrap_or_default();
                        (
                            to,
                            m["subject"].as_str().unwrap_or_default().to_string(),
                            m["body"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            }
        }
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.started.take() {
            s.stop().await;
        }
    }
}

pub fn full_request(fakes: &Fakes, lead_id: &str) -> Value {
    json!({
        "lead_id": lead_id,
        "lead": {
            "name": "Глеб <Титов>",
            "phone": "+7 999 000-11-22",
            "email": "gleb@example.com",
            "comment": "Перезвоните & уточните",
            "source": "landing",
            "utm": {"utm_source": "yandex"}
        },
        "integrations": [
            {"type": "email", "settings": {"template": "new_lead"}},
            {"type": "amocrm", "settings": {"pipeline_id": 7, "priority": "high"}},
            {"type": "telegram", "settings": {"chat_id": "-100123"}},
            {"type": "bitrix24", "settings": {"source_id": "WEB"}, "tries": 3},
            {"type": "webhook", "settings": {"url": format!("{}/hook", fakes.hook.uri())}}
        ],
        "credentials": {
            "email": {"emails": ["sales@example.com"], "subject": "Новая заявка: {lead_name}"},
            "amocrm": {"subdomain": "acme", "access_token": "amo-token-123"},
            "telegram": {"bot_token": BOT},
            "bitrix24": {"webhook_url": format!("{}/rest/1/abc/", fakes.bitrix.uri())},
            "webhook": {"secret": "s3cret-signing-key"}
        }
    })
}

fn integration<'a>(lead: &'a Value, name: &str) -> &'a Value {
    lead["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["integration"] == name)
        .unwrap_or_else(|| panic!("no {name} in {lead:#}"))
}

fn body_json(r: &Request) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default()
}

crate::both!(every_integration_succeeds_and_the_lead_completes);
async fn every_integration_succeeds_and_the_lead_completes(kind: Kind) {
    let stack = Stack::start(kind, &[], &[]).await;
    let f = stack.fakes.clone();
    f.all_succeed().await;
    let lead_id = unique("lead-");
    let (status, body) = stack.submit(&full_request(&f, &lead_id), None).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["lead_id"], lead_id.as_str());
    assert_eq!(body["status"], "processing");
    assert_eq!(body["jobs"].as_array().unwrap().len(), 5);
    assert!(
        body["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["status"] == "pending")
    );

    let lead = stack.settled(&lead_id, Duration::from_secs(30)).await;
    assert_eq!(lead["status"], "completed", "{lead:#}");
    assert_eq!(integration(&lead, "amocrm")["external_id"], "9774766");
    assert_eq!(integration(&lead, "bitrix24")["external_id"], "77");
    assert_eq!(integration(&lead, "telegram")["external_id"], "42");
    for i in ["email", "amocrm", "telegram", "bitrix24", "webhook"] {
        let j = integration(&lead, i);
        assert_eq!(j["status"], "succeeded", "{i}: {j}");
        assert_eq!(j["attempts"], 1, "{i}");
        assert!(j["finished_at"].is_string(), "{i}");
    }
    // Credentials never come back.
    let (_, raw) = stack.lead(&lead_id).await;
    for secret in ["amo-token-123", BOT, "s3cret-signing-key", "/rest/1/abc"] {
        assert!(!raw.contains(secret), "{secret} leaked in {raw}");
    }

    // amoCRM: the contact looked up by phone, then by e-mail (a new customer), then the
    // exact complex-lead body.
    let amo = requests(&f.amo).await;
    let at = |r: &Request| {
        format!(
            "{} {}?{}",
            r.method,
            r.url.path(),
            r.url.query().unwrap_or("")
        )
    };
    assert_eq!(
        amo.iter().map(at).collect::<Vec<_>>(),
        [
            "GET /api/v4/contacts?query=9990001122&limit=50",
            "GET /api/v4/contacts?query=gleb%40example.com&limit=50",
            "POST /api/v4/leads/complex?",
        ]
    );
    assert_eq!(
        body_json(&amo[2]),
        json!([{
            "name": "Заявка: Глеб <Титов>",
            "pipeline_id": 7,
            "request_id": lead_id,
            "_embedded": {
                "contacts": [{
                    "name": "Глеб <Титов>",
                    "custom_fields_values": [
                        {"field_code": "PHONE", "values": [{"value": "+7 999 000-11-22", "enum_code": "WORK"}]},
                        {"field_code": "EMAIL", "values": [{"value": "gleb@example.com", "enum_code": "WORK"}]}
                    ]
                }],
                "tags": [{"name": "landing"}]
            }
        }])
    );
    // Bitrix24: duplicates searched by phone, then by e-mail, then crm.lead.add fields.
    let bx = requests(&f.bitrix).await;
    assert_eq!(
        bx.iter().map(|r| r.url.path()).collect::<Vec<_>>(),
        [
            "/rest/1/abc/crm.duplicate.findbycomm.json",
            "/rest/1/abc/crm.duplicate.findbycomm.json",
            "/rest/1/abc/crm.lead.add.json",
        ]
    );
    let bxb = body_json(&bx[2]);
    assert_eq!(bxb["fields"].get("CONTACT_ID"), None);
    assert_eq!(bxb["fields"]["TITLE"], "Заявка: Глеб <Титов>");
    assert_eq!(bxb["fields"]["NAME"], "Глеб <Титов>");
    assert_eq!(
        bxb["fields"]["PHONE"],
        json!([{"VALUE": "+7 999 000-11-22", "VALUE_TYPE": "WORK"}])
    );
    assert_eq!(
        bxb["fields"]["EMAIL"],
        json!([{"VALUE": "gleb@example.com", "VALUE_TYPE": "WORK"}])
    );
    assert_eq!(bxb["fields"]["COMMENTS"], "Перезвоните & уточните");
    assert_eq!(bxb["fields"]["SOURCE_ID"], "WEB");
    assert_eq!(bxb["fields"]["UTM_SOURCE"], "yandex");
    // Telegram: the lead, HTML-escaped, to the right chat; plus the admins' notification.
    let tg = requests(&f.telegram).await;
    let lead_msg = tg
        .iter()
        .map(body_json)
        .find(|b| b["chat_id"] == -100123)
        .expect("lead message to the chat");
    assert_eq!(lead_msg["parse_mode"], "HTML");
    let text = lead_msg["text"].as_str().unwrap();
    assert!(text.contains("Глеб &lt;Титов&gt;"), "{text}");
    assert!(text.contains("Перезвоните &amp; уточните"), "{text}");
    assert!(!text.contains("<Титов>"), "{text}");
    // Webhook: body, event header, and a signature that verifies.
    let hook = requests(&f.hook).await;
    assert_eq!(hook.len(), 1);
    let h = &hook[0];
    assert_eq!(h.headers.get("x-zayavka-event").unwrap(), "lead.created");
    let sig = h
        .headers
        .get("x-zayavka-signature")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let t: i64 = sig
        .split(',')
        .next()
        .unwrap()
        .trim_start_matches("t=")
        .parse()
        .unwrap();
    // Verified as a receiver would, with the HMAC crate itself, not with our signer.
    let mut mac =
        <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(b"s3cret-signing-key").unwrap();
    hmac::Mac::update(&mut mac, format!("{t}.").as_bytes());
    hmac::Mac::update(&mut mac, &h.body);
    let expected: String = hmac::Mac::finalize(mac)
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(sig, format!("t={t},v1={expected}"));
    let hb = body_json(h);
    assert_eq!(hb["event"], "lead.created");
    assert_eq!(hb["lead_id"], lead_id.as_str());
    assert_eq!(hb["lead"]["name"], "Глеб <Титов>");
    assert_eq!(hb["lead"]["utm"]["utm_source"], "yandex");

    // E-mail to the lead's recipients, and the admins' notification by e-mail and Telegram.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mails = stack.mails().await;
        let to_sales = mails.iter().any(|(to, subject, text)| {
            to == &vec!["sales@example.com".to_string()]
                && subject == "Новая заявка: Глеб <Титов>"
                && (text.contains("Перезвоните & уточните")
                    || text.contains("Перезвоните &amp; уточните"))
        });
        let to_admin = mails.iter().any(|(to, subject, text)| {
            to == &vec!["admin@example.com".to_string()]
                && subject.contains(&lead_id)
                && text.contains("amocrm, bitrix24, email, telegram, webhook")
        });
        let tg_admin = requests(&f.telegram)
            .await
            .iter()
            .map(body_json)
            .any(|b| b["chat_id"] == -100999);
        if to_sales && to_admin && tg_admin {
            break;
        }
        assert!(Instant::now() < deadline, "mails: {mails:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stack.stop().await;
}

crate::both!(one_integration_failing_every_time_is_retried_then_the_lead_is_partial);
async fn one_integration_failing_every_time_is_retried_then_the_lead_is_partial(kind: Kind) {
    let stack = Stack::start(kind, &[], &[]).await;
    let f = stack.fakes.clone();
    Mock::given(method("POST"))
        .and(path("/rest/1/abc/crm.lead.add.json"))
        .respond_with(
            ResponseTemplate::new(500).set_body_json(
                json!({"error": "INTERNAL_SERVER_ERROR", "error_description": "boom"}),
            ),
        )
        .mount(&f.bitrix)
        .await;
    f.telegram_ok().await;
    let lead_id = unique("lead-");
    let body = json!({
        "lead_id": lead_id,
        "lead": {"name": "Анна", "phone": "+79990001122"},
        "integrations": [
            {"type": "telegram", "settings": {"chat_id": "-100123"}},
            {"type": "bitrix24", "tries": 3}
        ],
        "credentials": {
            "telegram": {"bot_token": BOT},
            "bitrix24": {"webhook_url": format!("{}/rest/1/abc", f.bitrix.uri())}
        }
    });
    let (status, b) = stack.submit(&body, None).await;
    assert_eq!(status, 202, "{b}");
    let lead = stack.settled(&lead_id, Duration::from_secs(30)).await;
    assert_eq!(lead["status"], "partial", "{lead:#}");
    let bx = integration(&lead, "bitrix24");
    assert_eq!(bx["status"], "failed");
    assert_eq!(bx["attempts"], 3);
    assert!(
        bx["last_error"].as_str().unwrap().contains("HTTP 500"),
        "{bx}"
    );
    // Each attempt looks the contact up first (no fake for it here: a refused search
    // leaves the lead unlinked), then adds the lead.
    let adds = requests(&f.bitrix)
        .await
        .iter()
        .filter(|r| r.url.path().ends_with("/crm.lead.add.json"))
        .count();
    assert_eq!(adds, 3, "tried exactly `tries` times");
    assert_eq!(integration(&lead, "telegram")["status"], "succeeded");
    stack.stop().await;
}

crate::both!(every_integration_failing_makes_the_lead_failed);
async fn every_integration_failing_makes_the_lead_failed(kind: Kind) {
    let stack = Stack::start(kind, &[], &[]).await;
    let f = stack.fakes.clone();
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"title": "Unauthorized", "status": 401, "detail": "token expired"}),
        ))
        .mount(&f.amo)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"ok": false, "error_code": 400, "description": "Bad Request: chat not found"}),
        ))
        .mount(&f.telegram)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&f.hook)
        .await;
    let lead_id = unique("lead-");
    let body = json!({
        "lead_id": lead_id,
        "lead": {"email": "x@example.com"},
        "integrations": [
            {"type": "amocrm"},
            {"type": "telegram", "settings": {"chat_id": "@no_such_chat"}},
            {"type": "webhook", "settings": {"url": format!("{}/gone", f.hook.uri())}}
        ],
        "credentials": {
            "amocrm": {"subdomain": "acme", "access_token": "expired-token"},
            "telegram": {"bot_token": BOT}
        }
    });
    let (status, b) = stack.submit(&body, None).await;
    assert_eq!(status, 202, "{b}");
    let lead = stack.settled(&lead_id, Duration::from_secs(30)).await;
    assert_eq!(lead["status"], "failed", "{lead:#}");
    // 4xx answers are final: one attempt each.
    for i in ["amocrm", "telegram", "webhook"] {
        assert_eq!(integration(&lead, i)["attempts"], 1, "{i}");
        assert_eq!(integration(&lead, i)["status"], "failed", "{i}");
    }
    assert!(
        integration(&lead, "amocrm")["last_error"]
            .as_str()
            .unwrap()
            .contains("token")
    );
    assert!(
        integration(&lead, "telegram")["last_error"]
            .as_str()
            .unwrap()
            .contains("chat not found")
    );
    stack.stop().await;
}

crate::both!(a_429_with_retry_after_is_waited_out_then_delivered);
async fn a_429_with_retry_after_is_waited_out_then_delivered(kind: Kind) {
    let stack = Stack::start(kind, &[("RETRY_SCHEDULE", "0s,0s")], &[]).await;
    let f = stack.fakes.clone();
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({
            "ok": false, "error_code": 429, "description": "Too Many Requests: retry after 2",
            "parameters": {"retry_after": 2}
        })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&f.telegram)
        .await;
    f.telegram_ok().await;
    let lead_id = unique("lead-");
    let body = json!({
        "lead_id": lead_id,
        "lead": {"name": "Иван"},
        "integrations": [{"type": "telegram", "settings": {"chat_id": "-100123"}}],
        "credentials": {"telegram": {"bot_token": BOT}}
    });
    let started = Instant::now();
    let (status, _) = stack.submit(&body, None).await;
    assert_eq!(status, 202);
    let lead = stack.settled(&lead_id, Duration::from_secs(30)).await;
    assert_eq!(lead["status"], "completed", "{lead:#}");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "did not wait retry_after: {:?}",
        started.elapsed()
    );
    assert_eq!(integration(&lead, "telegram")["attempts"], 2);
    let to_chat = requests(&f.telegram)
        .await
        .iter()
        .map(body_json)
        .filter(|b| b["chat_id"] == -100123)
        .count();
    assert_eq!(to_chat, 2);
    stack.stop().await;
}

crate::both!(a_job_delivered_twice_calls_out_once_and_one_key_makes_one_batch);
async fn a_job_delivered_twice_calls_out_once_and_one_key_makes_one_batch(kind: Kind) {
    let stack = Stack::start(kind, &[], &[]).await;
    let f = stack.fakes.clone();
    f.all_succeed().await;
    let body = json!({
        "lead": {"name": "Пётр", "phone": "+79990001123"},
        "integrations": [{"type": "webhook", "settings": {"url": format!("{}/hook", f.hook.uri())}}]
    });
    let (first, a) = stack.submit(&body, Some("order-7781")).await;
    let (second, b) = stack.submit(&body, Some("order-7781")).await;
    assert_eq!((first, second), (202, 200), "{a} {b}");
    assert_eq!(a["batch_id"], b["batch_id"]);
    assert_eq!(a["lead_id"], b["lead_id"]);
    let lead_id = a["lead_id"].as_str().unwrap().to_string();
    let lead = stack.settled(&lead_id, Duration::from_secs(30)).await;
    assert_eq!(lead["status"], "completed");
    // The same lead_id again: the existing batch, nothing new queued.
    let again = json!({"lead_id": lead_id, "lead": {"name": "x"}, "integrations": [{"type": "webhook", "settings": {"url": format!("{}/hook", f.hook.uri())}}]});
    let (third, c) = stack.submit(&again, None).await;
    assert_eq!(third, 200, "{c}");
    assert_eq!(c["batch_id"], a["batch_id"]);

    // The same job twice more, as a redrive from the dead-letter queue or a repeat that the
    // queue's de-duplication did not catch would bring it.
    let batch_id = a["batch_id"].as_str().unwrap().to_string();
    let job = json!({
        "lead_id": lead_id, "batch_id": batch_id, "tries": 3,
        "created_at": "2026-12-01T10:00:00.000Z", "expected": ["webhook"],
        "lead": {"name": "Пётр"},
        "target": {"type": "webhook", "url": format!("{}/hook", f.hook.uri())}
    });
    let copy = |n: u32| OutMessage::new(job.to_string()).in_group(&batch_id, format!("again-{n}"));
    stack
        .deps
        .queue
        .send_batch(INTEGRATION_WEBHOOK, vec![copy(1), copy(2)])
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let s = stack.deps.queue.stats(INTEGRATION_WEBHOOK).await.unwrap();
        if s.visible + s.in_flight + s.delayed == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "duplicates not consumed: {s:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(requests(&f.hook).await.len(), 1, "one outside call in all");
    let lead = stack.settled(&lead_id, Duration::from_secs(5)).await;
    assert_eq!(lead["status"], "completed");
    stack.stop().await;
}

/// Takes the next message of `queue` as a worker would, and lets that worker die: the
/// message comes back when its visibility runs out (here at once).
async fn taken_by_a_worker_that_dies(stack: &Stack, queue: &str) {
    let taken = stack
        .deps
        .queue
        .receive(queue, 1, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(taken.len(), 1, "the job was queued");
    stack
        .deps
        .queue
        .change_visibility(queue, &taken[0].receipt_handle, 0)
        .await
        .unwrap();
}

crate::both!(a_worker_killed_before_its_call_spends_no_try);
async fn a_worker_killed_before_its_call_spends_no_try(kind: Kind) {
    let mut stack = Stack::start(kind, &[], &["integration-worker"]).await;
    let f = stack.fakes.clone();
    f.all_succeed().await;
    let lead_id = unique("lead-");
    // One try only: a try spent by a dead worker would fail the lead without any call.
    let body = json!({
        "lead_id": lead_id,
        "lead": {"name": "Ольга"},
        "integrations": [{"type": "bitrix24", "tries": 1}],
        "credentials": {"bitrix24": {"webhook_url": format!("{}/rest/1/abc/", f.bitrix.uri())}}
    });
    let (status, b) = stack.submit(&body, None).await;
    assert_eq!(status, 202, "{b}");
    taken_by_a_worker_that_dies(&stack, INTEGRATION_BITRIX24).await;
    stack.restart(&[]).await;
    let lead = stack.settled(&lead_id, Duration::from_secs(30)).await;
    let bx = integration(&lead, "bitrix24");
    assert_eq!(lead["status"], "completed", "{lead:#}");
    assert_eq!(bx["attempts"], 1, "{bx}");
    assert_eq!(requests(&f.bitrix).await.len(), 1);
    stack.stop().await;
}

crate::both!(a_worker_killed_after_its_call_is_the_one_window_for_a_repeat);
async fn a_worker_killed_after_its_call_is_the_one_window_for_a_repeat(kind: Kind) {
    let mut stack = Stack::start(kind, &[], &["integration-worker"]).await;
    let f = stack.fakes.clone();
    f.all_succeed().await;
    let lead_id = unique("lead-");
    let body = json!({
        "lead_id": lead_id,
        "lead": {"name": "Ольга"},
        "integrations": [{"type": "webhook", "settings": {"url": format!("{}/hook", f.hook.uri())}, "tries": 2}]
    });
    let (status, b) = stack.submit(&body, None).await;
    assert_eq!(status, 202);
    let batch_id = b["batch_id"].as_str().unwrap().to_string();
    // The worker takes the job, calls out... and dies before its result is written.
    taken_by_a_worker_that_dies(&stack, INTEGRATION_WEBHOOK).await;
    let open = zayavka::outbound::OpenClient::new(
        Duration::from_secs(5),
        zayavka::outbound::AllowHosts::parse("127.0.0.1").unwrap(),
    )
    .unwrap();
    let delivery = format!("{batch_id}:webhook");
    zayavka::integrations::webhook::send(
        &open,
        &format!("{}/hook", f.hook.uri()),
        &[],
        &delivery,
        0,
        &json!({"lead_id": lead_id}),
    )
    .await
    .unwrap();
    stack.restart(&[]).await;
    let lead = stack.settled(&lead_id, Duration::from_secs(30)).await;
    let wh = integration(&lead, "webhook");
    assert_eq!(lead["status"], "completed", "{lead:#}");
    assert_eq!(
        wh["attempts"], 1,
        "attempts are the calls whose answer was recorded: {wh}"
    );
    // The outcome README promises: the receiver sees the call twice, both times with the
    // same X-Zayavka-Delivery, and drops the repeat by it.
    let calls = requests(&f.hook).await;
    assert_eq!(calls.len(), 2);
    for c in &calls {
        assert_eq!(
            c.headers
                .get("x-zayavka-delivery")
                .unwrap()
                .to_str()
                .unwrap(),
            delivery
        );
    }
    stack.stop().await;
}

crate::both!(a_job_whose_message_is_dead_lettered_is_failed_by_the_sweeper);
async fn a_job_whose_message_is_dead_lettered_is_failed_by_the_sweeper(kind: Kind) {
    let stack = Stack::start(kind, &[], &["integration-worker"]).await;
    let f = stack.fakes.clone();
    let lead_id = unique("lead-");
    let body = json!({
        "lead_id": lead_id,
        "lead": {"name": "Нина"},
        "integrations": [{"type": "webhook", "settings": {"url": format!("{}/hook", f.hook.uri())}}]
    });
    let (status, _) = stack.submit(&body, None).await;
    assert_eq!(status, 202);
    // Its workers kept stopping before they wrote an answer: after its last delivery the
    // queue moves the message to the dead-letter queue (done by hand here).
    let q = stack.deps.queue.as_ref();
    let dlq = zayavka::queues::dead_letter_name(INTEGRATION_WEBHOOK);
    let taken = q
        .receive(INTEGRATION_WEBHOOK, 1, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    let moved = OutMessage::new(taken[0].body.clone()).in_group("g", "dead-1");
    q.send(&dlq, moved).await.unwrap();
    q.delete(INTEGRATION_WEBHOOK, &taken[0].receipt_handle)
        .await
        .unwrap();
    let lead = stack.settled(&lead_id, Duration::from_secs(30)).await;
    assert_eq!(lead["status"], "failed", "{lead:#}");
    let hook = integration(&lead, "webhook");
    assert_eq!(hook["status"], "failed");
    assert_eq!(hook["attempts"], 0, "{hook}");
    assert!(
        hook["last_error"]
            .as_str()
            .unwrap()
            .contains("dead-letter queue"),
        "{hook}"
    );
    assert!(requests(&f.hook).await.is_empty());
    // Taken from the dead-letter queue, credentials and all.
    let left = q.stats(&dlq).await.unwrap();
    assert_eq!(left.visible + left.in_flight + left.delayed, 0, "{left:?}");
    // The admins hear how it ended (the notification was queued just before the status).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mails = stack.mails().await;
        if mails
            .iter()
            .any(|(_, subject, _)| subject.contains(&lead_id))
        {
            break;
        }
        assert!(Instant::now() < deadline, "{mails:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stack.stop().await;
}

/// Every log line of the test's own thread.
#[derive(Clone, Default)]
struct Logs(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

crate::both!(a_dead_letter_the_store_refuses_is_kept_while_the_rest_are_failed);
async fn a_dead_letter_the_store_refuses_is_kept_while_the_rest_are_failed(kind: Kind) {
    // No worker (the jobs stay queued) and no sweeper of its own: the test runs the sweep.
    let stack = Stack::start(kind, &[], &["integration-worker", "sweeper"]).await;
    let f = stack.fakes.clone();
    const SECRET: &str = "whsec-kept-dead-letter-4f1c9e";
    let ids: Vec<String> = (0..3).map(|i| unique(&format!("dl{i}-"))).collect();
    let mut batches = Vec::new();
    for id in &ids {
        let body = json!({
            "lead_id": id,
            "lead": {"name": "Нина"},
            "integrations": [{"type": "webhook", "settings": {"url": format!("{}/hook", f.hook.uri())}}],
            "credentials": {"webhook": {"secret": SECRET}}
        });
        let (status, b) = stack.submit(&body, None).await;
        assert_eq!(status, 202, "{b}");
        batches.push(b["batch_id"].as_str().unwrap().to_string());
    }
    // The first lead's batch item was changed by hand into a shape the store refuses to
    // update (its attempts counter a string): recording its job fails, and always will.
    stack
        .deps
        .table
        .update(
            &zayavka::leads::store::batch_key(&ids[0], &batches[0]),
            zayavka::ports::Update::new().set("webhook_attempts", "many"),
        )
        .await
        .unwrap();
    // All three jobs' workers kept stopping: their messages reach the dead-letter queue
    // (moved by hand, each in its own group as its batch), the refused one first.
    let q = stack.deps.queue.as_ref();
    let dlq = zayavka::queues::dead_letter_name(INTEGRATION_WEBHOOK);
    let mut taken = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while taken.len() < 3 {
        assert!(Instant::now() < deadline, "{} jobs queued", taken.len());
        taken.extend(
            q.receive(INTEGRATION_WEBHOOK, 10, Duration::from_secs(1))
                .await
                .unwrap(),
        );
    }
    for (i, id) in ids.iter().enumerate() {
        let m = taken
            .iter()
            .find(|m| serde_json::from_str::<Value>(&m.body).unwrap()["lead_id"] == id.as_str())
            .unwrap();
        q.send(
            &dlq,
            OutMessage::new(m.body.clone()).in_group(id, format!("dead-{i}")),
        )
        .await
        .unwrap();
        q.delete(INTEGRATION_WEBHOOK, &m.receipt_handle)
            .await
            .unwrap();
    }

    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let report = {
        let _guard = tracing::subscriber::set_default(subscriber);
        let cfg = zayavka::leads::sweep::SweepConfig {
            per_queue_per_run: 100,
        };
        zayavka::leads::sweep::sweep(&stack.deps, cfg).await
    };
    // The run went on past the refused message: the other two are failed and settled.
    let report = report.expect("one refused dead letter does not stop the run");
    assert_eq!((report.dead_jobs, report.kept), (2, 1), "{report:?}");
    for id in &ids[1..] {
        let lead = stack.settled(id, Duration::from_secs(30)).await;
        assert_eq!(lead["status"], "failed", "{lead:#}");
        let hook = integration(&lead, "webhook");
        assert_eq!(hook["status"], "failed", "{hook}");
        assert!(
            hook["last_error"]
                .as_str()
                .unwrap()
                .contains("dead-letter queue"),
            "{hook}"
        );
    }
    // The refused one is not lost: still open, its message still in the dead-letter queue
    // (taken by this run, back after the visibility timeout), and the log names it.
    let (status, body) = stack.lead(&ids[0]).await;
    assert_eq!(status, 200, "{body}");
    let lead: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(lead["status"], "processing", "{lead:#}");
    let left = q.stats(&dlq).await.unwrap();
    assert_eq!(left.visible + left.in_flight + left.delayed, 1, "{left:?}");
    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let line = logged
        .lines()
        .find(|l| l.contains("kept in its queue"))
        .unwrap_or_else(|| panic!("no line about the kept message in {logged}"));
    assert!(line.contains(&ids[0]) && line.contains(&dlq), "{line}");
    assert!(!logged.contains(SECRET), "{logged}");
    assert!(requests(&f.hook).await.is_empty());
    stack.stop().await;
}

#[tokio::test]
async fn a_comment_longer_than_telegram_takes_reaches_the_chat_in_parts() {
    let stack = Stack::start(Kind::Embedded, &[], &[]).await;
    let f = stack.fakes.clone();
    f.telegram_ok().await;
    // 10 000 characters of Cyrillic and emoji: over 4096 however it is counted.
    let comment: String = "Перезвоните после 18:00 😀\n"
        .repeat(400)
        .chars()
        .take(10_000)
        .collect();
    let lead_id = unique("long-");
    let body = json!({
        "lead_id": lead_id,
        "lead": {"name": "Анна", "comment": comment},
        "integrations": [{"type": "telegram", "settings": {"chat_id": "-100123"}}],
        "credentials": {"telegram": {"bot_token": BOT}}
    });
    let (status, b) = stack.submit(&body, None).await;
    assert_eq!(status, 202, "{b}");
    let lead = stack.settled(&lead_id, Duration::from_secs(30)).await;
    assert_eq!(
        integration(&lead, "telegram")["status"],
        "succeeded",
        "{lead:#}"
    );
    let sends: Vec<Value> = requests(&f.telegram)
        .await
        .iter()
        .map(body_json)
        .filter(|b| b["chat_id"] == "-100123" || b["chat_id"] == -100123)
        .collect();
    // ≈ 10 400 UTF-16 units, cut at line breaks: three or four messages.
    assert!((3..=4).contains(&sends.len()), "{} messages", sends.len());
    let mut shown = String::new();
    for s in &sends {
        let text = s["text"].as_str().unwrap();
        let len = crate::support_relay::telegram_length(text, s["parse_mode"].as_str());
        assert!(len <= 4096, "{len}");
        shown.push_str(text);
    }
    // Nothing lost: every line of the comment is there, in order.
    let lines: Vec<&str> = comment.lines().collect();
    let mut at = 0;
    for line in &lines {
        let found = shown[at..]
            .find(line)
            .unwrap_or_else(|| panic!("{line} missing"));
        at += found + line.len();
    }
    stack.stop().await;
}
