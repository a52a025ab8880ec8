//! The executor workflow's settings, read in one place by every function that needs them
//! (the webhook, the ticket API, the notification worker, the sweeper).

use jiff::tz::TimeZone;

use crate::config::EnvReader;
use crate::secret::Secret;

#[derive(Debug, Clone)]
pub struct TicketsConfig {
    /// `TELEGRAM_STAFF_BOT_TOKEN`: the staff bot, for sending (not needed by the ticket API).
    pub bot_token: Option<Secret>,
    /// `TELEGRAM_STAFF_BOT_USERNAME` (without `@`), for `https://t.me/<bot>?start=` links.
    pub bot_username: Option<String>,
    /// `TICKET_TIMEZONE` (default Europe/Moscow): what "tomorrow 09:00" means, and how
    /// times are shown.
    pub timezone: TimeZone,
    /// `TICKET_ESCALATE_MINUTES` (default 30; 0 turns escalation off).
    pub escalate_after_ms: i64,
    /// `TICKET_ESCALATE_TIMES` (default 3): how often a ticket nobody takes is offered again.
    pub escalate_times: i64,
}

impl TicketsConfig {
    pub fn read(r: &mut EnvReader<'_>) -> Self {
        let bot_token = r.optional("TELEGRAM_STAFF_BOT_TOKEN").map(Secret);
        let bot_username = r
            .optional("TELEGRAM_STAFF_BOT_USERNAME")
            .map(|u| u.trim_start_matches('@').to_string());
        let zone = r.or("TICKET_TIMEZONE", "Europe/Moscow");
        let timezone = match TimeZone::get(&zone) {
            Ok(tz) => tz,
            Err(_) => {
                r.problem(format!(
                    "TICKET_TIMEZONE: {zone:?} is not a time zone (e.g. Europe/Moscow)"
                ));
                TimeZone::UTC
            }
        };
        let minutes: i64 = r.parse_or("TICKET_ESCALATE_MINUTES", 30);
        if !(0..=7 * 24 * 60).contains(&minutes) {
            r.problem("TICKET_ESCALATE_MINUTES must be 0 (off) to 10080 (a week)");
        }
        let escalate_times: i64 = r.parse_or("TICKET_ESCALATE_TIMES", 3);
        if !(0..=100).contains(&escalate_times) {
            r.problem("TICKET_ESCALATE_TIMES must be 0 to 100");
        }
        Self {
            bot_token,
            bot_username,
            timezone,
            escalate_after_ms: minutes * 60_000,
            escalate_times,
        }
    }

    /// When a ticket created at `now_ms` is offered again, if at all.
    pub fn first_escalation(&self, now_ms: i64) -> Option<i64> {
        (self.escalate_after_ms > 0 && self.escalate_times > 0)
            .then_some(now_ms + self.escalate_after_ms)
    }

    pub fn escalate_minutes(&self) -> i64 {
        self.escalate_after_ms / 60_000
    }

    /// A moment as people of this deployment read it: `02.12.2026 09:00`.
    pub fn local_time(&self, ms: i64) -> String {
        match jiff::Timestamp::from_millisecond(ms) {
            Ok(t) => t
                .to_zoned(self.timezone.clone())
                .strftime("%d.%m.%Y %H:%M")
                .to_string(),
            Err(_) => crate::time::timestamp(ms),
        }
    }
}

/// How long a ticket is postponed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Postpone {
    OneHour,
    FourHours,
    /// Until 09:00 of the next day in the deployment's time zone.
    Tomorrow,
}

impl Postpone {
    pub const ALL: [Postpone; 3] = [Postpone::OneHour, Postpone::FourHours, Postpone::Tomorrow];

    pub fn until(self, now_ms: i64, tz: &TimeZone) -> i64 {
        match self {
            Postpone::OneHour => now_ms + 3_600_000,
            Postpone::FourHours => now_ms + 4 * 3_600_000,
            Postpone::Tomorrow => {
                let Ok(now) = jiff::Timestamp::from_millisecond(now_ms) else {
                    return now_ms + 24 * 3_600_000;
                };
                let today = now.to_zoned(tz.clone()).date();
                today
                    .tomorrow()
                    .ok()
                    .and_then(|d| d.at(9, 0, 0, 0).to_zoned(tz.clone()).ok())
                    .map(|z| z.timestamp().as_millisecond())
                    .unwrap_or(now_ms + 24 * 3_600_000)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tomorrow_is_nine_in_the_morning_of_the_next_local_day() {
        let moscow = TimeZone::get("Europe/Moscow").unwrap();
        // 2026-12-01 23:30 in Moscow (UTC+3) is 20:30 UTC.
        let now = jiff::Timestamp::from_second(1_796_157_000).unwrap();
        assert_eq!(now.to_string(), "2026-12-01T20:30:00Z");
        let until = Postpone::Tomorrow.until(now.as_millisecond(), &moscow);
        let t = jiff::Timestamp::from_millisecond(until).unwrap();
        assert_eq!(t.to_string(), "2026-12-02T06:00:00Z", "09:00 in Moscow");
        // 00:30 in Moscow on the 2nd: tomorrow is the 3rd.
        let after_midnight = now.as_millisecond() + 3_600_000;
        let until = Postpone::Tomorrow.until(after_midnight, &moscow);
        assert_eq!(
            jiff::Timestamp::from_millisecond(until)
                .unwrap()
                .to_string(),
            "2026-12-03T06:00:00Z"
        );
        assert_eq!(Postpone::OneHour.until(1000, &moscow), 3_601_000);
    }
}
