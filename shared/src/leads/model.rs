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

/// A credential: stored with its job until the job finishes, never logged or returned.
pub use crate::secret::Secret;

/// Where one job delivers the lead. Credentials left out of the request are `None` here and
/// come from the worker's own configuration, so defaults are never copied into the table.
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
    },
}

impl Target {
    /// The credentials this target carries, to keep out of error texts.
    pub fn secrets(&self) -> Vec<&str> {
        let given = match self {
            Target::Amocrm { access_token, .. } => access_token.as_ref(),
            Target::Telegram { bot_token, .. } => bot_token.as_ref(),
            Target::Bitrix24 { webhook_url, .. } => webhook_url.as_ref(),
            Target::Webhook { secret, .. } => secret.as_ref(),
            Target::Email { .. } => None,
        };
        given
            .map(|s| crate::credentials::secret_parts(s.expose()))
            .unwrap_or_default()
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
    pub const RUNNING: &str = "running";
    pub const RETRYING: &str = "retrying";
    pub const SUCCEEDED: &str = "succeeded";
    pub const FAILED: &str = "failed";

    pub const PROCESSING: &str = "processing";
    pub const COMPLETED: &str = "completed";
    pub const PARTIAL: &str = "partial";
}

/// `lead#<id>` / `meta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadRecord {
    pub lead_id: String,
    pub batch_id: String,
    pub status: String,
    pub lead: Lead,
    pub created_at: String,
    pub updated_at: String,
}

/// `lead#<id>` / `batch#<batch>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchRecord {
    pub lead_id: String,
    pub batch_id: String,
    pub status: String,
    pub expected: Vec<String>,
    #[serde(default)]
    pub succeeded: Vec<String>,
    #[serde(default)]
    pub failed: Vec<String>,
    pub created_at: String,
    #[serde(default)]
    pub dispatched_at: Option<String>,
    #[serde(default)]
    pub finished_at: Option<String>,
}

/// `lead#<id>` / `job#<batch>#<integration>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub lead_id: String,
    pub batch_id: String,
    pub integration: Integration,
    pub status: String,
    pub tries: u32,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    pub created_at: String,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub finished_at: Option<String>,
    /// Unix ms until which the worker that claimed it owns it.
    #[serde(default)]
    pub lease_until: Option<i64>,
    /// Present until the job finishes; holds the request's credentials.
    #[serde(default)]
    pub target: Option<Target>,
    #[serde(default)]
    pub lead: Option<Lead>,
}

impl JobRecord {
    /// The job's reference, as queued.
    pub fn job_ref(&self) -> JobRef {
        JobRef {
            lead_id: self.lead_id.clone(),
            batch_id: self.batch_id.clone(),
            integration: self.integration,
        }
    }
}

/// The message on an integration queue: only a reference, the rest is in the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRef {
    pub lead_id: String,
    pub batch_id: String,
    pub integration: Integration,
}

impl JobRef {
    /// The job's outcome, for the batch tracker.
    pub fn outcome(&self, succeeded: bool, error: Option<String>) -> Outcome {
        Outcome {
            lead_id: self.lead_id.clone(),
            batch_id: self.batch_id.clone(),
            integration: self.integration,
            succeeded,
            error,
        }
    }
}

/// What the batch tracker receives on `batch-results`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub lead_id: String,
    pub batch_id: String,
    pub integration: Integration,
    pub succeeded: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
