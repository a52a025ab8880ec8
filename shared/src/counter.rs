//! Fixed-window counters, for rate limits: at most `limit` takes per window, counted in one
//! conditional update (so concurrent takes never overshoot), the item expiring with its
//! window. The support form limits messages per address and user with it, the helpdesk bot
//! issues per chat and hour.

use crate::ports::table::{AttributeValue, Cond, Key, StoreError, Table, Update};

const COUNT: &str = "n";

/// One window of a counter: which item counts it and when the item may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub key: Key,
    /// Unix seconds after which the count is of no interest (the window is over).
    pub expires_at: i64,
}

/// The start of the fixed window of `secs` that holds `now` (both Unix seconds).
pub fn window_start(now: i64, secs: i64) -> i64 {
    let secs = secs.max(1);
    now - now.rem_euclid(secs)
}

/// Takes one of the window's `limit` units; false when they are used up (nothing changes).
pub async fn take(table: &dyn Table, window: &Window, limit: u32) -> Result<bool, StoreError> {
    let update = Update::new()
        .add(COUNT, 1)
        .set("ttl", window.expires_at)
        .when(Cond::Or(vec![
            Cond::NotExists(COUNT.into()),
            Cond::Lt(COUNT.into(), AttributeValue::N(limit.to_string())),
        ]));
    match table.update(&window.key, update).await {
        Ok(_) => Ok(true),
        Err(StoreError::ConditionFailed) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Gives a unit back (what it paid for did not happen after all); a window that is gone
/// stays gone.
pub async fn give_back(table: &dyn Table, window: &Window) -> Result<(), StoreError> {
    let update = Update::new()
        .add(COUNT, -1)
        .when(Cond::Gt(COUNT.into(), AttributeValue::N("0".into())));
    match table.update(&window.key, update).await {
        Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Takes one unit from each window, or from none: when one is used up, the units already
/// taken are given back (a refused attempt counts against no one) and the used-up window's
/// index is returned.
pub async fn take_each(
    table: &dyn Table,
    windows: &[(Window, u32)],
) -> Result<Result<(), usize>, StoreError> {
    for (i, (window, limit)) in windows.iter().enumerate() {
        if take(table, window, *limit).await? {
            continue;
        }
        for (taken, _) in &windows[..i] {
            if let Err(e) = give_back(table, taken).await {
                tracing::warn!(error = %e, "rate counter not given back");
            }
        }
        return Ok(Err(i));
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::adapters::{Db, EmbeddedTable};
    use crate::ports::FixedClock;

    fn table() -> (tempfile::TempDir, EmbeddedTable) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        let clock = Arc::new(FixedClock::at_ms(1_000_000_000));
        (dir, EmbeddedTable::new(db, clock))
    }

    fn window(secs: i64) -> Window {
        Window {
            key: Key::new("rate#x", "1"),
            expires_at: secs,
        }
    }

    #[tokio::test]
    async fn takes_up_to_the_limit_then_refuses_and_a_unit_given_back_is_taken_again() {
        let (_dir, t) = table();
        let w = window(2_000_000);
        for _ in 0..3 {
            assert!(take(&t, &w, 3).await.unwrap());
        }
        assert!(
            !take(&t, &w, 3).await.unwrap(),
            "the fourth is over the limit"
        );
        give_back(&t, &w).await.unwrap();
        assert!(take(&t, &w, 3).await.unwrap());
        assert!(!take(&t, &w, 3).await.unwrap());
    }

    #[tokio::test]
    async fn an_expired_window_starts_from_zero_and_giving_back_never_goes_below_zero() {
        let (_dir, t) = table();
        let old = window(999_000);
        assert!(take(&t, &old, 1).await.unwrap());
        // The clock is past `expires_at`: the window is over, so the count starts again.
        assert!(take(&t, &old, 1).await.unwrap());
        let fresh = Window {
            key: Key::new("rate#y", "1"),
            expires_at: 2_000_000,
        };
        give_back(&t, &fresh).await.unwrap();
        assert!(take(&t, &fresh, 1).await.unwrap());
        assert!(!take(&t, &fresh, 1).await.unwrap());
    }

    #[tokio::test]
    async fn take_each_takes_from_all_or_gives_back_what_it_took() {
        let (_dir, t) = table();
        let all = Window {
            key: Key::new("rate#all", "1"),
            expires_at: 2_000_000,
        };
        let one = window(2_000_000);
        let pair = [(all.clone(), 10), (one.clone(), 1)];
        assert_eq!(take_each(&t, &pair).await.unwrap(), Ok(()));
        assert_eq!(take_each(&t, &pair).await.unwrap(), Err(1));
        // The refused attempt gave its unit of `all` back: 9 more fit, not 8.
        for _ in 0..9 {
            assert!(take(&t, &all, 10).await.unwrap());
        }
        assert!(!take(&t, &all, 10).await.unwrap());
    }

    #[test]
    fn windows_start_on_multiples_of_their_length() {
        assert_eq!(window_start(1_234, 600), 1_200);
        assert_eq!(window_start(1_200, 600), 1_200);
        assert_eq!(window_start(5, 0), 5, "a zero length counts as one second");
    }
}
