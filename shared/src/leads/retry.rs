//! When a delivery that failed for a reason a retry can fix is tried again: the
//! `RETRY_SCHEDULE`, a list of delays measured in hours rather than in minutes, so a lead
//! outlasts a day-long outage of the service it goes to.
//!
//! The job waits in its queue, invisible: each retry pushes its message's visibility out by
//! the next delay. SQS lets one receive keep a message at most 12 hours, so no step may be
//! longer than [`MAX_STEP_SECS`]; the queue keeps a message four days, well past the whole
//! default schedule (about 27.6 hours); and the dead-letter redrive counts receives, so a job
//! may make at most [`crate::leads::request::MAX_TRIES`] attempts (see `queues.rs`).

use crate::config::EnvReader;
use crate::leads::request::MAX_TRIES;

/// The delays after the first, second, … failed attempt: five seconds, five minutes, half an
/// hour, 2, 5, 10 and 10 hours — 27 h 35 min in all, what the webhook services that promise
/// delivery through an outage give.
pub const DEFAULT: &str = "5s,5m,30m,2h,5h,10h,10h";

/// The longest step: SQS's 12-hour visibility limit less the time a worker may take.
pub const MAX_STEP_SECS: u32 = 11 * 3600;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<u32>);

impl RetrySchedule {
    /// `RETRY_SCHEDULE` (default [`DEFAULT`]): every problem is reported, none is guessed.
    pub fn read(env: &mut EnvReader<'_>) -> Self {
        let raw = env.or("RETRY_SCHEDULE", DEFAULT);
        match Self::parse(&raw) {
            Ok(s) => s,
            Err(why) => {
                env.problem(format!("RETRY_SCHEDULE={raw:?}: {why}"));
                Self::default()
            }
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        let steps = raw
            .split(',')
            .map(|s| parse_delay(s.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        if steps.is_empty() {
            return Err("give at least one delay".into());
        }
        if steps.len() >= MAX_TRIES as usize {
            return Err(format!(
                "at most {} delays ({MAX_TRIES} attempts, what the dead-letter redrive allows)",
                MAX_TRIES - 1
            ));
        }
        Ok(Self(steps))
    }

    /// The delays, in seconds.
    pub fn steps(&self) -> &[u32] {
        &self.0
    }

    /// The whole schedule's span in seconds: how long a job keeps trying (and, while its
    /// target's breaker is open, waiting) before it gives up.
    pub fn total_secs(&self) -> i64 {
        self.0.iter().map(|s| i64::from(*s)).sum()
    }

    /// Attempts a job makes when its request does not say: the first and one per delay.
    pub fn attempts(&self) -> u32 {
        self.0.len() as u32 + 1
    }

    /// The wait after failed attempt number `attempt` (1-based): its step (the last one
    /// again past the end), or the service's own `Retry-After` when that is longer, never
    /// past SQS's limit.
    pub fn delay_secs(&self, attempt: u32, retry_after: Option<u32>) -> u32 {
        let i = (attempt.max(1) as usize - 1).min(self.0.len().saturating_sub(1));
        let step = self.0.get(i).copied().unwrap_or(0);
        step.max(retry_after.unwrap_or(0)).min(MAX_STEP_SECS)
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        // The constant parses; a test holds it to that.
        Self::parse(DEFAULT).unwrap_or(Self(vec![5]))
    }
}

/// `90`, `90s`, `5m`, `2h`: whole seconds, minutes or hours.
fn parse_delay(s: &str) -> Result<u32, String> {
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u32 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a delay like 30s, 5m or 2h"))?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(format!("{s:?}: the unit is s, m or h")),
    };
    let secs = n
        .checked_mul(unit_secs)
        .filter(|v| *v <= MAX_STEP_SECS)
        .ok_or_else(|| format!("{s:?} is longer than 11h, the longest SQS can hold a job"))?;
    Ok(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_hours_long_and_makes_eight_attempts() {
        let s = RetrySchedule::default();
        assert_eq!(s.attempts(), 8);
        let total: u32 = (1..8).map(|a| s.delay_secs(a, None)).sum();
        assert_eq!(total, 5 + 300 + 1800 + 7200 + 18000 + 36000 + 36000);
        assert!(total > 27 * 3600);
    }

    #[test]
    fn steps_repeat_the_last_and_a_longer_retry_after_wins_up_to_the_limit() {
        let s = RetrySchedule::parse("10s, 2m").unwrap();
        assert_eq!(s.delay_secs(1, None), 10);
        assert_eq!(s.delay_secs(2, None), 120);
        assert_eq!(s.delay_secs(5, None), 120, "past the end: the last step");
        assert_eq!(s.delay_secs(1, Some(60)), 60);
        assert_eq!(
            s.delay_secs(2, Some(60)),
            120,
            "a shorter Retry-After changes nothing"
        );
        assert_eq!(s.delay_secs(1, Some(u32::MAX)), MAX_STEP_SECS);
        assert_eq!(RetrySchedule::parse("0").unwrap().delay_secs(3, None), 0);
    }

    #[test]
    fn a_wrong_schedule_says_what_is_wrong() {
        for (raw, says) in [
            ("", "not a delay"),
            ("5x", "unit"),
            ("12h", "longer than 11h"),
            ("4294967295h", "longer than 11h"),
            ("1s,1s,1s,1s,1s,1s,1s,1s,1s,1s", "at most 9 delays"),
            ("-5s", "not a delay"),
        ] {
            let err = RetrySchedule::parse(raw).unwrap_err();
            assert!(err.contains(says), "{raw:?}: {err}");
        }
    }
}
