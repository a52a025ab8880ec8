//! One contact per customer: amoCRM and Bitrix24 find a repeat customer's contact (however
//! the phone was spelt) and attach the new lead to it, through `zayavka serve`, against
//! fakes that answer as the documented APIs do (`../shared/reference/external-apis.md`
//! §I, §J): amoCRM's search is loose and answers 204 when it finds nothing; Bitrix24's
//! `crm.duplicate.findbycomm` answers `[]` when it finds nothing; both may answer 429.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::leads::Stack;
use crate::support::{Kind, unique};

const TOKEN: &str = "amo-token-123";

/// A request as the fake saw it: method, path with query, and JSON body (null when none).
async fn seen(server: &MockServer) -> Vec<(String, String, Value)> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r: &Request| {
            let mut at = r.url.path().to_string();
            if let Some(q) = r.url.query() {
                at = format!("{at}?{q}");
            }
            let body = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            (r.method.to_string(), at, body)
        })
        .collect()
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// amoCRM's `GET /api/v4/contacts?query=`: a search over the name and every filled field
/// (digits of a phone match however it is spelt), one page of at most `limit`, and 204 with
/// no body when nothing matches.
async fn amo_contacts(server: &MockServer, contacts: Vec<Value>) {
    Mock::given(method("GET"))
        .and(path("/api/v4/contacts"))
        .respond_with(move |req: &Request| {
            let pairs: Vec<(String, String)> = req.url.query_pairs().into_owned().collect();
            let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            let query = get("query").unwrap_or_default().to_lowercase();
            let limit: usize = get("limit").and_then(|l| l.parse().ok()).unwrap_or(50);
            let only_digits = !query.is_empty() && query.chars().all(|c| c.is_ascii_digit());
            let hits: Vec<Value> = contacts
                .iter()
                .filter(|c| {
                    let mut texts = vec![c["name"].as_str().unwrap_or_default().to_lowercase()];
                    for f in c["custom_fields_values"].as_array().into_iter().flatten() {
                        for v in f["values"].as_array().into_iter().flatten() {
                            let v = v["value"].as_str().unwrap_or_default();
                            texts.push(v.to_lowercase());
                            if f["field_code"] == "PHONE" {
                                texts.push(digits(v));
                            }
                        }
                    }
                    !query.is_empty()
                        && texts
                            .iter()
                            .any(|t| t.contains(&query) || (only_digits && digits(t).contains(&query)))
                })
                .take(limit)
                .cloned()
                .collect();
            if hits.is_empty() {
                return ResponseTemplate::new(204);
            }
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/hal+json")
                .set_body_json(json!({
                    "_page": 1,
                    "_links": {"self": {"href": "https://acme.amocrm.ru/api/v4/contacts?page=1&limit=50"}},
                    "_embedded": {"contacts": hits}
                }))
        })
        .mount(server)
        .await;
}

async fn amo_creates(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/api/v4/leads/complex"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 9774766, "contact_id": 12117258, "company_id": null, "request_id": ["1"], "merged": false}
        ])))
        .mount(server)
        .await;
}

fn amo_contact(id: i64, name: &str, phone: &str, email: Option<&str>) -> Value {
    let mut fields = vec![json!({
        "field_id": 3, "field_name": "Телефон", "field_code": "PHONE", "field_type": "multitext",
        "values": [{"value": phone, "enum_id": 1, "enum_code": "WORK"}]
    })];
    if let Some(e) = email {
        fields.push(json!({
            "field_id": 5, "field_name": "Email", "field_code": "EMAIL", "field_type": "multitext",
            "values": [{"value": e, "enum_id": 2, "enum_code": "WORK"}]
        }));
    }
    json!({"id": id, "name": name, "custom_fields_values": fields})
}

fn amo_request(lead_id: &str, settings: Value) -> Value {
    json!({
        "lead_id": lead_id,
        "lead": {"name": "Глеб", "phone": "+7 999 000-11-22", "email": "Gleb@Example.com"},
        "integrations": [{"type": "amocrm", "settings": settings, "tries": 3}],
        "credentials": {"amocrm": {"subdomain": "acme", "access_token": TOKEN}}
    })
}

fn integration(lead: &Value) -> &Value {
    &lead["integrations"][0]
}

crate::both!(an_amocrm_repeat_customer_is_attached_to_the_existing_contact);
async fn an_amocrm_repeat_customer_is_attached_to_the_existing_contact(kind: Kind) {
    let stack = Stack::start(kind, &[], &[]).await;
    let amo = &stack.fakes.amo;
    amo_contacts(
        amo,
        vec![
            // The loose search finds this one by its name; its own phone is another.
            amo_contact(5, "Перезвонить 9990001122", "+7 999 111-22-33", None),
            // The customer, spelt differently last time.
            amo_contact(
                12117258,
                "Глеб",
                "8 (999) 0001122",
                Some("gleb@example.com"),
            ),
        ],
    )
    .await;
    amo_creates(amo).await;
    let lead_id = unique("lead-");
    let (status, body) = stack.submit(&amo_request(&lead_id, json!({})), None).await;
    assert_eq!(status, 202, "{body}");
    let lead = stack.settled(&lead_id, Duration::from_secs(30)).await;
    assert_eq!(lead["status"], "completed", "{lead:#}");
    assert_eq!(integration(&lead)["external_id"], "9774766");

    // One search by the phone's last ten digits (it found the customer, so no e-mail
    // search), then the lead linked to contact 12117258: no new contact anywhere.
    assert_eq!(
        seen(amo).await,
        vec![
            (
                "GET".into(),
                "/api/v4/contacts?query=9990001122&limit=50".into(),
                Value::Null
            ),
            (
                "POST".into(),
                "/api/v4/leads/complex".into(),
                json!([{
                    "name": "Заявка: Глеб",
                    "request_id": lead_id,
                    "_embedded": {"contacts": [{"id": 12117258}]}
                }])
            ),
        ]
    );
    stack.stop().await;
}

crate::both!(an_amocrm_new_customer_still_gets_a_contact);
async fn an_amocrm_new_customer_still_gets_a_contact(kind: Kind) {
    let stack = Stack::start(kind, &[], &[]).await;
    let amo = &stack.fakes.amo;
    amo_contacts(
        amo,
        vec![amo_contact(
            7,
            "Анна",
            "+7 912 345-67-89",
            Some("anna@example.com"),
        )],
    )
    .await;
    amo_creates(amo).await;
    let lead_id = unique("lead-");
    let (status, body) = stack
        .submit(&amo_request(&lead_id, json!({"pipeline_id": 7})), None)
        .await;
    assert_eq!(status, 202, "{body}");
    let lead = stack.settled(&lead_id, Duration::from_secs(30)).await;
    assert_eq!(lead["status"], "completed", "{lead:#}");
    // Nobody by phone, nobody by the e-mail (searched lower-cased): a new contact, with
    // the phone and e-mail as the customer wrote them.
    assert_eq!(
        seen(amo).await,
        vec![
            (
                "GET".into(),
                "/api/v4/contacts?query=9990001122&limit=50".into(),
                Value::Null
            ),
            (
                "GET".into(),
                "/api/v4/contacts?query=gleb%40example.com&limit=50".into(),
                Value::Null
            ),
            (
                "POST".into(),
                "/api/v4/leads/complex".into(),
                json!([{
                    "name": "Заявка: Глеб",
                    "pipeline_id": 7,
                    "request_id": lead_id,
                    "_embedded": {"contacts": [{
                        "name": "Глеб",
                        "custom_fields_values": [
                            {"field_code": "PHONE", "values": [{"value": "+7 999 000-11-22", "enum_code": "WORK"}]},
                            {"field_code": "EMAIL", "values": [{"value": "Gleb@Example.com", "enum_code": "WORK"}]}
                        ]
                    }]}
                }])
            ),
        ]
    );
    stack.stop().await;
}

crate::both!(the_amocrm_unsorted_option_posts_to_incoming_leads);
async fn the_amocrm_unsorted_option_posts_to_incoming_leads(kind: Kind) {
    let stack = Stack::start(kind, &[], &[]).await;
    let amo = &stack.fakes.amo;
    // The documented answer of POST /api/v4/leads/unsorted/forms.
    Mock::given(method("POST"))
        .and(path("/api/v4/leads/unsorted/forms"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "_total_items": 1,
            "_embedded": {"unsorted": [{
                "uid": "f03c796fb5455667e648dd0ec9755fc9680",
                "account_id": 28805383,
                "request_id": "0",
                "_embedded": {"leads": [{"id": 9774800}], "contacts": [{"id": 12117300}], "companies": []}
            }]}
        })))
        .mount(amo)
        .await;
    let lead_id = unique("lead-");
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (status, body) = stack
        .submit(
            &amo_request(
                &lead_id,
                json!({"unsorted": true, "pipeline_id": 7, "tags": ["сайт"]}),
            ),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let lead = stack.settled(&lead_id, Duration::from_secs(30)).await;
    assert_eq!(lead["status"], "completed", "{lead:#}");
    assert_eq!(integration(&lead)["external_id"], "9774800");
    let calls = seen(amo).await;
    assert_eq!(calls.len(), 1, "{calls:#?}");
    let (verb, at, sent) = &calls[0];
    assert_eq!(
        (verb.as_str(), at.as_str()),
        ("POST", "/api/v4/leads/unsorted/forms")
    );
    let sent_at = sent[0]["created_at"].as_i64().expect("created_at");
    assert!((before..before + 60).contains(&sent_at), "{sent_at}");
    assert_eq!(
        sent,
        &json!([{
            "source_uid": lead_id,
            "source_name": "zayavka",
            "created_at": sent_at,
            "pipeline_id": 7,
            "metadata": {
                "form_id": "zayavka",
                "form_name": "Заявка",
                "form_page": "zayavka",
                "form_sent_at": sent_at
            },
            "_embedded": {
                "leads": [{"name": "Заявка: Глеб", "_embedded": {"tags": [{"name": "сайт"}]}}],
                "contacts": [{
                    "name": "Глеб",
                    "custom_fields_values": [
                        {"field_code": "PHONE", "values": [{"value": "+7 999 000-11-22", "enum_code": "WORK"}]},
                        {"field_code": "EMAIL", "values": [{"value": "Gleb@Example.com", "enum_code": "WORK"}]}
                    ]
                }]
            }
        }])
    );
    stack.stop().await;
}

crate::both!(a_429_on_the_amocrm_lookup_is_waited_out_and_retried);
async fn a_429_on_the_amocrm_lookup_is_waited_out_and_retried(kind: Kind) {
    let stack = Stack::start(kind, &[], &[]).await;
    let amo = &stack.fakes.amo;
    Mock::given(method("GET"))
        .and(path("/api/v4/contacts"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "2")
                .insert_header("content-type", "application/problem+json")
                .set_body_json(json!({"title": "Too Many Requests", "status": 429})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(amo)
        .await;
    amo_contacts(
        amo,
        vec![amo_contact(12117258, "Глеб", "79990001122", None)],
    )
    .await;
    amo_creates(amo).await;
    let lead_id = unique("lead-");
    let started = Instant::now();
    let (status, body) = stack.submit(&amo_request(&lead_id, json!({})), None).await;
    assert_eq!(status, 202, "{body}");
    let lead = stack.settled(&lead_id, Duration::from_secs(30)).await;
    assert_eq!(lead["status"], "completed", "{lead:#}");
    assert_eq!(integration(&lead)["attempts"], 2, "{lead:#}");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After not waited: {:?}",
        started.elapsed()
    );
    let calls: Vec<(String, String)> = seen(amo)
        .await
        .into_iter()
        .map(|(m, at, _)| (m, at))
        .collect();
    let lookup = (
        "GET".to_string(),
        "/api/v4/contacts?query=9990001122&limit=50".to_string(),
    );
    let create = ("POST".to_string(), "/api/v4/leads/complex".to_string());
    assert_eq!(calls, vec![lookup.clone(), lookup, create]);
    stack.stop().await;
}

// Bitrix24.

const BITRIX_HOOK: &str = "/rest/1/abc";

/// `crm.duplicate.findbycomm`: phones compared by their digits, e-mails without case;
/// `{"CONTACT": [ids]}` oldest first, or `[]` when nothing matches.
async fn bitrix_duplicates(server: &MockServer, contacts: Vec<(i64, &'static str, &'static str)>) {
    Mock::given(method("POST"))
        .and(path(format!("{BITRIX_HOOK}/crm.duplicate.findbycomm.json")))
        .respond_with(move |req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let values: Vec<String> = body["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(String::from))
                .collect();
            if values.is_empty() || values.len() > 20 {
                return ResponseTemplate::new(400).set_body_json(
                    json!({"error": "ERROR_ARGUMENT", "error_description": "values"}),
                );
            }
            let mut ids: Vec<i64> = contacts
                .iter()
                .filter(|(_, phone, email)| match body["type"].as_str() {
                    Some("PHONE") => values.iter().any(|v| digits(v) == digits(phone)),
                    Some("EMAIL") => values.iter().any(|v| v.eq_ignore_ascii_case(email)),
                    _ => false,
                })
                .map(|(id, ..)| *id)
                .collect();
            ids.sort();
            let time = json!({"start": 1.0, "finish": 1.1, "duration": 0.1});
            let result = if ids.is_empty() || body["entity_type"] != "CONTACT" {
                json!([])
            } else {
                json!({"CONTACT": ids})
            };
            ResponseTemplate::new(200).set_body_json(json!({"result": result, "time": time}))
        })
        .mount(server)
        .await;
}

async fn bitrix_adds(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path(format!("{BITRIX_HOOK}/crm.lead.add.json")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "result": 77, "time": {"start": 1.0, "finish": 1.2, "duration": 0.2}
        })))
        .mount(server)
        .await;
}

fn bitrix_request(stack: &Stack, lead_id: &str, lead: Value) -> Value {
    json!({
        "lead_id": lead_id,
        "lead": lead,
        "integrations": [{"type": "bitrix24", "tries": 3}],
        "credentials": {"bitrix24": {"webhook_url": format!("{}{BITRIX_HOOK}/", stack.fakes.bitrix.uri())}}
    })
}

fn lead_add(fields: Value) -> (String, String, Value) {
    (
        "POST".into(),
        format!("{BITRIX_HOOK}/crm.lead.add.json"),
        json!({"fields": fields, "params": {"REGISTER_SONET_EVENT": "Y"}}),
    )
}

fn findbycomm(kind: &str, values: Value) -> (String, String, Value) {
    (
        "POST".into(),
        format!("{BITRIX_HOOK}/crm.duplicate.findbycomm.json"),
        json!({"entity_type": "CONTACT", "type": kind, "values": values}),
    )
}

crate::both!(a_bitrix24_repeat_customer_is_linked_to_the_existing_contact);
async fn a_bitrix24_repeat_customer_is_linked_to_the_existing_contact(kind: Kind) {
    let stack = Stack::start(kind, &[], &[]).await;
    let bx = &stack.fakes.bitrix;
    bitrix_duplicates(
        bx,
        vec![
            (42, "89990001122", "gleb@example.com"),
            (43, "+7 912 345-67-89", "anna@example.com"),
        ],
    )
    .await;
    bitrix_adds(bx).await;

    // By phone, spelt otherwise than the portal holds it.
    let first = unique("lead-");
    let lead = json!({"name": "Глеб", "phone": "+7 999 000-11-22"});
    let (status, body) = stack
        .submit(&bitrix_request(&stack, &first, lead), None)
        .await;
    assert_eq!(status, 202, "{body}");
    let settled = stack.settled(&first, Duration::from_secs(30)).await;
    assert_eq!(settled["status"], "completed", "{settled:#}");
    // By e-mail, in other case, when the phone is new.
    let second = unique("lead-");
    let lead = json!({"name": "Анна", "phone": "8 900 000 00 00", "email": " Anna@Example.COM"});
    let (status, body) = stack
        .submit(&bitrix_request(&stack, &second, lead), None)
        .await;
    assert_eq!(status, 202, "{body}");
    let settled = stack.settled(&second, Duration::from_secs(30)).await;
    assert_eq!(settled["status"], "completed", "{settled:#}");

    assert_eq!(
        seen(bx).await,
        vec![
            findbycomm("PHONE", json!(["+79990001122", "89990001122"])),
            lead_add(json!({
                "TITLE": "Заявка: Глеб",
                "SOURCE_ID": "WEB",
                "NAME": "Глеб",
                "PHONE": [{"VALUE": "+7 999 000-11-22", "VALUE_TYPE": "WORK"}],
                "CONTACT_ID": 42
            })),
            findbycomm("PHONE", json!(["+79000000000", "89000000000"])),
            findbycomm("EMAIL", json!(["anna@example.com"])),
            lead_add(json!({
                "TITLE": "Заявка: Анна",
                "SOURCE_ID": "WEB",
                "NAME": "Анна",
                "PHONE": [{"VALUE": "8 900 000 00 00", "VALUE_TYPE": "WORK"}],
                // As the customer wrote it: the lead keeps its own spelling.
                "EMAIL": [{"VALUE": " Anna@Example.COM", "VALUE_TYPE": "WORK"}],
                "CONTACT_ID": 43
            })),
        ]
    );
    stack.stop().await;
}

crate::both!(a_bitrix24_new_customer_gets_an_unlinked_lead);
async fn a_bitrix24_new_customer_gets_an_unlinked_lead(kind: Kind) {
    let stack = Stack::start(kind, &[], &[]).await;
    let bx = &stack.fakes.bitrix;
    bitrix_duplicates(bx, vec![(43, "+7 912 345-67-89", "anna@example.com")]).await;
    bitrix_adds(bx).await;
    let lead_id = unique("lead-");
    let lead = json!({"name": "Глеб", "phone": "+7 999 000-11-22", "email": "gleb@example.com"});
    let (status, body) = stack
        .submit(&bitrix_request(&stack, &lead_id, lead), None)
        .await;
    assert_eq!(status, 202, "{body}");
    let settled = stack.settled(&lead_id, Duration::from_secs(30)).await;
    assert_eq!(settled["status"], "completed", "{settled:#}");
    assert_eq!(
        seen(bx).await,
        vec![
            findbycomm("PHONE", json!(["+79990001122", "89990001122"])),
            findbycomm("EMAIL", json!(["gleb@example.com"])),
            lead_add(json!({
                "TITLE": "Заявка: Глеб",
                "SOURCE_ID": "WEB",
                "NAME": "Глеб",
                "PHONE": [{"VALUE": "+7 999 000-11-22", "VALUE_TYPE": "WORK"}],
                "EMAIL": [{"VALUE": "gleb@example.com", "VALUE_TYPE": "WORK"}]
            })),
        ]
    );
    stack.stop().await;
}

crate::both!(a_429_on_the_bitrix24_lookup_is_waited_out_and_retried);
async fn a_429_on_the_bitrix24_lookup_is_waited_out_and_retried(kind: Kind) {
    let stack = Stack::start(kind, &[], &[]).await;
    let bx = &stack.fakes.bitrix;
    // The method's run time is over its limit (b24-rest-docs limits.md).
    Mock::given(method("POST"))
        .and(path(format!("{BITRIX_HOOK}/crm.duplicate.findbycomm.json")))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "2")
                .set_body_json(json!({"error": "OPERATION_TIME_LIMIT", "error_description": "Method is blocked due to operation time limit."})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(bx)
        .await;
    bitrix_duplicates(bx, vec![(42, "+79990001122", "gleb@example.com")]).await;
    bitrix_adds(bx).await;
    let lead_id = unique("lead-");
    let started = Instant::now();
    let lead = json!({"name": "Глеб", "phone": "8 (999) 000-11-22"});
    let (status, body) = stack
        .submit(&bitrix_request(&stack, &lead_id, lead), None)
        .await;
    assert_eq!(status, 202, "{body}");
    let settled = stack.settled(&lead_id, Duration::from_secs(30)).await;
    assert_eq!(settled["status"], "completed", "{settled:#}");
    assert_eq!(integration(&settled)["attempts"], 2, "{settled:#}");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After not waited: {:?}",
        started.elapsed()
    );
    let lookup = findbycomm("PHONE", json!(["+79990001122", "89990001122"]));
    let calls = seen(bx).await;
    assert_eq!(calls.len(), 3, "{calls:#?}");
    assert_eq!(calls[0], lookup);
    assert_eq!(calls[1], lookup);
    assert_eq!(calls[2].2["fields"]["CONTACT_ID"], 42);
    stack.stop().await;
}
