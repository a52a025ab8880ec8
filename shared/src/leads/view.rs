//! What the lead API shows: a batch (the answer to a submission) and a lead's delivery
//! status (`GET /api/leads/{lead_id}`).

use serde::Serialize;

use super::model::*;
use super::store::LeadStore;
use crate::ports::table::StoreError;

/// What the API answers about a batch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchView {
    pub lead_id: String,
    pub batch_id: String,
    pub status: String,
    pub jobs: Vec<JobView>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobView {
    pub integration: Integration,
    pub status: String,
}

impl BatchView {
    /// The lead's batch as it stands.
    pub fn of(lead: &LeadRecord, batch: &BatchState) -> Self {
        Self {
            lead_id: lead.lead_id.clone(),
            batch_id: lead.batch_id.clone(),
            status: lead.status.clone(),
            jobs: lead
                .tries
                .keys()
                .filter_map(|name| Integration::parse(name))
                .map(|integration| JobView {
                    integration,
                    status: batch.job(integration).status,
                })
                .collect(),
        }
    }
}

/// Everything the API shows about one lead.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeadStatus {
    pub lead_id: String,
    pub batch_id: String,
    pub status: String,
    pub lead: Lead,
    pub created_at: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
    pub integrations: Vec<IntegrationStatus>,
    /// Each replay of its failed deliveries, oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replays: Vec<super::model::Replay>,
    /// The id of the API key that submitted it (see `api_keys::key_id`): who may read it.
    #[serde(skip)]
    pub submitted_by: Option<String>,
}

/// One job of the lead's current batch, without its delivery details.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntegrationStatus {
    pub integration: Integration,
    pub status: String,
    pub attempts: u32,
    pub tries: u32,
    pub last_error: Option<String>,
    pub external_id: Option<String>,
    pub created_at: String,
    pub updated_at: Option<String>,
    pub finished_at: Option<String>,
    /// While it waits for its next try after a failure: when that is due.
    pub next_attempt_at: Option<String>,
    /// Its last attempts (at most 20), oldest first.
    pub history: Vec<super::model::Attempt>,
    /// While its target's breaker is open and it waits without calling: the target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_on: Option<String>,
}

pub async fn lead_status(
    store: &LeadStore<'_>,
    lead_id: &str,
) -> Result<Option<LeadStatus>, StoreError> {
    let Some((lead, batches)) = store.lead_and_batches(lead_id).await? else {
        return Ok(None);
    };
    // Each integration as its latest batch has it: a replay's, for the ones it sent again.
    let order = lead.batches();
    let latest = |i: Integration| {
        order
            .iter()
            .rev()
            .filter_map(|b| batches.get(b))
            .find(|b| b.expected.iter().any(|e| e == i.as_str()))
            .map(|b| b.job(i))
            .unwrap_or_else(|| BatchState::default().job(i))
    };
    let integrations = lead
        .tries
        .iter()
        .filter_map(|(name, tries)| Some((Integration::parse(name)?, *tries)))
        .map(|(integration, tries)| {
            let job = latest(integration);
            IntegrationStatus {
                integration,
                finished_at: job.at.clone().filter(|_| job.is_final()),
                next_attempt_at: job.next_attempt_at.clone().filter(|_| !job.is_final()),
                history: job.history.clone(),
                waiting_on: job.waiting_on.clone().filter(|_| !job.is_final()),
                status: job.status,
                attempts: job.attempts,
                tries,
                last_error: job.error,
                external_id: job.external_id,
                created_at: lead.created_at.clone(),
                updated_at: job.at,
            }
        })
        .collect();
    Ok(Some(LeadStatus {
        lead_id: lead.lead_id,
        batch_id: lead.batch_id,
        status: lead.status,
        lead: lead.lead,
        created_at: lead.created_at,
        updated_at: lead.updated_at,
        finished_at: lead.finished_at,
        integrations,
        submitted_by: lead.submitted_by,
        replays: lead.replays,
    }))
}

impl LeadStatus {
    /// As JSON with every object's keys in order, as the API has always answered.
    pub fn to_json(&self) -> Result<serde_json::Value, StoreError> {
        serde_json::to_value(self)
            .map_err(|e| StoreError::Invalid(format!("cannot show the lead: {e}")))
    }
}
