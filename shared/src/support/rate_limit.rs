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
    /// `SUPPORT_GLOBAL_RATE_LIMIT` (default 200): messages from everyone in one window, so
    /// a page that makes many visitors' browsers post cannot flood the admins.
    pub global: u32,
}

impl RateLimit {
    /// One more message from each of `who` (`user#…`, `ip#…`) and from everyone in this
    /// window, or 429; a refused message counts against no one.
    pub async fn allow(&self, deps: &Deps, who: &[String]) -> Result<(), ApiError> {
        let secs = self.window_secs.max(1);
        let start = counter::window_start(deps.clock.now_secs(), secs);
        let mut subjects: Vec<(&str, u32)> = vec![("all", self.global)];
        subjects.extend(who.iter().map(|w| (w.as_str(), self.limit)));
        let windows: Vec<(Window, u32)> = subjects
            .into_iter()
            .map(|(subject, limit)| {
                let window = Window {
                    key: keys::support_rate(subject, start),
                    expires_at: start + secs + KEPT_SECS,
                };
                (window, limit)
            })
            .collect();
        if counter::take_each(deps.table.as_ref(), &windows)
            .await
            .map_err(store_err)?
            .is_err()
        {
            return Err(ApiError::too_many_requests(format!(
                "too many messages; please wait {} minutes and try again",
                (self.window_secs.max(60) / 60)
            )));
        }
        Ok(())
    }
}
