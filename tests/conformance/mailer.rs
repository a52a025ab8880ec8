//! The mailer port: SES against moto (mail read back from moto's data dump), and the
//! outbox folder used locally.

use zayavka::adapters::{OutboxMailer, SesMailer};
use zayavka::deps::AwsClients;
use zayavka::ports::{Email, MailError, Mailer};

use crate::support::{moto_config, moto_url, unique};

fn email(from: &str) -> Email {
    Email {
        tags: Vec::new(),
        from: from.into(),
        to: vec!["admin@example.com".into(), "sales@example.com".into()],
        subject: "Новая заявка: Глеб".into(),
        text: "Name: Gleb\nPhone: +79990000000".into(),
        html: Some("<p>Name: <b>Gleb</b></p>".into()),
    }
}

#[tokio::test]
async fn ses_sends_to_every_recipient_and_moto_records_it() {
    let clients = AwsClients::new(&moto_config("unused", "")).await;
    let from = format!("{}@example.com", unique("sender"));
    clients
        .ses
        .verify_email_identity()
        .email_address(&from)
        .send()
        .await
        .expect("verify sender in moto");
    let mailer = SesMailer::new(clients.ses.clone(), None);
    let id = mailer.send(&email(&from)).await.unwrap();
    assert!(!id.is_empty());

    let dump: serde_json::Value = reqwest::get(format!("{}/moto-api/data.json", moto_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sent = dump["ses"]["Message"]
        .as_array()
        .expect("moto's SES messages")
        .iter()
        .find(|m| m["id"] == id.as_str())
        .unwrap_or_else(|| panic!("message {id} not in moto: {dump}"));
    assert_eq!(sent["source"], from.as_str());
    assert_eq!(sent["subject"], "Новая заявка: Глеб");
    assert_eq!(
        sent["destinations"]["ToAddresses"],
        serde_json::json!(["admin@example.com", "sales@example.com"])
    );
    assert_eq!(sent["body"], "<p>Name: <b>Gleb</b></p>");
}

#[tokio::test]
async fn ses_names_an_unverified_sender_clearly_and_for_good() {
    let clients = AwsClients::new(&moto_config("unused", "")).await;
    let mailer = SesMailer::new(clients.ses.clone(), None);
    let from = format!("{}@unverified.example", unique("nobody"));
    let err = mailer.send(&email(&from)).await.unwrap_err();
    assert!(matches!(err, MailError::Rejected(_)), "{err:?}");
    assert!(!err.is_retryable());
    let text = err.to_string();
    assert!(
        text.contains(&from) && text.contains("not verified"),
        "{text}"
    );
}

#[tokio::test]
async fn outbox_writes_a_complete_eml_file() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = OutboxMailer::new(dir.path().join("outbox"));
    let id = mailer.send(&email("noreply@example.com")).await.unwrap();
    let files: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].extension().unwrap(), "eml");
    let raw = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        raw.contains("From: <noreply@example.com>") || raw.contains("From: noreply@example.com"),
        "{raw}"
    );
    assert!(
        raw.contains("admin@example.com") && raw.contains("sales@example.com"),
        "{raw}"
    );
    assert!(raw.contains(&id), "{raw}");
    assert!(raw.contains("multipart/alternative"), "{raw}");
    assert!(
        raw.contains("text/plain") && raw.contains("text/html"),
        "{raw}"
    );
    assert!(raw.contains("Name: Gleb"), "{raw}");
    // The Cyrillic subject is an RFC 2047 encoded word, not raw bytes in a header.
    let subject = raw.lines().find(|l| l.starts_with("Subject:")).unwrap();
    assert!(subject.contains("=?utf-8?"), "{subject}");
}

#[tokio::test]
async fn a_message_without_recipients_is_refused_before_sending() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = OutboxMailer::new(dir.path());
    let mut e = email("noreply@example.com");
    e.to.clear();
    assert!(matches!(mailer.send(&e).await, Err(MailError::Invalid(_))));
    e.to = vec!["not an address".into()];
    assert!(matches!(mailer.send(&e).await, Err(MailError::Invalid(_))));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn ses_sends_through_the_configuration_set_with_the_messages_tags() {
    let clients = AwsClients::new(&moto_config("unused", "")).await;
    let from = format!("{}@example.com", unique("sender"));
    clients
        .ses
        .verify_email_identity()
        .email_address(&from)
        .send()
        .await
        .expect("verify sender in moto");
    let set = unique("mail-events-");
    clients
        .ses
        .create_configuration_set()
        .configuration_set(
            aws_sdk_ses::types::ConfigurationSet::builder()
                .name(&set)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create the configuration set in moto");
    let mailer = SesMailer::new(clients.ses.clone(), Some(set));
    let mut tagged = email(&from);
    tagged.tags = vec![("zayavka".into(), "support_reply".into())];
    assert!(!mailer.send(&tagged).await.unwrap().is_empty());
    // A tag SES would refuse is refused before the call, by every mailer alike.
    tagged.tags = vec![("zayavka".into(), "not allowed: spaces".into())];
    assert!(matches!(
        mailer.send(&tagged).await,
        Err(zayavka::ports::MailError::Invalid(_))
    ));
}
