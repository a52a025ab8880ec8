//! How many times an admin page's sign-in form may be tried: per address and from everyone
//! in a window, so a key cannot be guessed by trying many. Every attempt counts (a right key
//! too: an admin signs in a few times a day), and a refused one is 429 with when to come back.

use crate::Deps;
use crate::counter::{self, Window};
use crate::keys;
use crate::ports::table::StoreError;

/// The window's counters stay this long past its end.
const KEPT_SECS: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInLimit {
    /// Attempts from one address in a window.
    pub per_address: u32,
    /// Attempts from everyone in a window: a guesser spread over many addresses is held too,
    /// at the price that admins may wait out the window while one is at work.
    pub global: u32,
    pub window_secs: i64,
}

/// 10 tries per address and 100 in all per 15 minutes: an admin who mistypes is not held
/// up, and a 16-character random key stays out of reach (under 10 000 guesses a day).
pub const DEFAULT: SignInLimit = SignInLimit {
    per_address: 10,
    global: 100,
    window_secs: 900,
};

impl SignInLimit {
    /// One attempt from `address`, or the seconds until the next window when the address
    /// or everyone has used theirs up.
    pub async fn attempt(
        &self,
        deps: &Deps,
        address: Option<&str>,
    ) -> Result<Result<(), i64>, StoreError> {
        let secs = self.window_secs.max(1);
        let now = deps.clock.now_secs();
        let start = counter::window_start(now, secs);
        let window = |subject: &str| Window {
            key: keys::sign_in_rate(subject, start),
            expires_at: start + secs + KEPT_SECS,
        };
        let ip = format!("ip#{}", address.unwrap_or("unknown"));
        let windows = [
            (window("all"), self.global),
            (window(&ip), self.per_address),
        ];
        Ok(counter::take_each(deps.table.as_ref(), &windows)
            .await?
            .map_err(|_| (start + secs - now).max(1)))
    }
}
