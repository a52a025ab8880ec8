//! How many messages one address and one user may send to support in a window.

use crate::Deps;
use crate::counter::{self, Window};
use crate::http::ApiError;
use crate::keys;

use super::web::store_err;

/// The window's counters stay this long past its end.
const KEPT_SECS: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// `SUPPORT_RATE_LIMIT` (default 5): messages per address and per user in one window.
    pub limit: u32,
    /// `SUPPORT_RATE_WINDOW_SECONDS` (default 600).
    pub window_secs: i64,
}

impl RateLimit {
    /// One more message from each of `who` (`user#…`, `ip#…`) in this window, or 429.
    pub async fn allow(&self, deps: &Deps, who: &[String]) -> Result<(), ApiError> {
        let secs = self.window_secs.max(1);
        let start = counter::window_start(deps.clock.now_secs(), secs);
        for subject in who {
            let window = Window {
                key: keys::support_rate(subject, start),
                expires_at: start + secs + KEPT_SECS,
            };
            let taken = counter::take(deps.table.as_ref(), &window, self.limit)
                .await
                .map_err(store_err)?;
            if !taken {
                return Err(ApiError::too_many_requests(format!(
                    "too many messages; please wait {} minutes and try again",
                    (self.window_secs.max(60) / 60)
                )));
            }
        }
        Ok(())
    }
}
