//! The Okdesk client against a fake Okdesk: the requests it sends (token, query, bodies) and
//! what each kind of answer becomes.

use std::time::Duration;

use serde_json::json;
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};
use zayavka::helpdesk::okdesk::{Okdesk, OkdeskError};

const TOKEN: &str = "okdesk-token-1";

async fn okdesk() -> (MockServer, Okdesk) {
    let server = MockServer::start().await;
    let client = Okdesk::new(
        &format!("{}/api/v1", server.uri()),
        TOKEN,
        Duration::from_millis(500),
    )
    .unwrap();
    (server, client)
}

#[tokio::test]
async fn a_contact_is_found_under_any_usual_spelling_of_the_phone() {
    let (server, ok) = okdesk().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/contacts/"))
        .and(query_param("api_token", TOKEN))
        .and(query_param("phone", "89990001122"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"id": 55, "name": "Глеб Титов", "phone": "89990001122", "company_id": 7}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&server)
        .await;
    let c = ok
        .find_contact_by_phone("+79990001122")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((c.id, c.company_id), (55, Some(7)));
    let tried: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "phone")
                .unwrap()
                .1
                .into_owned()
        })
        .collect();
    assert_eq!(
        tried,
        vec!["+79990001122", "79990001122", "89990001122"],
        "stops at the first hit"
    );
    assert_eq!(
        ok.find_contact_by_phone("+79990009999").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn issues_and_comments_are_created_with_the_documented_bodies() {
    let (server, ok) = okdesk().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/issues/"))
        .and(query_param("api_token", TOKEN))
        .and(body_json(json!({"issue": {"title": "Не работает принтер", "description": "Не работает принтер. Срочно!", "contact_id": 55, "company_id": 7}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1042})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/issues/1042/comments"))
        .and(body_json(json!({"comment": {"content": "Бумага &lt;A4&gt;<br>есть", "author_id": 55, "author_type": "contact", "public": true}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 9})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/issues/count"))
        .and(query_param("contact_ids[]", "55"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([1042, 1001])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/issues/1042"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1042, "title": "Не работает принтер", "status": {"code": "in_progress", "name": "В работе"}})))
        .mount(&server)
        .await;
    let id = ok
        .create_issue(
            "Не работает принтер",
            "Не работает принтер. Срочно!",
            55,
            Some(7),
        )
        .await
        .unwrap();
    assert_eq!(id, 1042);
    ok.add_comment(1042, 55, "Бумага <A4>\nесть").await.unwrap();
    assert_eq!(ok.contact_issue_ids(55).await.unwrap(), vec![1042, 1001]);
    let issue = ok.issue(1042).await.unwrap().unwrap();
    assert_eq!(issue.status.name, "В работе");
    assert_eq!(
        ok.issue(1).await.unwrap(),
        None,
        "unknown issue: 404 becomes None"
    );
}

#[tokio::test]
async fn a_company_is_found_by_its_inn_attribute_or_by_search() {
    let (server, ok) = okdesk().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/companies/list"))
        .and(query_param("custom_parameters[inn]", "7707083893"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([{"id": 7, "name": "ПАО Сбербанк"}])),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/companies/"))
        .and(query_param("search_string", "7736207543"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": 8, "name": "ООО Яндекс"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    assert_eq!(
        ok.find_company_by_inn("7707083893", Some("inn"))
            .await
            .unwrap()
            .unwrap()
            .id,
        7
    );
    assert_eq!(
        ok.find_company_by_inn("7736207543", Some("inn"))
            .await
            .unwrap()
            .unwrap()
            .id,
        8,
        "falls back to search"
    );
    assert_eq!(
        ok.find_company_by_inn("500100732259", None).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn failures_say_whether_to_retry_and_never_show_the_token() {
    let (server, ok) = okdesk().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/issues/"))
        .respond_with(
            ResponseTemplate::new(422)
                .set_body_json(json!({"errors": {"title": ["не может быть пустым"]}})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/issues/1"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"errors": "Unauthorized"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/issues/2"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/issues/3"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    match ok.create_issue("", "x", 1, None).await.unwrap_err() {
        OkdeskError::Refused { status, errors } => {
            assert_eq!(status, 422);
            assert!(errors.contains("не может быть пустым"), "{errors}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        ok.issue(1).await.unwrap_err(),
        OkdeskError::TokenRejected(401)
    );
    let e = ok.issue(2).await.unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
    let timeout = ok.issue(3).await.unwrap_err();
    assert!(timeout.is_retryable(), "{timeout:?}");
    assert!(!timeout.to_string().contains(TOKEN), "{timeout}");
    assert!(!format!("{ok:?}").contains(TOKEN));
}
