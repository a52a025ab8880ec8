//! How many times an admin page's sign-in form may be tried: per address and from everyone
//! in a window, so a key cannot be guessed by trying many. Every attempt is counted before
//! the key is looked at, a successful one is given back, and a refused one is 429 with when
//! to come back.

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
    /// The windows an attempt from `address` counts in now: everyone's and the address's.
    fn windows(&self, deps: &Deps, address: Option<&str>) -> ([(Window, u32); 2], i64) {
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
        (windows, (start + secs - now).max(1))
    }

    /// One attempt from `address`, or the seconds until the next window when the address
    /// or everyone has used theirs up.
    pub async fn attempt(
        &self,
        deps: &Deps,
        address: Option<&str>,
    ) -> Result<Result<(), i64>, StoreError> {
        let (windows, retry_after) = self.windows(deps, address);
        Ok(counter::take_each(deps.table.as_ref(), &windows)
            .await?
            .map_err(|_| retry_after))
    }

    /// Gives an attempt that signed in back: only wrong keys use the windows up, so an admin
    /// who signs in often is never held by their own sign-ins. (A guesser can still use up
    /// everyone's window and hold the admins for up to 15 minutes: the price of a limit
    /// that holds guesses spread over many addresses.)
    pub async fn succeeded(&self, deps: &Deps, address: Option<&str>) -> Result<(), StoreError> {
        let (windows, _) = self.windows(deps, address);
        for (window, _) in &windows {
            counter::give_back(deps.table.as_ref(), window).await?;
        }
        Ok(())
    }
}
