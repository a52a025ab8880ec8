//! The fuzzer of every parser of outside input, shared by the test suite (a short run) and
//! the `fuzz` bench (a million inputs). Inputs are known-good requests mutated by a seeded
//! generator: structure-aware changes (a field removed, a value of another type or size, a
//! key from the parsers' own vocabulary added) and byte-level damage; headers that carry
//! numbers (the `/executors` session cookie, `X-Zayavka-Signature`) are written for each
//! input, with times at the edges of i64 or none at all. Each goes through the
//! real HTTP function with the right credential, on an embedded store, and must be answered
//! 2xx or 4xx (or a form's 303) without a panic; a 4xx must leave the table and the queues
//! as they were.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arbitrary::Unstructured;
use futures::FutureExt;
use serde_json::{Value, json};
use zayavka::Deps;
use zayavka::http::{HttpFunction, direct_request, dispatch};

/// What the bridge's replies are signed with.
const BRIDGE_SIGNING: &str = "fuzz_bridge_signing_secret-1";

/// Counts the writes that reach the table and the queues (a refused input must make none).
#[derive(Default)]
pub struct Writes(AtomicU64);

impl Writes {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A table and a queue that count the writes they pass on.
mod counting {
    use super::Writes;
    use async_trait::async_trait;
    use std::sync::Arc;
    use std::time::Duration;
    use zayavka::ports::table::Cond;
    use zayavka::ports::{
        Item, Key, OutMessage, Page, Query, Queue, QueueError, QueueStats, Received, StoreError,
        Table, TxOp, Update,
    };

    pub struct CountingTable(pub Arc<dyn Table>, pub Arc<Writes>);
    pub struct CountingQueue(pub Arc<dyn Queue>, pub Arc<Writes>);

    impl CountingTable {
        fn wrote(&self) {
            self.1.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }

        /// A write that is not a change: every sign-in attempt is counted, a refused one
        /// too (that is what holds a guesser back).
        fn counted(&self, key: &Key) {
            if !key.pk.starts_with("signin#rate#") {
                self.wrote();
            }
        }
    }

    #[async_trait]
    impl Table for CountingTable {
        async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
            self.0.get(key).await
        }
        async fn put(&self, item: Item, cond: Option<Cond>) -> Result<(), StoreError> {
            self.wrote();
            self.0.put(item, cond).await
        }
        async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError> {
            self.counted(key);
            self.0.update(key, update).await
        }
        async fn delete(&self, key: &Key, cond: Option<Cond>) -> Result<(), StoreError> {
            self.wrote();
            self.0.delete(key, cond).await
        }
        async fn query(&self, query: Query) -> Result<Page, StoreError> {
            self.0.query(query).await
        }
        async fn transact(&self, ops: Vec<TxOp>) -> Result<(), StoreError> {
            self.wrote();
            self.0.transact(ops).await
        }
    }

    #[async_trait]
    impl Queue for CountingQueue {
        async fn send(&self, queue: &str, msg: OutMessage) -> Result<String, QueueError> {
            self.1.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.0.send(queue, msg).await
        }
        async fn send_batch(
            &self,
            queue: &str,
            msgs: Vec<OutMessage>,
        ) -> Result<Vec<String>, QueueError> {
            self.1.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.0.send_batch(queue, msgs).await
        }
        async fn receive(
            &self,
            queue: &str,
            max: u32,
            wait: Duration,
        ) -> Result<Vec<Received>, QueueError> {
            self.0.receive(queue, max, wait).await
        }
        async fn delete(&self, queue: &str, receipt: &str) -> Result<(), QueueError> {
            self.0.delete(queue, receipt).await
        }
        async fn change_visibility(
            &self,
            queue: &str,
            receipt: &str,
            secs: u32,
        ) -> Result<(), QueueError> {
            self.0.change_visibility(queue, receipt, secs).await
        }
        async fn stats(&self, queue: &str) -> Result<QueueStats, QueueError> {
            self.0.stats(queue).await
        }
    }
}

/// One parser, reached through its function and route with the right credential.
struct Target {
    name: &'static str,
    function: usize,
    method: &'static str,
    /// `{}` is replaced by a generated path part when `fuzz_path`.
    path: &'static str,
    fuzz_path: bool,
    headers: Vec<(&'static str, String)>,
    /// Known-good inputs: JSON bodies, a form body as a JSON string, or a query.
    seeds: Vec<Value>,
    kind: BodyKind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Json,
    /// A urlencoded form made from a flat JSON object.
    Form,
    /// A query string made from a flat JSON object; no body.
    Query,
}

const API_KEY: &str = "fuzz-key-0123456789abcdef";
const TG_SECRET: &str = "fuzz_secret-1";
const OKDESK_HOOK: &str = "fuzz_okdesk_hook_token_0123456789abcdef";
const CSRF: &str = "0123456789abcdef0123456789abcdef01234567";
/// A header value the generator writes anew for each input (see `made_cookie`).
const MADE_SESSION: &str = "MADE_SESSION";

fn targets() -> Vec<Target> {
    let message = json!({"message_id": 1, "date": 1700000000,
        "chat": {"id": 5, "type": "private", "first_name": "A"},
        "from": {"id": 5, "is_bot": false, "first_name": "A", "language_code": "ru"}, "text": "hello"});
    let updates = vec![
        json!({"update_id": 1, "message": message}),
        json!({"update_id": 2, "message": {"message_id": 2, "date": 1, "chat": {"id": 6, "type": "private"},
            "from": {"id": 6, "is_bot": false, "first_name": "B"}, "text": "/start abc"}}),
        json!({"update_id": 3, "message": {"message_id": 3, "date": 1, "chat": {"id": 7, "type": "private"},
            "from": {"id": 7, "is_bot": false, "first_name": "C"},
            "contact": {"phone_number": "79990001122", "first_name": "C", "user_id": 7}}}),
        json!({"update_id": 4, "message": {"message_id": 4, "date": 1, "chat": {"id": 8, "type": "private"},
            "from": {"id": 8, "is_bot": false, "first_name": "D"}, "caption": "see",
            "photo": [{"file_id": "f", "file_unique_id": "u", "width": 1, "height": 1}]}}),
        json!({"update_id": 5, "callback_query": {"id": "q", "chat_instance": "c", "data": "reg:p",
            "from": {"id": 9, "is_bot": false, "first_name": "E"},
            "message": {"message_id": 5, "date": 1, "chat": {"id": 9, "type": "private"}, "text": "x"}}}),
        json!({"update_id": 6, "message": {"message_id": 6, "date": 1, "chat": {"id": -100777, "type": "supergroup", "title": "Admins"},
            "from": {"id": 10, "is_bot": false, "first_name": "F"}, "text": "reply",
            "reply_to_message": {"message_id": 1, "date": 1, "chat": {"id": -100777, "type": "supergroup", "title": "Admins"}, "text": "x"}}}),
        json!({"update_id": 7, "edited_message": message}),
    ];
    let bearer = vec![
        ("authorization", format!("Bearer {API_KEY}")),
        ("content-type", "application/json".to_string()),
    ];
    let tg = vec![
        ("x-telegram-bot-api-secret-token", TG_SECRET.to_string()),
        ("content-type", "application/json".to_string()),
    ];
    let press = |data: &str| {
        json!({"update_id": 8, "callback_query": {"id": "q", "chat_instance": "c", "data": data,
            "from": {"id": 5, "is_bot": false, "first_name": "E", "language_code": "en"},
            "message": {"message_id": 5, "date": 1, "chat": {"id": 5, "type": "private"}, "text": "x"}}})
    };
    let mut staff_updates = updates.clone();
    for data in [
        "tk:t:1",
        "tk:pp:1:tm",
        "tk:ok:1",
        "tk:rt:1",
        "tk:cat:1",
        "tk:i:1",
    ] {
        staff_updates.push(press(data));
    }
    staff_updates.push(
        json!({"update_id": 9, "message": {"message_id": 9, "date": 1,
        "chat": {"id": 5, "type": "private"}, "from": {"id": 5, "is_bot": false, "first_name": "A"},
        "text": "📝 Новая заявка"}}),
    );
    vec![
        Target {
            name: "lead request",
            function: 0,
            method: "POST",
            path: "/api/integrations/send-batch",
            fuzz_path: false,
            headers: bearer.clone(),
            seeds: vec![
                json!({"lead_id": "L-1", "lead": {"name": "Анна", "phone": "+7 999 000-11-22", "email": "a@example.com",
                    "comment": "c", "source": "s", "utm": {"utm_source": "x"}},
                    "integrations": [{"type": "email", "settings": {"template": "new_lead"}},
                        {"type": "amocrm", "settings": {"pipeline_id": 7, "tags": ["a"]}, "tries": 2},
                        {"type": "telegram", "settings": {"chat_id": "-100123"}},
                        {"type": "bitrix24", "settings": {"source_id": "WEB", "assigned_by_id": 1}},
                        {"type": "webhook", "settings": {"url": "https://hooks.example.com/l"}}],
                    "credentials": {"email": {"emails": ["s@example.com"], "subject": "{lead_name}"},
                        "amocrm": {"subdomain": "acme", "access_token": "t"},
                        "telegram": {"bot_token": "1:ABCDEFGHIJ"},
                        "bitrix24": {"webhook_url": "https://p.bitrix24.ru/rest/1/abc/"},
                        "webhook": {"secret": "s"}}}),
                json!({"lead": {"name": "x"}, "integrations": [{"type": "webhook", "settings": {"url": "https://a.example"}}]}),
            ],
            kind: BodyKind::Json,
        },
        Target {
            name: "lead replay",
            function: 0,
            method: "POST",
            path: "/api/leads/L-1/retry",
            fuzz_path: false,
            headers: bearer.clone(),
            seeds: vec![
                json!({}),
                json!({"integrations": ["amocrm", "webhook"]}),
                json!({"integrations": [{"type": "bitrix24", "settings": {"source_id": "WEB"}}],
                    "credentials": {"bitrix24": {"webhook_url": "https://p.bitrix24.ru/rest/1/abc/"}}}),
            ],
            kind: BodyKind::Json,
        },
        Target {
            name: "lead status",
            function: 0,
            method: "GET",
            path: "/api/leads/{}",
            fuzz_path: true,
            headers: bearer.clone(),
            seeds: vec![json!({})],
            kind: BodyKind::Query,
        },
        Target {
            name: "support API",
            function: 1,
            method: "POST",
            path: "/api/feedback/submit",
            fuzz_path: false,
            headers: vec![
                ("content-type", "application/json".into()),
                ("origin", "https://shop.example".into()),
            ],
            seeds: vec![
                json!({"subject": "s", "message": "m", "name": "n", "email": "a@example.com"}),
                json!({"message": "m", "name": "n", "email": "a@example.com", "user_id": "42", "user_hash": "00"}),
                json!({"message": "m", "name": "n", "email": "a@example.com", "thread_token": CSRF, "website": ""}),
            ],
            kind: BodyKind::Json,
        },
        Target {
            name: "support form",
            function: 1,
            method: "POST",
            path: "/support",
            fuzz_path: false,
            headers: vec![
                ("content-type", "application/x-www-form-urlencoded".into()),
                ("cookie", format!("zayavka_csrf={CSRF}")),
            ],
            seeds: vec![
                json!({"subject": "s", "message": "m", "name": "n", "email": "a@example.com", "website": "", "csrf": CSRF}),
            ],
            kind: BodyKind::Form,
        },
        Target {
            name: "support threads",
            function: 1,
            method: "GET",
            path: "/api/feedback/threads",
            fuzz_path: false,
            headers: vec![],
            seeds: vec![
                json!({"user_id": "42", "user_hash": "00"}),
                json!({"thread_token": CSRF}),
            ],
            kind: BodyKind::Query,
        },
        Target {
            name: "telegram update (helpdesk bot)",
            function: 2,
            method: "POST",
            path: "/telegram/main/webhook",
            fuzz_path: false,
            headers: tg.clone(),
            seeds: updates.clone(),
            kind: BodyKind::Json,
        },
        Target {
            name: "telegram update (support bot)",
            function: 2,
            method: "POST",
            path: "/telegram/support/webhook",
            fuzz_path: false,
            headers: tg.clone(),
            seeds: updates.clone(),
            kind: BodyKind::Json,
        },
        Target {
            name: "telegram update (staff bot)",
            function: 2,
            method: "POST",
            path: "/telegram/staff/webhook",
            fuzz_path: false,
            headers: tg.clone(),
            seeds: staff_updates,
            kind: BodyKind::Json,
        },
        Target {
            name: "ticket API: users",
            function: 4,
            method: "POST",
            path: "/api/users",
            fuzz_path: false,
            headers: bearer.clone(),
            seeds: vec![
                json!({"name": "Ирина", "telegram_id": 5}),
                json!({"name": "Олег", "telegram_id": "6"}),
            ],
            kind: BodyKind::Json,
        },
        Target {
            name: "ticket API: categories",
            function: 4,
            method: "POST",
            path: "/api/categories",
            fuzz_path: false,
            headers: bearer.clone(),
            seeds: vec![json!({"name": "IT", "manager_user_ids": [1]})],
            kind: BodyKind::Json,
        },
        Target {
            name: "ticket API: executors",
            function: 4,
            method: "POST",
            path: "/api/executors",
            fuzz_path: false,
            headers: bearer.clone(),
            seeds: vec![json!({"user_id": 1, "category_id": 1, "priority": 5, "max_tickets": 10})],
            kind: BodyKind::Json,
        },
        Target {
            name: "ticket API: tickets",
            function: 4,
            method: "POST",
            path: "/api/tickets",
            fuzz_path: false,
            headers: bearer.clone(),
            seeds: vec![
                json!({"category_id": 1, "author_user_id": 1, "title": "t", "description": "Не печатает. Срочно"}),
            ],
            kind: BodyKind::Json,
        },
        Target {
            name: "ticket API: executor changes",
            function: 4,
            method: "PATCH",
            path: "/api/executors/{}",
            fuzz_path: true,
            headers: bearer.clone(),
            seeds: vec![json!({"is_active": false, "priority": 3, "max_tickets": 2})],
            kind: BodyKind::Json,
        },
        Target {
            name: "ticket API: ticket list",
            function: 4,
            method: "GET",
            path: "/api/tickets",
            fuzz_path: false,
            headers: bearer.clone(),
            seeds: vec![
                json!({"status": "in_work", "category_id": "1", "executor_user_id": "1", "limit": "2", "cursor": "x"}),
            ],
            kind: BodyKind::Query,
        },
        Target {
            name: "executors page",
            function: 4,
            method: "POST",
            path: "/executors",
            fuzz_path: false,
            headers: vec![
                ("content-type", "application/x-www-form-urlencoded".into()),
                ("cookie", "SESSION".into()),
            ],
            seeds: vec![
                json!({"action": "add", "user_id": "1", "category_id": "1", "priority": "5", "max_tickets": "10"}),
                json!({"action": "update", "id": "1", "priority": "7", "max_tickets": "3"}),
                json!({"action": "toggle", "id": "1", "active": "false"}),
                json!({"action": "login", "key": API_KEY}),
            ],
            kind: BodyKind::Form,
        },
        Target {
            name: "executors page: session cookie",
            function: 4,
            method: "GET",
            path: "/executors",
            fuzz_path: false,
            headers: vec![("cookie", MADE_SESSION.into())],
            seeds: vec![json!({}), json!({"ok": "added"})],
            kind: BodyKind::Query,
        },
        Target {
            name: "executors form: session cookie",
            function: 4,
            method: "POST",
            path: "/executors",
            fuzz_path: false,
            headers: vec![
                ("content-type", "application/x-www-form-urlencoded".into()),
                ("cookie", MADE_SESSION.into()),
            ],
            seeds: vec![
                json!({"action": "add", "user_id": "1", "category_id": "1", "priority": "5", "max_tickets": "10"}),
                json!({"action": "toggle", "id": "1", "active": "false"}),
                json!({"action": "remove", "id": "1"}),
            ],
            kind: BodyKind::Form,
        },
        Target {
            name: "telegram update (bridge bot)",
            function: 2,
            method: "POST",
            path: "/telegram/bridge/webhook",
            fuzz_path: false,
            headers: tg.clone(),
            seeds: updates.clone(),
            kind: BodyKind::Json,
        },
        Target {
            name: "bridge reply",
            function: 5,
            method: "POST",
            path: "/bridge/reply/fuzz_bridge_reply_token_0123456789abcdef",
            fuzz_path: false,
            headers: vec![("content-type", "application/json".into())],
            seeds: vec![
                json!({"client_id": "telegram_5", "content": "Ответ", "parse_mode": "HTML", "reply_to_message_id": 1}),
                json!({"client_id": "telegram_5", "text": "x", "id": "r-1",
                    "attachments": [{"type": "photo", "url": "https://cdn.example/p.jpg", "caption": "c"}],
                    "buttons": [[{"text": "Go", "url": "https://shop.example"}]]}),
            ],
            kind: BodyKind::Json,
        },
        Target {
            name: "bridge file link",
            function: 5,
            method: "GET",
            path: "/bridge/file/{}",
            fuzz_path: true,
            headers: vec![],
            seeds: vec![json!({})],
            kind: BodyKind::Query,
        },
        Target {
            name: "okdesk event",
            function: 3,
            method: "POST",
            path: "/okdesk/webhook/fuzz_okdesk_hook_token_0123456789abcdef",
            fuzz_path: false,
            headers: vec![("content-type", "application/json".into())],
            seeds: vec![
                json!({"event": {"event_type": "new_ticket_status", "new_status": {"code": "completed", "name": "Решена"},
                    "old_status": {"code": "opened"}}, "issue": {"id": 12, "client": {"contact": {"id": "5"}}}}),
                json!({"event": {"event_type": "new_comment", "author": {"id": "5", "type": "employee"},
                    "comment": {"id": "77", "is_public": true, "content": "<p>Hi <a href='x'>link</a></p>"}},
                    "issue": {"id": "12", "client": {"contact": {"id": 5}}}}),
                json!({"event": {"event_type": "new_ticket"}, "issue": {"id": 1}}),
            ],
            kind: BodyKind::Json,
        },
    ]
}

/// splitmix64: a small seeded source of the generator's bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n.div_ceil(8))
            .flat_map(|_| self.next().to_le_bytes())
            .take(n)
            .collect()
    }
}

/// Values that break parsers: edges of numbers, odd strings, wrong types.
fn odd_value(u: &mut Unstructured<'_>, vocabulary: &[String]) -> arbitrary::Result<Value> {
    Ok(match u.int_in_range(0..=17)? {
        0 => Value::Null,
        1 => json!(u.arbitrary::<bool>()?),
        2 => json!(u.arbitrary::<i64>()?),
        3 => json!(
            [
                0,
                -1,
                1,
                i64::MAX,
                i64::MIN,
                u32::MAX as i64 + 1,
                1i64 << 53
            ][u.choose_index(7)?]
        ),
        4 => json!(
            u.arbitrary::<f64>()?
                .to_string()
                .parse::<f64>()
                .unwrap_or(0.5)
        ),
        5 => json!(u.arbitrary::<String>()?),
        6 => json!("x".repeat(u.int_in_range(4000..=12000)?)),
        7 => json!(
            [
                "",
                " ",
                "\u{0}",
                "\r\n",
                "<script>alert(1)</script>",
                "../../etc/passwd",
                "%00%ff",
                "😀".repeat(3000).as_str(),
                "https://169.254.169.254/",
                "http://127.0.0.1:9001/",
                "-1",
                "1e400",
                "null",
                "ЁЖ"
            ][u.choose_index(14)?]
        ),
        8 => json!([]),
        9 => json!({}),
        10 => json!([odd_scalar(u)?, odd_scalar(u)?]),
        11 => {
            let key = vocabulary[u.choose_index(vocabulary.len())?].clone();
            json!({ key: odd_scalar(u)? })
        }
        12 => json!(u.int_in_range(-3i64..=3)?),
        13 => json!(u.arbitrary::<u8>()?.to_string()),
        14 => json!(vocabulary[u.choose_index(vocabulary.len())?].clone()),
        15 => json!("a@b"),
        16 => {
            json!(["private", "group", "supergroup", "channel", "sender", ""][u.choose_index(6)?])
        }
        _ => json!(f64::MAX),
    })
}

fn odd_scalar(u: &mut Unstructured<'_>) -> arbitrary::Result<Value> {
    Ok(match u.int_in_range(0..=3)? {
        0 => Value::Null,
        1 => json!(u.arbitrary::<i32>()?),
        2 => json!(u.arbitrary::<String>()?),
        _ => json!(u.arbitrary::<bool>()?),
    })
}

/// A random place inside `v`, and a change there.
fn mutate(v: &mut Value, u: &mut Unstructured<'_>, vocabulary: &[String]) -> arbitrary::Result<()> {
    // The place is chosen on a shared view as a JSON pointer, then changed through it.
    let depth = u.int_in_range(0..=5)?;
    let mut pointer = String::new();
    let mut at: &Value = v;
    for _ in 0..depth {
        let (segment, next) = match at {
            Value::Object(o) if !o.is_empty() => {
                let (k, x) = o.iter().nth(u.choose_index(o.len())?).expect("in range");
                (k.replace('~', "~0").replace('/', "~1"), x)
            }
            Value::Array(a) if !a.is_empty() => {
                let i = u.choose_index(a.len())?;
                (i.to_string(), &a[i])
            }
            _ => break,
        };
        if !matches!(next, Value::Object(_) | Value::Array(_)) {
            break;
        }
        pointer.push('/');
        pointer.push_str(&segment);
        at = next;
    }
    let Some(at) = v.pointer_mut(&pointer) else {
        return Ok(());
    };
    match (u.int_in_range(0..=4)?, at) {
        (0, Value::Object(o)) if !o.is_empty() => {
            let k = o
                .keys()
                .nth(u.choose_index(o.len())?)
                .cloned()
                .unwrap_or_default();
            o.remove(&k);
        }
        (1, Value::Object(o)) => {
            let k = vocabulary[u.choose_index(vocabulary.len())?].clone();
            o.insert(k, odd_value(u, vocabulary)?);
        }
        (2, Value::Object(o)) if !o.is_empty() => {
            let k = o
                .keys()
                .nth(u.choose_index(o.len())?)
                .cloned()
                .unwrap_or_default();
            o.insert(k, odd_value(u, vocabulary)?);
        }
        (3, Value::Array(a)) => {
            if a.is_empty() || u.arbitrary()? {
                a.push(odd_value(u, vocabulary)?);
            } else {
                let i = u.choose_index(a.len())?;
                a[i] = odd_value(u, vocabulary)?;
            }
        }
        (_, other) => *other = odd_value(u, vocabulary)?,
    }
    Ok(())
}

fn keys_of(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                out.insert(k.clone());
                keys_of(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| keys_of(x, out)),
        _ => {}
    }
}

fn flat_pairs(v: &Value) -> Vec<(String, String)> {
    match v {
        Value::Object(o) => o
            .iter()
            .map(|(k, x)| {
                (
                    k.clone(),
                    match x {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    },
                )
            })
            .collect(),
        other => vec![("x".into(), other.to_string())],
    }
}

fn encode(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// Fresh chat and user ids for a handled update, so the bots' per-chat send spacing (one a
/// second, as Telegram asks) never makes the run wait.
fn fresh_ids(v: &mut Value, next: &mut i64) {
    for m in ["message", "edited_message"] {
        if v[m]["chat"]["id"].is_i64() {
            *next += 1;
            v[m]["chat"]["id"] = json!(*next);
            if v[m]["from"]["id"].is_u64() {
                v[m]["from"]["id"] = json!(*next);
            }
        }
    }
    if v["callback_query"]["message"]["chat"]["id"].is_i64() {
        *next += 1;
        v["callback_query"]["message"]["chat"]["id"] = json!(*next);
    }
}

/// A time in seconds as an outside party may write it: about now, either side of the
/// window a check allows, the edges of i64 and one past them, or no number at all.
fn odd_time(u: &mut Unstructured<'_>, now: i64, window: i64) -> arbitrary::Result<String> {
    Ok(match u.int_in_range(0..=19)? {
        0 => now.to_string(),
        1 => (now - window).to_string(),
        2 => (now - window - 1).to_string(),
        3 => (now + window).to_string(),
        4 => (now + window + 1).to_string(),
        5 => i64::MIN.to_string(),
        6 => i64::MAX.to_string(),
        7 => (i64::MIN + 1).to_string(),
        8 => "0".into(),
        9 => "-1".into(),
        10 => u.arbitrary::<i64>()?.to_string(),
        11 => "9223372036854775808".into(),
        12 => "-9223372036854775809".into(),
        13 => format!("{}{now}", "0".repeat(30)),
        14 => String::new(),
        15 => "x".into(),
        16 => format!("+{now}"),
        17 => format!(" {now}"),
        18 => "1e9".into(),
        _ => visible(u.arbitrary::<String>()?),
    })
}

/// What a header can carry of a generated string: visible ASCII, no separators of its own.
fn visible(s: String) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic() && !matches!(c, ';' | ',' | '.'))
        .take(80)
        .collect()
}

/// The `/executors` page's session cookie (`<time>.<nonce>.<signature>`, the time in
/// seconds): a time at the edges or no number, signed with the key (so the time alone
/// decides) or not, whole or in pieces, alone or among other cookies.
fn made_cookie(u: &mut Unstructured<'_>, now: i64) -> arbitrary::Result<String> {
    // 12 hours: how long a sign-in lasts.
    let at = odd_time(u, now, 12 * 3600)?;
    let nonce = match u.int_in_range(0..=2)? {
        0 => "0123456789abcdef0123456789abcdef".to_string(),
        1 => String::new(),
        _ => visible(u.arbitrary::<String>()?),
    };
    let message = format!("{at}.{nonce}");
    let signature = match u.int_in_range(0..=3)? {
        0 | 1 => zayavka::api_keys::sign(API_KEY, &message),
        2 => "00".to_string(),
        _ => visible(u.arbitrary::<String>()?),
    };
    let value = match u.int_in_range(0..=5)? {
        0..=2 => format!("{message}.{signature}"),
        3 => at,
        4 => message,
        _ => format!("{message}.{signature}.{signature}"),
    };
    let name = ticket_api::SESSION_COOKIE;
    Ok(match u.int_in_range(0..=4)? {
        0 => format!("other=1; {name}={value}"),
        1 => format!("{name}={value}; {name}=0.0.0"),
        2 => format!("{name}=; {name}={value}"),
        _ => format!("{name}={value}"),
    })
}

/// An `X-Zayavka-Signature` for `body` with the bridge's secret: mostly made now (so the
/// reply's parser is reached), else at an odd time, with a wrong MAC or in another shape.
fn made_signature(u: &mut Unstructured<'_>, now: i64, body: &[u8]) -> arbitrary::Result<String> {
    if u.int_in_range(0..=4)? < 3 {
        return Ok(zayavka::signature::signature(BRIDGE_SIGNING, now, body));
    }
    let t = odd_time(u, now, zayavka::signature::TOLERANCE_SECS)?;
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(body);
    let v1 = match u.int_in_range(0..=2)? {
        0 | 1 => zayavka::signature::hmac_hex(BRIDGE_SIGNING, &signed),
        _ => visible(u.arbitrary::<String>()?),
    };
    Ok(match u.int_in_range(0..=5)? {
        0..=2 => format!("t={t},v1={v1}"),
        3 => format!("v1={v1},t={t}"),
        4 => format!("t={t},t={now},v1={v1}"),
        _ => format!("t={t}"),
    })
}

pub struct Failure {
    pub target: &'static str,
    pub what: String,
    pub input: String,
}

#[derive(Default)]
pub struct Report {
    pub cases: u64,
    pub elapsed: Duration,
    pub statuses: BTreeMap<u16, u64>,
    pub per_target: BTreeMap<&'static str, u64>,
    pub failures: Vec<Failure>,
    pub panics: u64,
}

impl Report {
    pub fn print(&self) {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        println!(
            "{} inputs in {:.1} s: {:.0} cases/s; {} panics, {} failures",
            self.cases,
            secs,
            self.cases as f64 / secs,
            self.panics,
            self.failures.len()
        );
        for (t, n) in &self.per_target {
            println!("  {t:<32} {n:>9}");
        }
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        println!("  answers: {}", statuses.join(", "));
        for f in self.failures.iter().take(10) {
            println!(
                "  FAILED {}: {} — input {}",
                f.target,
                f.what,
                f.input.chars().take(300).collect::<String>()
            );
        }
    }
}

/// Signs in on the `/executors` page with `key` as a browser would: the `Set-Cookie` the
/// page answers with (empty when it refused).
pub async fn sign_in(f: &dyn HttpFunction, key: &str) -> String {
    let body = format!(
        "action=login&key={}",
        url::form_urlencoded::byte_serialize(key.as_bytes()).collect::<String>()
    );
    let Ok(req) = http::Request::builder()
        .method("POST")
        .uri("/executors")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(())
    else {
        return String::new();
    };
    let (parts, ()) = req.into_parts();
    let request = direct_request(
        parts,
        body.into_bytes(),
        Some("203.0.113.99".parse().unwrap()),
    );
    let answer = dispatch(f, request).await;
    answer.cookies.first().cloned().unwrap_or_default()
}

/// Runs `cases` generated inputs from `seed`.
pub async fn run(cases: u64, seed: u64) -> Report {
    let tg = wiremock::MockServer::start().await;
    // Like the Bot API: a pressed button's answer is `true`, anything else a message.
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(|req: &wiremock::Request| {
            let result = if req.url.path().ends_with("/answerCallbackQuery") {
                json!(true)
            } else {
                json!({"message_id": 1, "date": 1, "chat": {"id": 1, "type": "private"}})
            };
            wiremock::ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "result": result}))
        })
        .mount(&tg)
        .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let clock: Arc<dyn zayavka::ports::Clock> = Arc::new(zayavka::ports::SystemClock);
    let embedded =
        zayavka::deps::Embedded::open(dir.path(), zayavka::queues::catalogue(), clock.clone())
            .expect("embedded store");
    let writes = Arc::new(Writes::default());
    let raw = Deps::embedded(&embedded, clock);
    let deps = Deps {
        table: Arc::new(counting::CountingTable(raw.table.clone(), writes.clone())),
        queue: Arc::new(counting::CountingQueue(raw.queue.clone(), writes.clone())),
        ..raw
    };
    let okdesk_api = format!("{}/api/v1", tg.uri());
    // An admin key: every route is fuzzed past its credential check.
    let admin_keys = format!("admin:{API_KEY}");
    let env: std::collections::HashMap<String, String> = [
        ("ZAYAVKA_API_KEYS", admin_keys.as_str()),
        ("MAIL_FROM", "fuzz@zayavka.test"),
        ("TELEGRAM_API_BASE", &tg.uri()),
        ("TELEGRAM_BOT_TOKEN", "1:ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
        ("TELEGRAM_SUPPORT_BOT_TOKEN", "2:ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
        ("TELEGRAM_SUPPORT_WEBHOOK_SECRET", TG_SECRET),
        ("TELEGRAM_MAIN_BOT_TOKEN", "3:ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
        ("TELEGRAM_MAIN_WEBHOOK_SECRET", TG_SECRET),
        ("TELEGRAM_ADMIN_CHAT_ID", "-100777"),
        ("TELEGRAM_SUPPORT_BOT_USERNAME", "fuzz_bot"),
        ("SUPPORT_USER_HASH_SECRET", "fuzz-hash-secret"),
        ("SUPPORT_ALLOWED_ORIGINS", "https://shop.example"),
        ("SUPPORT_RATE_LIMIT", "1000000000"),
        ("SUPPORT_GLOBAL_RATE_LIMIT", "1000000000"),
        ("OKDESK_API_URL", &okdesk_api),
        ("OKDESK_API_TOKEN", "okdesk-token"),
        ("OKDESK_TIMEOUT_SECS", "1"),
        ("OKDESK_WEBHOOK_TOKEN", OKDESK_HOOK),
        ("HELPDESK_ISSUES_PER_HOUR", "1000000"),
        ("TELEGRAM_STAFF_BOT_TOKEN", "4:ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
        ("TELEGRAM_STAFF_WEBHOOK_SECRET", TG_SECRET),
        ("TELEGRAM_STAFF_BOT_USERNAME", "fuzz_staff_bot"),
        ("TELEGRAM_BRIDGE_BOT_TOKEN", "5:ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
        ("TELEGRAM_BRIDGE_WEBHOOK_SECRET", TG_SECRET),
        ("BRIDGE_API_URL", "https://system.example/api/messages/"),
        (
            "BRIDGE_REPLY_TOKEN",
            "fuzz_bridge_reply_token_0123456789abcdef",
        ),
        ("BRIDGE_SIGNING_SECRET", BRIDGE_SIGNING),
        ("ZAYAVKA_PUBLIC_URL", "https://api.example"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let wiring = zayavka::deps::Wiring {
        deps,
        env: &env,
        queue_prefix: "zayavka-".into(),
    };
    let functions: Vec<Box<dyn HttpFunction>> = vec![
        Box::new(lead_submit::from_env(&wiring).expect("lead-submit")),
        Box::new(support_form::from_env(&wiring).expect("support-form")),
        Box::new(telegram_webhook::from_env(&wiring).expect("telegram-webhook")),
        Box::new(okdesk_webhook::from_env(&wiring).expect("okdesk-webhook")),
        Box::new(ticket_api::from_env(&wiring).expect("ticket-api")),
        Box::new(bridge_api::from_env(&wiring).expect("bridge-api")),
    ];
    // The page's forms go with a real sign-in's cookie.
    let session = sign_in(functions[4].as_ref(), API_KEY)
        .await
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    let mut targets = targets();
    for t in &mut targets {
        for (_, v) in &mut t.headers {
            if v == "SESSION" {
                *v = session.clone();
            }
        }
    }
    let mut vocabulary = BTreeSet::new();
    for t in &targets {
        t.seeds.iter().for_each(|s| keys_of(s, &mut vocabulary));
    }
    let vocabulary: Vec<String> = vocabulary.into_iter().collect();
    let mut rng = Rng(seed);
    let mut ids = 1_000_000_000i64;
    let mut report = Report::default();
    let started = Instant::now();
    for _ in 0..cases {
        let bytes = rng.bytes(512);
        let mut u = Unstructured::new(&bytes);
        let t = &targets[(rng.next() % targets.len() as u64) as usize];
        let mut input = t.seeds[(rng.next() % t.seeds.len() as u64) as usize].clone();
        let rounds = u.int_in_range(0..=4u8).unwrap_or(1);
        for _ in 0..rounds {
            if mutate(&mut input, &mut u, &vocabulary).is_err() {
                break;
            }
        }
        if t.path.starts_with("/telegram/") {
            fresh_ids(&mut input, &mut ids);
        }
        let mut path = t.path.to_string();
        if t.fuzz_path {
            let part: String = u.arbitrary::<String>().unwrap_or_default();
            let part: String = url::form_urlencoded::byte_serialize(part.as_bytes()).collect();
            path = path.replace("{}", if part.is_empty() { "x" } else { &part });
        }
        let mut body = match t.kind {
            BodyKind::Json => serde_json::to_vec(&input).unwrap_or_default(),
            BodyKind::Form => encode(&flat_pairs(&input)).into_bytes(),
            BodyKind::Query => {
                path = format!("{path}?{}", encode(&flat_pairs(&input)));
                Vec::new()
            }
        };
        // Now and then, damage the bytes themselves.
        if !body.is_empty() && rng.next().is_multiple_of(5) {
            for _ in 0..(1 + rng.next() % 4) {
                let at = (rng.next() % body.len() as u64) as usize;
                match rng.next() % 3 {
                    0 => body[at] = rng.next() as u8,
                    1 => body.insert(at, rng.next() as u8),
                    _ => {
                        body.remove(at);
                        if body.is_empty() {
                            break;
                        }
                    }
                }
            }
        }
        let mut builder = http::Request::builder().method(t.method).uri(&path);
        for (k, v) in t.headers.iter().filter(|(_, v)| v != MADE_SESSION) {
            builder = builder.header(*k, v);
        }
        // Headers with numbers from outside, written for each input from bytes of their own
        // (the body's generator may have used all of its). A bridge reply is proven by its
        // signature: most inputs are signed as they are sent, the rest carry odd ones.
        let now = zayavka::ports::Clock::now_secs(&zayavka::ports::SystemClock);
        let header_bytes = rng.bytes(64);
        let mut h = Unstructured::new(&header_bytes);
        let mut made = Vec::new();
        if t.path.starts_with("/bridge/reply/") {
            let signature = made_signature(&mut h, now, &body).unwrap_or_default();
            made.push((zayavka::signature::HEADER, signature));
        }
        if t.headers.iter().any(|(_, v)| v == MADE_SESSION) {
            made.push(("cookie", made_cookie(&mut h, now).unwrap_or_default()));
        }
        for (k, v) in &made {
            builder = builder.header(*k, v);
        }
        let Ok(req) = builder.body(()) else {
            continue;
        };
        let (parts, ()) = req.into_parts();
        let request = direct_request(parts, body.clone(), Some("203.0.113.99".parse().unwrap()));
        let before = writes.now();
        let f = functions[t.function].as_ref();
        let answer = std::panic::AssertUnwindSafe(dispatch(f, request))
            .catch_unwind()
            .await;
        report.cases += 1;
        *report.per_target.entry(t.name).or_default() += 1;
        // The made headers first: a failure may be theirs alone.
        let shown = || {
            let headers: String = made.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
            format!("{headers}{}", String::from_utf8_lossy(&body))
        };
        match answer {
            Err(_) => {
                report.panics += 1;
                report.failures.push(Failure {
                    target: t.name,
                    what: "panicked".into(),
                    input: shown(),
                });
            }
            Ok(a) => {
                *report.statuses.entry(a.status_code).or_default() += 1;
                let s = a.status_code;
                // 303: a page's form answered with the page to go to next.
                if !(200..300).contains(&s) && s != 303 && !(400..500).contains(&s) {
                    report.failures.push(Failure {
                        target: t.name,
                        what: format!("answered {s}: {}", a.body),
                        input: shown(),
                    });
                } else if (400..500).contains(&s) && s != 429 && writes.now() != before {
                    report.failures.push(Failure {
                        target: t.name,
                        what: format!("answered {s} but wrote {} times", writes.now() - before),
                        input: shown(),
                    });
                }
            }
        }
    }
    report.elapsed = started.elapsed();
    report
}
