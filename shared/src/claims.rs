//! One claim mechanism for "do this once, even when it arrives twice at the same moment".
//!
//! A claim is an item whose state says someone holds it, with a lease (`lease_until`, Unix
//! milliseconds) after which another caller may take it over: a holder that died loses
//! nothing, a live one is never doubled. When the work is done the holder settles the claim
//! with a final state; a settled claim is never taken again (until its TTL removes it).
//!
//! Two kinds of item use it:
//! - a marker made by the claim itself ([`Claims::marker`]): a Telegram update, a
//!   notification channel. It is absent until first claimed; releasing it removes it.
//! - a record that exists before it is claimed ([`Claims::record`]): an integration job,
//!   claimable while in one of its waiting states.

use crate::ports::table::{AttributeValue, Cond, Item, Key, StoreError, Table, Update};

const LEASE_UNTIL: &str = "lease_until";

/// How one kind of item is claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claims {
    /// The attribute that holds the state.
    pub state_attr: &'static str,
    /// The state while someone holds the claim.
    pub held: &'static str,
    /// States in which the item waits to be claimed.
    pub waiting: &'static [&'static str],
    /// Whether claiming creates the item (a marker) or needs it to exist (a record).
    pub creates: bool,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claimed {
    /// Ours until the lease ends; the item as it is now.
    Ours(Item),
    /// Someone else holds it; their lease ends in this many milliseconds.
    Held { lease_left_ms: i64 },
    /// Settled earlier: the item as it was left.
    Settled(Item),
    /// A record that does not exist (never for markers).
    Missing,
}

/// A marker's state when the claim record comes from before states existed.
const UNKNOWN: &str = "";

impl Claims {
    /// A marker item with `state`, held as `claimed`.
    pub const fn marker() -> Self {
        Self {
            state_attr: "state",
            held: "claimed",
            waiting: &[],
            creates: true,
        }
    }

    /// The same claim, also free again while in one of `waiting` (a marker settled as
    /// "try again", which keeps its counters, unlike a release).
    pub const fn waiting_in(self, waiting: &'static [&'static str]) -> Self {
        Self { waiting, ..self }
    }

    /// A record with `state_attr`, held as `held` and claimable while `waiting`.
    pub const fn record(
        state_attr: &'static str,
        held: &'static str,
        waiting: &'static [&'static str],
    ) -> Self {
        Self {
            state_attr,
            held,
            waiting,
            creates: false,
        }
    }

    fn free(&self, now_ms: i64) -> Cond {
        let mut any: Vec<Cond> = self
            .waiting
            .iter()
            .map(|s| Cond::eq(self.state_attr, *s))
            .collect();
        any.push(Cond::eq(self.state_attr, self.held).and(Cond::Lt(
            LEASE_UNTIL.into(),
            AttributeValue::N(now_ms.to_string()),
        )));
        if self.creates {
            any.push(Cond::item_absent());
            Cond::Or(any)
        } else {
            Cond::item_exists().and(Cond::Or(any))
        }
    }

    /// Claims the item under a lease of `lease_ms`. `extra` is applied with the claim (an
    /// attempt counter, a TTL for a marker); `ttl_secs` sets the marker's expiry.
    pub async fn claim(
        &self,
        table: &dyn Table,
        key: &Key,
        now_ms: i64,
        lease_ms: i64,
        extra: Update,
    ) -> Result<Claimed, StoreError> {
        let update = Update {
            condition: None,
            ..extra
        }
        .set(self.state_attr, self.held)
        .set(LEASE_UNTIL, now_ms + lease_ms)
        .when(self.free(now_ms));
        match table.update(key, update).await {
            Ok(item) => Ok(Claimed::Ours(item)),
            Err(StoreError::ConditionFailed) => self.why_not(table, key, now_ms).await,
            Err(e) => Err(e),
        }
    }

    async fn why_not(
        &self,
        table: &dyn Table,
        key: &Key,
        now_ms: i64,
    ) -> Result<Claimed, StoreError> {
        let Some(item) = table.get(key).await? else {
            // Gone between the two calls (a marker's TTL, a record removed).
            return Ok(Claimed::Missing);
        };
        let state = self.state_of(&item);
        if state == self.held || self.waiting.contains(&state) {
            let until = match item.get(LEASE_UNTIL) {
                Some(AttributeValue::N(n)) => n.parse::<i64>().unwrap_or(now_ms),
                _ => now_ms,
            };
            return Ok(Claimed::Held {
                lease_left_ms: (until - now_ms).max(0),
            });
        }
        Ok(Claimed::Settled(item))
    }

    /// The item's state ("" when it has none).
    pub fn state_of<'a>(&self, item: &'a Item) -> &'a str {
        match item.get(self.state_attr) {
            Some(AttributeValue::S(s)) => s,
            _ => UNKNOWN,
        }
    }

    /// Ends the holder's claim with `state` and `extra` changes. False when the claim was
    /// no longer ours (the lease ran out and someone else settled it): their result stands.
    pub async fn settle(
        &self,
        table: &dyn Table,
        key: &Key,
        state: &str,
        extra: Update,
    ) -> Result<bool, StoreError> {
        let update = Update {
            condition: None,
            ..extra
        }
        .set(self.state_attr, state)
        .remove(LEASE_UNTIL)
        .when(Cond::eq(self.state_attr, self.held));
        match table.update(key, update).await {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives a marker's claim up, so that the next delivery claims it at once.
    pub async fn release(&self, table: &dyn Table, key: &Key) -> Result<(), StoreError> {
        match table
            .delete(key, Some(Cond::eq(self.state_attr, self.held)))
            .await
        {
            Ok(()) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// A whole-number attribute of a claimed item (0 when absent), such as an attempt count.
pub fn count(item: &Item, attr: &str) -> i64 {
    match item.get(attr) {
        Some(AttributeValue::N(n)) => n.parse().unwrap_or(0),
        _ => 0,
    }
}

/// A settled claim's note of what happened (a message id, the reason it failed).
pub fn detail(text: impl Into<String>) -> Update {
    Update::new().set("detail", text.into())
}

/// The expiry attribute for a marker that is forgotten `ttl_secs` after `now_ms`.
pub fn expiring(now_ms: i64, ttl_secs: i64) -> Update {
    Update::new().set(crate::ports::table::TTL, now_ms.div_euclid(1000) + ttl_secs)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::adapters::{Db, EmbeddedTable};
    use crate::ports::{Clock, FixedClock};

    const T0: i64 = 1_700_000_000_000;
    const JOB: Claims = Claims::record("status", "running", &["pending", "retrying"]);

    fn table() -> (tempfile::TempDir, FixedClock, EmbeddedTable) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        let clock = FixedClock::at_ms(T0);
        let t = EmbeddedTable::new(db, Arc::new(clock.clone()));
        (dir, clock, t)
    }

    fn key() -> Key {
        Key::new("claim#x", "1")
    }

    #[tokio::test]
    async fn a_marker_is_claimed_once_held_while_leased_and_taken_over_after() {
        let (_d, clock, t) = table();
        let m = Claims::marker();
        let first = m
            .claim(&t, &key(), clock.now_ms(), 60_000, expiring(T0, 3600))
            .await
            .unwrap();
        assert!(matches!(first, Claimed::Ours(_)), "{first:?}");
        clock.advance_ms(10_000);
        let second = m
            .claim(&t, &key(), clock.now_ms(), 60_000, Update::new())
            .await
            .unwrap();
        assert_eq!(
            second,
            Claimed::Held {
                lease_left_ms: 50_000
            }
        );
        clock.advance_ms(50_001);
        let third = m
            .claim(&t, &key(), clock.now_ms(), 60_000, Update::new())
            .await
            .unwrap();
        assert!(
            matches!(third, Claimed::Ours(_)),
            "the lease ran out: {third:?}"
        );
        assert!(m.settle(&t, &key(), "done", Update::new()).await.unwrap());
        let fourth = m
            .claim(&t, &key(), clock.now_ms() + 600_000, 60_000, Update::new())
            .await
            .unwrap();
        match fourth {
            Claimed::Settled(item) => {
                assert_eq!(m.state_of(&item), "done");
                assert!(!item.contains_key(LEASE_UNTIL));
            }
            other => panic!("a settled claim is never taken again: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_released_marker_is_claimed_again_at_once_and_a_lost_claim_does_not_settle() {
        let (_d, clock, t) = table();
        let m = Claims::marker();
        m.claim(&t, &key(), T0, 60_000, Update::new())
            .await
            .unwrap();
        m.release(&t, &key()).await.unwrap();
        assert!(t.get(&key()).await.unwrap().is_none());
        assert!(matches!(
            m.claim(&t, &key(), T0, 60_000, Update::new())
                .await
                .unwrap(),
            Claimed::Ours(_)
        ));
        // Someone else took over after the lease and settled first.
        clock.advance_ms(61_000);
        m.claim(&t, &key(), clock.now_ms(), 60_000, Update::new())
            .await
            .unwrap();
        assert!(m.settle(&t, &key(), "sent", Update::new()).await.unwrap());
        assert!(!m.settle(&t, &key(), "failed", Update::new()).await.unwrap());
        let item = t.get(&key()).await.unwrap().unwrap();
        assert_eq!(m.state_of(&item), "sent", "the first result stands");
    }

    #[tokio::test]
    async fn a_record_is_claimable_only_while_waiting_and_must_exist() {
        let (_d, _clock, t) = table();
        assert_eq!(
            JOB.claim(&t, &key(), T0, 1000, Update::new())
                .await
                .unwrap(),
            Claimed::Missing
        );
        assert!(t.get(&key()).await.unwrap().is_none(), "nothing created");
        t.update(&key(), Update::new().set("status", "pending"))
            .await
            .unwrap();
        let ours = JOB
            .claim(&t, &key(), T0, 1000, Update::new().add("attempts", 1))
            .await
            .unwrap();
        let Claimed::Ours(item) = ours else {
            panic!("{ours:?}")
        };
        assert_eq!(item["attempts"], AttributeValue::N("1".into()));
        assert_eq!(
            JOB.claim(&t, &key(), T0 + 400, 1000, Update::new())
                .await
                .unwrap(),
            Claimed::Held { lease_left_ms: 600 }
        );
        assert!(
            JOB.settle(&t, &key(), "succeeded", Update::new())
                .await
                .unwrap()
        );
        assert!(matches!(
            JOB.claim(&t, &key(), T0 + 5000, 1000, Update::new())
                .await
                .unwrap(),
            Claimed::Settled(_)
        ));
    }
}
