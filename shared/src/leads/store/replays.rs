//! A replay's writes on a lead's items, and the index of the batches that settled with
//! failures, by day.

use std::collections::BTreeMap;

use super::{LeadStore, batch_key, batch_state, field, lead_key, sk_of};
use crate::keys;
use crate::leads::model::*;
use crate::ports::table::{
    AttributeValue, Cond, Item, Query, StoreError, Update, from_item, to_item,
};

impl LeadStore<'_> {
    // --- Replays -----------------------------------------------------------------------------

    /// Makes a replay's batch item: the integrations it sends again, and how the others
    /// ended before. False: it exists (this replay was begun before).
    pub async fn open_replay(
        &self,
        lead_id: &str,
        batch_id: &str,
        expected: &[String],
        carried: (&[String], &[String]),
    ) -> Result<bool, StoreError> {
        let mut item = Item::new();
        item.insert(
            crate::ports::table::PK.into(),
            AttributeValue::S(keys::lead_pk(lead_id)),
        );
        item.insert(
            crate::ports::table::SK.into(),
            AttributeValue::S(batch_key(lead_id, batch_id).sk),
        );
        for (attr, set) in [
            ("expected", expected),
            ("carried_succeeded", carried.0),
            ("carried_failed", carried.1),
        ] {
            if !set.is_empty() {
                item.insert(attr.into(), AttributeValue::Ss(set.to_vec()));
            }
        }
        match self.table.put(item, Some(Cond::item_absent())).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Notes on a batch that its failed `integrations` go again in `replay`: a kept message
    /// of one of them, woken, runs as the replay's job.
    pub async fn mark_replayed(
        &self,
        lead_id: &str,
        batch_id: &str,
        integrations: &[String],
        replay: &str,
    ) -> Result<(), StoreError> {
        let mut update = Update::new().when(Cond::item_exists());
        for i in integrations {
            update = update.set(&field(i, "replay"), replay);
        }
        self.table
            .update(&batch_key(lead_id, batch_id), update)
            .await
            .map(|_| ())
    }

    /// Points the settled lead at its replay's batch and makes it `processing` again.
    /// False: it is not settled on `from_batch` any more (another replay came first).
    pub async fn switch_to_replay(
        &self,
        lead: &LeadRecord,
        replay: &Replay,
    ) -> Result<bool, StoreError> {
        let mut replays = lead.replays.clone();
        replays.push(replay.clone());
        let list: AttributeValue = serde_dynamo::to_attribute_value(&replays)
            .map_err(|e| StoreError::Invalid(format!("cannot store the replay: {e}")))?;
        let update = Update::new()
            .set("batch_id", replay.batch_id.as_str())
            .set("status", status::PROCESSING)
            .set("updated_at", replay.at.as_str())
            .set("replays", list)
            .remove("finished_at")
            .when(Cond::eq("batch_id", replay.from_batch.as_str()))
            .when(Cond::eq("status", status::PROCESSING).negate());
        match self.table.update(&lead_key(&lead.lead_id), update).await {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The lead and every batch of it, by batch id, in one query of its partition.
    pub async fn lead_and_batches(
        &self,
        lead_id: &str,
    ) -> Result<Option<(LeadRecord, BTreeMap<String, BatchState>)>, StoreError> {
        let items = self
            .table
            .query_all(Query::pk(keys::lead_pk(lead_id)))
            .await?;
        let Some(lead) = items.iter().find(|i| sk_of(i) == Some("meta")) else {
            return Ok(None);
        };
        let lead: LeadRecord = from_item(lead.clone())?;
        let batches = items
            .iter()
            .filter_map(|i| {
                let id = sk_of(i)?.strip_prefix("batch#")?;
                Some((id.to_string(), batch_state(i)))
            })
            .collect();
        Ok(Some((lead, batches)))
    }

    // --- Failures, by day ---------------------------------------------------------------

    /// Notes a batch that settled `failed` or `partial` in its day's index.
    pub async fn note_failure(&self, f: &Failure) -> Result<(), StoreError> {
        let day = f.finished_at.get(..10).unwrap_or_default();
        let item = to_item(&keys::lead_failed(day, &f.lead_id, &f.batch_id), f)?;
        self.table.put(item, None).await
    }

    /// The batches that settled with failures on a UTC day (`YYYY-MM-DD`).
    pub async fn failures_on(&self, day: &str) -> Result<Vec<Failure>, StoreError> {
        let items = self
            .table
            .query_all(Query::pk(keys::lead_failed_pk(day)))
            .await?;
        items.into_iter().map(from_item).collect()
    }
}
