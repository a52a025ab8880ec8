//! The mailer on SES (v1 SendEmail: text and HTML parts, UTF-8).

use async_trait::async_trait;
use aws_sdk_ses::Client;
use aws_sdk_ses::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_ses::types::{Body, Content, Destination, Message, MessageTag};

use super::aws::is_retryable_code;
use crate::ports::mailer::{Email, MailError, Mailer};

#[derive(Clone)]
pub struct SesMailer {
    client: Client,
    /// `SES_CONFIGURATION_SET`: publishes each message's bounces and complaints (to the
    /// notifications queue, in the template).
    configuration_set: Option<String>,
}

impl SesMailer {
    pub fn new(client: Client, configuration_set: Option<String>) -> Self {
        Self {
            client,
            configuration_set,
        }
    }
}

impl SesMailer {
    /// The message's tags, when a configuration set will publish its events (without one
    /// they would go nowhere).
    fn tags(&self, email: &Email) -> Result<Option<Vec<MessageTag>>, MailError> {
        if self.configuration_set.is_none() || email.tags.is_empty() {
            return Ok(None);
        }
        email
            .tags
            .iter()
            .map(|(k, v)| {
                MessageTag::builder()
                    .name(k)
                    .value(v)
                    .build()
                    .map_err(|e| MailError::Invalid(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

fn content(text: &str) -> Result<Content, MailError> {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .map_err(|e| MailError::Invalid(e.to_string()))
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        email.validate()?;
        let mut body = Body::builder().text(content(&email.text)?);
        if let Some(html) = &email.html {
            body = body.html(content(html)?);
        }
        let message = Message::builder()
            .subject(content(&email.subject)?)
            .body(body.build())
            .build();
        let result = self
            .client
            .send_email()
            .source(&email.from)
            .destination(
                Destination::builder()
                    .set_to_addresses(Some(email.to.clone()))
                    .build(),
            )
            .message(message)
            .set_configuration_set_name(self.configuration_set.clone())
            .set_tags(self.tags(email)?)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.message_id),
            Err(err) => {
                let code = err.code().unwrap_or_default().to_string();
                let message = err.message().unwrap_or_default().to_string();
                Err(match code.as_str() {
                    "MessageRejected" if message.contains("not verified") => {
                        MailError::Rejected(format!(
                            "SES refused the sender {}: the address is not verified in SES \
                             ({message}); verify it or its domain in the SES console",
                            email.from
                        ))
                    }
                    "MessageRejected"
                    | "MailFromDomainNotVerifiedException"
                    | "ConfigurationSetDoesNotExistException"
                    | "AccountSendingPausedException"
                    | "ConfigurationSetSendingPausedException" => {
                        MailError::Rejected(format!("SES {code}: {message}"))
                    }
                    c if is_retryable_code(c) => {
                        MailError::Unavailable(format!("SES {c}: {message}"))
                    }
                    "" => MailError::Unavailable(format!("SES: {}", DisplayErrorContext(&err))),
                    c => MailError::Rejected(format!("SES {c}: {message}")),
                })
            }
        }
    }
}
