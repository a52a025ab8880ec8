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
    /// A batch just stored: processing, every job pending.
    pub fn new_batch(lead_id: String, batch_id: String, jobs: &[(Target, u32)]) -> Self {
        Self {
            lead_id,
            batch_id,
            status: status::PROCESSING.into(),
            jobs: jobs
                .iter()
                .map(|(t, _)| JobView {
                    integration: t.integration(),
                    status: status::PENDING.into(),
                })
                .collect(),
        }
    }
}

/// The lead and its current batch, if any.
pub async fn batch_view(
    store: &LeadStore<'_>,
    lead_id: &str,
) -> Result<Option<BatchView>, StoreError> {
    let Some(lead) = store.lead(lead_id).await? else {
        return Ok(None);
    };
    let jobs = store.jobs(lead_id, &lead.batch_id).await?;
    Ok(Some(BatchView {
        lead_id: lead.lead_id,
        batch_id: lead.batch_id,
        status: lead.status,
        jobs: jobs
            .into_iter()
            .map(|j| JobView {
                integration: j.integration,
                status: j.status,
            })
            .collect(),
    }))
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
}

impl From<JobRecord> for IntegrationStatus {
    fn from(j: JobRecord) -> Self {
        Self {
            integration: j.integration,
            status: j.status,
            attempts: j.attempts,
            tries: j.tries,
            last_error: j.last_error,
            external_id: j.external_id,
            created_at: j.created_at,
            updated_at: j.updated_at,
            finished_at: j.finished_at,
        }
    }
}

pub async fn lead_status(
    store: &LeadStore<'_>,
    lead_id: &str,
) -> Result<Option<LeadStatus>, StoreError> {
    let Some(lead) = store.lead(lead_id).await? else {
        return Ok(None);
    };
    let batch = store.batch(lead_id, &lead.batch_id).await?;
    let jobs = store.jobs(lead_id, &lead.batch_id).await?;
    Ok(Some(LeadStatus {
        lead_id: lead.lead_id,
        batch_id: lead.batch_id,
        status: lead.status,
        lead: lead.lead,
        created_at: lead.created_at,
        updated_at: lead.updated_at,
        finished_at: batch.and_then(|b| b.finished_at),
        integrations: jobs.into_iter().map(IntegrationStatus::from).collect(),
    }))
}

impl LeadStatus {
    /// As JSON with every object's keys in order, as the API has always answered.
    pub fn to_json(&self) -> Result<serde_json::Value, StoreError> {
        serde_json::to_value(self)
            .map_err(|e| StoreError::Invalid(format!("cannot show the lead: {e}")))
    }
}
