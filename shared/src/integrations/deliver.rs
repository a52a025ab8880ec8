//! Making the call a job stands for: one method per integration, each with the request's
//! own credentials or the deployment's.

use super::pace::Paced;
use super::worker::JobRunner;
use super::{amocrm, bitrix24, email, telegram, webhook};
use crate::leads::{Integration, Job, Lead, Secret, Target};
use crate::outbound::DeliveryError;

impl JobRunner {
    /// Delivers the job; an error never carries one of its credentials, even when the
    /// service echoed it back (stored as `last_error`, shown by the lead API, logged).
    pub(super) async fn deliver(&self, job: &Job) -> Result<String, DeliveryError> {
        let result = self.deliver_raw(job).await;
        result.map_err(|e| {
            let mut secrets: Vec<&str> = self.cfg.defaults.secrets();
            secrets.extend(job.target.secrets());
            e.redact(&secrets)
        })
    }

    async fn deliver_raw(&self, job: &Job) -> Result<String, DeliveryError> {
        let lead = &job.lead;
        match &job.target {
            Target::Email {
                emails, subject, ..
            } => self.email(job, lead, emails, subject.as_deref()).await,
            Target::Amocrm {
                subdomain,
                access_token,
                pipeline_id,
                status_id,
                responsible_user_id,
                tags,
                unsorted,
            } => {
                let amo_lead = amocrm::AmoLead {
                    lead_id: &job.lead_id,
                    lead,
                    pipeline_id: *pipeline_id,
                    status_id: *status_id,
                    responsible_user_id: *responsible_user_id,
                    tags,
                    unsorted: unsorted.unwrap_or(self.cfg.amocrm_unsorted),
                };
                self.amocrm(subdomain.as_ref(), access_token, &amo_lead)
                    .await
            }
            Target::Telegram { bot_token, chat_id } => {
                self.telegram(job, lead, bot_token, chat_id).await
            }
            Target::Bitrix24 {
                webhook_url,
                source_id,
                assigned_by_id,
            } => {
                let url = given_or_configured(
                    webhook_url,
                    &self.cfg.defaults.bitrix24_webhook_url,
                    "the Bitrix24 webhook URL",
                )?;
                let calls = Paced::new(&self.open, self.pacer(Integration::Bitrix24));
                let portal = bitrix24::Portal {
                    calls: &calls,
                    webhook_url: &url,
                };
                portal
                    .send(lead, source_id.as_deref(), *assigned_by_id)
                    .await
            }
            Target::Webhook {
                url,
                secret,
                secret_next,
            } => {
                let secrets: Vec<&str> = [secret, secret_next]
                    .into_iter()
                    .flatten()
                    .map(Secret::expose)
                    .collect();
                self.webhook(job, url, &secrets).await
            }
        }
    }

    async fn email(
        &self,
        job: &Job,
        lead: &Lead,
        emails: &[String],
        subject: Option<&str>,
    ) -> Result<String, DeliveryError> {
        let from = self
            .cfg
            .defaults
            .mail_from
            .as_deref()
            .ok_or_else(|| missing("MAIL_FROM"))?;
        email::send(
            self.deps.mailer.as_ref(),
            from,
            emails,
            &job.lead_id,
            lead,
            subject,
        )
        .await
    }

    async fn amocrm(
        &self,
        subdomain: Option<&String>,
        access_token: &Option<Secret>,
        amo_lead: &amocrm::AmoLead<'_>,
    ) -> Result<String, DeliveryError> {
        // The deployment's token belongs to the deployment's account: a request naming
        // another subdomain must bring its own.
        let default_token = match subdomain {
            Some(sub) if self.cfg.defaults.amocrm_subdomain.as_ref() != Some(sub) => &None,
            _ => &self.cfg.defaults.amocrm_access_token,
        };
        let token = given_or_configured(access_token, default_token, "the amoCRM access token")?;
        // A configured AMOCRM_BASE_URL wins over the address made from the subdomain.
        let base = match (
            &self.cfg.amocrm_base_url,
            subdomain.or(self.cfg.defaults.amocrm_subdomain.as_ref()),
        ) {
            (Some(base), _) => base.clone(),
            (None, Some(sub)) => format!("https://{sub}.amocrm.ru"),
            (None, None) => return Err(missing("the amoCRM subdomain")),
        };
        let calls = Paced::new(&self.open, self.pacer(Integration::Amocrm));
        let account = amocrm::Account {
            calls: &calls,
            base_url: &base,
            access_token: &token,
        };
        account.send(amo_lead, self.deps.clock.now_secs()).await
    }

    async fn telegram(
        &self,
        job: &Job,
        lead: &Lead,
        bot_token: &Option<Secret>,
        chat_id: &str,
    ) -> Result<String, DeliveryError> {
        let token = given_or_configured(
            bot_token,
            &self.cfg.defaults.telegram_bot_token,
            "the Telegram bot token",
        )?;
        let html =
            crate::leads::notify::lead_telegram_html(&job.lead_id, lead, crate::texts::Lang::Ru);
        telegram::send_html(
            &self.http,
            &self.cfg.telegram_api_base,
            &token,
            chat_id,
            &html,
            &self.deps.metrics,
        )
        .await
    }

    async fn webhook(
        &self,
        job: &Job,
        url: &str,
        secrets: &[&str],
    ) -> Result<String, DeliveryError> {
        let payload = serde_json::json!({
            "event": webhook::EVENT,
            "lead_id": job.lead_id,
            "batch_id": job.batch_id,
            "lead": job.lead,
            "created_at": job.created_at,
        });
        // The same delivery id on every attempt (and the Standard Webhooks `webhook-id`,
        // which the specification keeps across retries), so the receiver can drop repeats.
        // A replay resends the same delivery: it keeps the first batch's id.
        let batch = job.first_batch.as_deref().unwrap_or(&job.batch_id);
        let delivery = format!("{batch}:{}", Integration::Webhook);
        webhook::send(
            &self.open,
            url,
            secrets,
            &delivery,
            self.deps.clock.now_secs(),
            &payload,
        )
        .await
    }
}

fn missing(what: &str) -> DeliveryError {
    DeliveryError::fatal(format!("{what} is neither in the request nor configured"))
}

/// The request's own credential, else the worker's configured default.
fn given_or_configured(
    given: &Option<Secret>,
    configured: &Option<Secret>,
    what: &str,
) -> Result<String, DeliveryError> {
    given
        .as_ref()
        .or(configured.as_ref())
        .map(|s| s.expose().to_string())
        .ok_or_else(|| missing(what))
}
