//! Every sample in events/ is replayed through its function's handler, exactly as Lambda
//! would deliver it, and what comes back is checked.

use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use zayavka::deps::Deps;
use zayavka::http::dispatch;

use crate::support::embedded;

fn events_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("events")
}

/// What each sample must produce: (function, file, status, a JSON field that must match).
const EXPECTED: &[(&str, &str, u16, (&str, &str))] = &[
    (
        "lead-submit",
        "health.json",
        200,
        ("function", "lead-submit"),
    ),
    (
        "support-form",
        "health.json",
        200,
        ("function", "support-form"),
    ),
    (
        "telegram-webhook",
        "health.json",
        200,
        ("function", "telegram-webhook"),
    ),
    (
        "okdesk-webhook",
        "health.json",
        200,
        ("function", "okdesk-webhook"),
    ),
];

#[tokio::test]
async fn every_sample_event_replays_through_its_handler() {
    let store = embedded(zayavka::queues::catalogue());
    let deps = Deps::embedded(&store.parts, Arc::new(zayavka::ports::SystemClock));
    let registry =
        zayavka_cli::serve::functions(&deps, &crate::support::test_env(&[]), "zayavka-").unwrap();
    let mut replayed = 0;
    for f in &registry.http {
        let dir = events_dir().join(f.name());
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|_| panic!("events/{} is missing", f.name()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "events/{} has no sample", f.name());
        for file in files {
            let file_name = file.file_name().unwrap().to_string_lossy().into_owned();
            let (_, _, status, (field, value)) = EXPECTED
                .iter()
                .find(|(func, name, _, _)| *func == f.name() && *name == file_name)
                .unwrap_or_else(|| panic!("no expectation for events/{}/{file_name}", f.name()));
            let raw = std::fs::read_to_string(&file).unwrap();
            let event: ApiGatewayV2httpRequest = serde_json::from_str(&raw)
                .unwrap_or_else(|e| panic!("{}: not an API Gateway v2 event: {e}", file.display()));
            let response = dispatch(f.as_ref(), event).await;
            assert_eq!(
                response.status_code,
                *status,
                "{}: {}",
                file.display(),
                response.body
            );
            let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
            assert_eq!(body[field], *value, "{}", file.display());
            replayed += 1;
        }
    }
    assert_eq!(
        replayed,
        EXPECTED.len(),
        "every expectation has its sample file"
    );
}
