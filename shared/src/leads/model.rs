//! What a lead, its batch and its jobs look like, in requests and in the table (where they
//! are kept is [`super::store`]'s business).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The lead as the website sent it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lead {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub utm: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, serde_json::Value>,
}

impl Lead {
    /// A name to show: the name, else the phone, else the e-mail.
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .or_else(|| self.phone.clone())
            .or_else(|| self.email.clone())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Integration {
    Email,
    Amocrm,
    Telegram,
    Bitrix24,
    Webhook,
}

impl Integration {
    pub const ALL: [Integration; 5] = [
        Integration::Email,
        Integration::Amocrm,
        Integration::Telegram,
        Integration::Bitrix24,
        Integration::Webhook,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Integration::Email => "email",
            Integration::Amocrm => "amocrm",
            Integration::Telegram => "telegram",
            Integration::Bitrix24 => "bitrix24",
            Integration::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.as_str() == s)
    }

    /// The queue its jobs go to.
    pub fn queue(self) -> &'static str {
        match self {
            Integration::Email => crate::queues::INTEGRATION_EMAIL,
            Integration::Amocrm => crate::queues::INTEGRATION_AMOCRM,
            Integration::Telegram => crate::queues::INTEGRATION_TELEGRAM,
            Integration::Bitrix24 => crate::queues::INTEGRATION_BITRIX24,
            Integration::Webhook => crate::queues::INTEGRATION_WEBHOOK,
        }
    }
}

impl fmt::Display for Integration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A credential: carried in its job's queue message, never stored, logged or returned.
pub use crate::secret::Secret;

/// Where one job delivers the lead. Credentials left out of the request are `None` here and
/// come from the worker's own configuration, so defaults are copied nowhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Target {
    Email {
        emails: Vec<String>,
        template: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
    },
    Amocrm {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subdomain: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        access_token: Option<Secret>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pipeline_id: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status_id: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        responsible_user_id: Option<i64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tags: Vec<String>,
        /// To «Неразобранное» (`settings.unsorted`); absent: the deployment's
        /// `AMOCRM_UNSORTED`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unsorted: Option<bool>,
    },
    Telegram {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bot_token: Option<Secret>,
        chat_id: String,
    },
    Bitrix24 {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        webhook_url: Option<Secret>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        assigned_by_id: Option<i64>,
    },
    Webhook {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<Secret>,
        /// `credentials.secret_next`: the secret being rotated in; it signs the Standard
        /// Webhooks headers beside `secret`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret_next: Option<Secret>,
    },
}

impl Target {
    /// The credentials this target carries, to keep out of error texts.
    pub fn secrets(&self) -> Vec<&str> {
        let given = match self {
            Target::Amocrm { access_token, .. } => vec![access_token.as_ref()],
            Target::Telegram { bot_token, .. } => vec![bot_token.as_ref()],
            Target::Bitrix24 { webhook_url, .. } => vec![webhook_url.as_ref()],
            Target::Webhook {
                secret,
                secret_next,
                ..
            } => vec![secret.as_ref(), secret_next.as_ref()],
            Target::Email { .. } => vec![],
        };
        given
            .into_iter()
            .flatten()
            .flat_map(|s| crate::credentials::secret_parts(s.expose()))
            .collect()
    }

    /// The target with its credentials left out, and whether it had any: what may be
    /// stored to queue its job again.
    pub fn without_secrets(&self) -> (Target, bool) {
        let mut t = self.clone();
        let had = match &mut t {
            Target::Amocrm { access_token, .. } => access_token.take().is_some(),
            Target::Telegram { bot_token, .. } => bot_token.take().is_some(),
            Target::Bitrix24 { webhook_url, .. } => webhook_url.take().is_some(),
            Target::Webhook {
                secret,
                secret_next,
                ..
            } => secret.take().is_some() | secret_next.take().is_some(),
            Target::Email { .. } => false,
        };
        (t, had)
    }

    pub fn integration(&self) -> Integration {
        match self {
            Target::Email { .. } => Integration::Email,
            Target::Amocrm { .. } => Integration::Amocrm,
            Target::Telegram { .. } => Integration::Telegram,
            Target::Bitrix24 { .. } => Integration::Bitrix24,
            Target::Webhook { .. } => Integration::Webhook,
        }
    }
}

pub mod status {
    pub const PENDING: &str = "pending";
    pub const RETRYING: &str = "retrying";
    /// Not called: its target's breaker is open, and it waits for the target to come back.
    pub const WAITING: &str = "waiting";
    pub const SUCCEEDED: &str = "succeeded";
    pub const FAILED: &str = "failed";

    pub const PROCESSING: &str = "processing";
    pub const COMPLETED: &str = "completed";
    pub const PARTIAL: &str = "partial";
}

/// `lead#<id>` / `meta`: the lead as submitted, its batch, the tries of each job and the
/// batch's status. Written when the lead comes in and once more when its batch settles; the
/// jobs' progress lives in the small [`BatchState`] item, so their writes stay one unit each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadRecord {
    pub lead_id: String,
    pub batch_id: String,
    pub status: String,
    pub lead: Lead,
    /// Per integration (by name), the tries its job may make.
    #[serde(default)]
    pub tries: BTreeMap<String, u32>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The id of the API key that submitted it (`api_keys::key_id`, never the key): a
    /// `leads` key reads only its own leads. None on leads stored before keys had scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_by: Option<String>,
    /// Each replay of its failed deliveries, oldest first: the batch it opened.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replays: Vec<Replay>,
}

/// A batch that settled with failures, as the day's index keeps it (see
/// [`crate::keys::lead_failed`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub lead_id: String,
    pub batch_id: String,
    pub status: String,
    pub failed: Vec<String>,
    pub finished_at: String,
    /// Unix seconds when the note may go.
    pub ttl: i64,
}

/// One replay of a lead's failed deliveries: a new batch of just those, which the lead's
/// `batch_id` then names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replay {
    pub batch_id: String,
    /// The batch whose failures it sends again.
    pub from_batch: String,
    pub integrations: Vec<String>,
    pub at: String,
    /// The id of the API key that asked (`api_keys::key_id`), or who else did (`telegram`,
    /// `cli`).
    pub by: String,
}

impl LeadRecord {
    /// The lead's batches, oldest first: the one it came in with, then each replay's.
    pub fn batches(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .replays
            .first()
            .map(|r| vec![r.from_batch.clone()])
            .unwrap_or_default();
        all.extend(self.replays.iter().map(|r| r.batch_id.clone()));
        if all.is_empty() {
            all.push(self.batch_id.clone());
        }
        all
    }

    /// A lead just taken in: open, with the tries of each of its jobs. It is on no index:
    /// every job ends reported or dead-lettered, and the sweeper looks at the dead-letter
    /// queues, not at open leads.
    pub fn opened(
        lead_id: String,
        batch_id: String,
        sub: &super::request::Submission,
        at: String,
        submitted_by: Option<String>,
    ) -> Self {
        Self {
            lead_id,
            batch_id,
            status: status::PROCESSING.into(),
            lead: sub.lead.clone(),
            tries: sub
                .jobs
                .iter()
                .map(|(t, tries)| (t.integration().to_string(), *tries))
                .collect(),
            created_at: at.clone(),
            updated_at: at,
            finished_at: None,
            submitted_by,
            replays: Vec::new(),
        }
    }

    /// The integrations the batch waits for, by name.
    pub fn expected(&self) -> Vec<String> {
        self.tries.keys().cloned().collect()
    }
}

/// One job's progress, as the batch item holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobState {
    pub status: String,
    pub attempts: u32,
    pub error: Option<String>,
    pub external_id: Option<String>,
    /// When it last changed.
    pub at: Option<String>,
    /// While it waits for its next try: when that is due.
    pub next_attempt_at: Option<String>,
    /// Its last [`Attempt::KEPT`] attempts, oldest first.
    pub history: Vec<Attempt>,
    /// The receive of its message its last write was made on, and the receives before that
    /// which ended without a write (see [`Mark`]).
    pub receives: u32,
    pub lost: u32,
    /// While it waits on an open breaker: the target's name.
    pub waiting_on: Option<String>,
    /// A failed job whose message is kept for replay: the receipt handle of its latest
    /// receive, and until when (Unix ms) it is kept.
    pub kept: Option<(String, i64)>,
    /// The replay batch this failed job was sent again in.
    pub replayed_in: Option<String>,
}

/// One attempt of a job: when its answer came, what it meant (`succeeded`, `retrying`,
/// `failed`), the service's HTTP status when it refused (none when no answer came: a
/// timeout, a refused connection), how long it took, and a short error (bounded and
/// redacted, as every error we keep).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub number: u32,
    pub at: String,
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    pub latency_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Attempt {
    /// Attempts kept per job: the newest replace the oldest.
    pub const KEPT: u32 = 20;
    /// An attempt's error is shorter than the job's last error: twenty of them share the
    /// batch item, which every attempt writes.
    pub const ERROR_CHARS: usize = 120;
}

impl JobState {
    pub fn is_final(&self) -> bool {
        self.status == status::SUCCEEDED || self.status == status::FAILED
    }
}

/// `lead#<id>` / `batch#<batch>`: the outcome sets the batch settles on, and each job's
/// progress. Made by the first job that reports; absent until then.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchState {
    pub expected: Vec<String>,
    pub succeeded: Vec<String>,
    pub failed: Vec<String>,
    pub jobs: BTreeMap<String, JobState>,
    /// A replay's batch: how the lead's other integrations ended in the batches before, so
    /// the lead settles on all of them.
    pub carried_succeeded: Vec<String>,
    pub carried_failed: Vec<String>,
}

impl BatchState {
    /// Every expected integration is in one of the sets.
    pub fn complete(&self) -> bool {
        !self.expected.is_empty()
            && self
                .expected
                .iter()
                .all(|i| self.succeeded.contains(i) || self.failed.contains(i))
    }

    pub fn reported(&self, integration: Integration) -> bool {
        let i = integration.as_str();
        self.succeeded.iter().any(|s| s == i) || self.failed.iter().any(|s| s == i)
    }

    pub fn job(&self, integration: Integration) -> JobState {
        self.jobs
            .get(integration.as_str())
            .cloned()
            .unwrap_or_else(|| JobState {
                status: status::PENDING.into(),
                ..JobState::default()
            })
    }
}

/// A job's identity: which lead, batch and integration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRef {
    pub lead_id: String,
    pub batch_id: String,
    pub integration: Integration,
}

/// The message on an integration queue: the whole job. The queue is encrypted at rest, so
/// the request's credentials never enter the table; the message leaves the queue when the
/// job is done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub lead_id: String,
    pub batch_id: String,
    pub tries: u32,
    pub created_at: String,
    /// Every integration of the batch, so the first job to report can make its item.
    pub expected: Vec<String>,
    pub lead: Lead,
    pub target: Target,
    /// Queued again by a repeated request: read the batch fresh before calling.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub again: bool,
    /// A replay's job: the batch the lead came in with, whose delivery id (a webhook's
    /// `webhook-id`) a resend keeps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_batch: Option<String>,
}

impl Job {
    pub fn integration(&self) -> Integration {
        self.target.integration()
    }

    pub fn job_ref(&self) -> JobRef {
        JobRef {
            lead_id: self.lead_id.clone(),
            batch_id: self.batch_id.clone(),
            integration: self.integration(),
        }
    }

    /// Its FIFO group (a batch's jobs never wait for another batch's) and de-duplication id
    /// (the same job queued twice within five minutes is dropped by the queue itself).
    pub fn group_and_dedup(&self) -> (String, String) {
        (
            self.batch_id.clone(),
            format!("{}:{}", self.batch_id, self.integration()),
        )
    }
}

/// What the batch tracker receives on `batch-results`: a batch whose every job reported,
/// sent once by the job whose report completed it (again on a redelivery).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settle {
    pub lead_id: String,
    pub batch_id: String,
    #[serde(default)]
    pub lead_name: String,
    pub succeeded: Vec<String>,
    pub failed: Vec<String>,
    #[serde(default)]
    pub errors: BTreeMap<String, String>,
}

impl Settle {
    pub fn of(lead_id: &str, batch_id: &str, lead_name: String, batch: &BatchState) -> Self {
        let mut succeeded = batch.succeeded.clone();
        succeeded.extend(batch.carried_succeeded.iter().cloned());
        let mut failed = batch.failed.clone();
        failed.extend(batch.carried_failed.iter().cloned());
        // DynamoDB returns set members in no particular order; admins read a stable list.
        succeeded.sort();
        failed.sort();
        let errors = failed
            .iter()
            .map(|i| {
                let why = batch.jobs.get(i).and_then(|j| j.error.clone());
                (i.clone(), why.unwrap_or_default())
            })
            .collect();
        Self {
            lead_id: lead_id.into(),
            batch_id: batch_id.into(),
            lead_name,
            succeeded,
            failed,
            errors,
        }
    }
}
