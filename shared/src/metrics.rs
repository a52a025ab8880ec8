//! Metrics in CloudWatch's embedded metric format (EMF): one JSON object per event on
//! stdout, which CloudWatch Logs turns into metrics as it ingests the function's log — no
//! API call, so no latency on the request and nothing to fail.
//!
//! Every metric is listed in [`CATALOGUE`] with its unit and dimensions; the template's
//! alarms and dashboard name only those (a test checks). Each distinct combination of
//! dimension values is a custom metric billed while it receives data ($0.30 a month, the
//! first ten free), so dimensions are few and their values a closed set.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// A metric the code emits: its name, unit and the dimensions it is recorded under.
#[derive(Debug, PartialEq, Eq)]
pub struct Spec {
    pub name: &'static str,
    pub unit: Unit,
    pub dimensions: &'static [&'static str],
}

/// A lead stored with its jobs queued (its request answered 202).
pub const LEADS_ACCEPTED: Spec = Spec {
    name: "LeadsAccepted",
    unit: Unit::Count,
    dimensions: &[],
};
/// A lead's batch settled, by its final status (`completed`, `partial`, `failed`).
pub const LEADS_SETTLED: Spec = Spec {
    name: "LeadsSettled",
    unit: Unit::Count,
    dimensions: &["Status"],
};
/// One delivery attempt to an integration, by its outcome (`delivered`, `retried`: failed
/// and tried again later, `failed`: for good).
pub const DELIVERIES: Spec = Spec {
    name: "Deliveries",
    unit: Unit::Count,
    dimensions: &["Integration", "Outcome"],
};
/// How long an attempt's call took, whatever its outcome.
pub const DELIVERY_LATENCY: Spec = Spec {
    name: "DeliveryLatency",
    unit: Unit::Milliseconds,
    dimensions: &["Integration"],
};
/// The Bot API answered 429: we are sending faster than Telegram allows.
pub const TELEGRAM_RATE_LIMITED: Spec = Spec {
    name: "TelegramRateLimited",
    unit: Unit::Count,
    dimensions: &[],
};
/// The Bot API answered 403: the chat blocked the bot, or the bot was removed from it.
pub const TELEGRAM_BLOCKED: Spec = Spec {
    name: "TelegramBlocked",
    unit: Unit::Count,
    dimensions: &[],
};
/// An update a bot finished with (`handled`, `retry`: Telegram delivers it again,
/// `failed`: for good), by bot (`main`, `support`, `staff`, `bridge`).
pub const UPDATES: Spec = Spec {
    name: "Updates",
    unit: Unit::Count,
    dimensions: &["Bot", "Outcome"],
};
/// A notification that went out, by channel (`telegram`, `email`).
pub const NOTIFICATIONS_SENT: Spec = Spec {
    name: "NotificationsSent",
    unit: Unit::Count,
    dimensions: &["Channel"],
};

pub const CATALOGUE: &[&Spec] = &[
    &LEADS_ACCEPTED,
    &LEADS_SETTLED,
    &DELIVERIES,
    &DELIVERY_LATENCY,
    &TELEGRAM_RATE_LIMITED,
    &TELEGRAM_BLOCKED,
    &UPDATES,
    &NOTIFICATIONS_SENT,
];

/// Where Lambda's metrics go when `METRICS_NAMESPACE` is not set (the template sets
/// `Zayavka/<stack name>`, so two stacks in one account stay apart).
pub const DEFAULT_NAMESPACE: &str = "Zayavka";

/// How a delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    Retried,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Retried => "retried",
            Outcome::Failed => "failed",
        }
    }
}

/// How a bot's update ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateOutcome {
    Handled,
    Retry,
    Failed,
}

impl UpdateOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateOutcome::Handled => "handled",
            UpdateOutcome::Retry => "retry",
            UpdateOutcome::Failed => "failed",
        }
    }
}

/// Emits metrics: to stdout in Lambda, nowhere locally (`zayavka serve`, the command), to
/// memory in tests. Cheap to clone; every clone writes to the same place.
#[derive(Clone, Default)]
pub struct Metrics {
    out: Option<Arc<Emitter>>,
}

struct Emitter {
    namespace: String,
    sink: Sink,
}

enum Sink {
    Stdout,
    Memory(Mutex<Vec<String>>),
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let to = match self.out.as_deref() {
            None => "off",
            Some(Emitter {
                sink: Sink::Stdout, ..
            }) => "stdout",
            Some(Emitter {
                sink: Sink::Memory(_),
                ..
            }) => "memory",
        };
        f.debug_struct("Metrics").field("to", &to).finish()
    }
}

impl Metrics {
    pub fn off() -> Self {
        Self::default()
    }

    pub fn stdout(namespace: impl Into<String>) -> Self {
        Self::with(namespace.into(), Sink::Stdout)
    }

    /// Kept in memory, for [`Metrics::lines`].
    pub fn in_memory(namespace: impl Into<String>) -> Self {
        Self::with(namespace.into(), Sink::Memory(Mutex::new(Vec::new())))
    }

    fn with(namespace: String, sink: Sink) -> Self {
        Self {
            out: Some(Arc::new(Emitter { namespace, sink })),
        }
    }

    /// The lines an in-memory emitter kept, oldest first.
    pub fn lines(&self) -> Vec<String> {
        match self.out.as_deref() {
            Some(Emitter {
                sink: Sink::Memory(m),
                ..
            }) => m.lock().map(|l| l.clone()).unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    pub fn lead_accepted(&self) {
        self.emit(&[], &[(&LEADS_ACCEPTED, 1.0)]);
    }

    pub fn lead_settled(&self, status: &str) {
        self.emit(&[("Status", status)], &[(&LEADS_SETTLED, 1.0)]);
    }

    pub fn delivery(&self, integration: &str, outcome: Outcome, took: Duration) {
        self.emit(
            &[("Integration", integration), ("Outcome", outcome.as_str())],
            &[
                (&DELIVERIES, 1.0),
                (&DELIVERY_LATENCY, took.as_secs_f64() * 1000.0),
            ],
        );
    }

    pub fn telegram_rate_limited(&self) {
        self.emit(&[], &[(&TELEGRAM_RATE_LIMITED, 1.0)]);
    }

    pub fn telegram_blocked(&self) {
        self.emit(&[], &[(&TELEGRAM_BLOCKED, 1.0)]);
    }

    pub fn update(&self, bot: &str, outcome: UpdateOutcome) {
        self.emit(
            &[("Bot", bot), ("Outcome", outcome.as_str())],
            &[(&UPDATES, 1.0)],
        );
    }

    pub fn notification_sent(&self, channel: &str) {
        self.emit(&[("Channel", channel)], &[(&NOTIFICATIONS_SENT, 1.0)]);
    }

    /// One EMF object: the dimension values and metric values as members, and a directive
    /// per metric naming which members are its dimensions. A metric's dimensions are its
    /// spec's, so one line can carry metrics recorded under different sets.
    fn emit(&self, dimensions: &[(&str, &str)], values: &[(&Spec, f64)]) {
        let Some(out) = self.out.as_deref() else {
            return;
        };
        // The wall clock, not the handler's clock: CloudWatch files the point under this
        // time and refuses one more than two weeks old or two hours ahead.
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let directives: Vec<Value> = values
            .iter()
            .map(|(spec, _)| {
                json!({
                    "Namespace": out.namespace,
                    "Dimensions": [spec.dimensions],
                    "Metrics": [{"Name": spec.name, "Unit": spec.unit.as_str()}],
                })
            })
            .collect();
        let mut line = Map::new();
        line.insert(
            "_aws".into(),
            json!({"Timestamp": timestamp, "CloudWatchMetrics": directives}),
        );
        for (name, value) in dimensions {
            line.insert((*name).into(), Value::from(*value));
        }
        for (spec, value) in values {
            line.insert(spec.name.into(), json!(value));
        }
        let text = Value::Object(line).to_string();
        match &out.sink {
            Sink::Stdout => {
                use std::io::Write;
                // One write of the whole line, so a log line written meanwhile by another
                // thread cannot land inside it.
                let mut stdout = std::io::stdout().lock();
                let _ = stdout.write_all(format!("{text}\n").as_bytes());
                let _ = stdout.flush();
            }
            Sink::Memory(lines) => {
                if let Ok(mut l) = lines.lock() {
                    l.push(text);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only_line(m: &Metrics) -> Value {
        let lines = m.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        serde_json::from_str(&lines[0]).unwrap()
    }

    #[test]
    fn a_delivery_is_one_line_with_a_directive_per_dimension_set() {
        let m = Metrics::in_memory("Zayavka/test");
        m.delivery("email", Outcome::Retried, Duration::from_millis(250));
        let line = only_line(&m);
        assert_eq!(line["Integration"], "email");
        assert_eq!(line["Outcome"], "retried");
        assert_eq!(line["Deliveries"], 1.0);
        assert_eq!(line["DeliveryLatency"], 250.0);
        let d = &line["_aws"]["CloudWatchMetrics"];
        assert_eq!(
            d[0],
            json!({"Namespace": "Zayavka/test", "Dimensions": [["Integration", "Outcome"]],
                   "Metrics": [{"Name": "Deliveries", "Unit": "Count"}]})
        );
        assert_eq!(
            d[1],
            json!({"Namespace": "Zayavka/test", "Dimensions": [["Integration"]],
                   "Metrics": [{"Name": "DeliveryLatency", "Unit": "Milliseconds"}]})
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let at = line["_aws"]["Timestamp"].as_u64().unwrap();
        assert!(now.abs_diff(at) < 60_000, "{at} vs {now}");
    }

    #[test]
    fn a_metric_without_dimensions_has_one_empty_set() {
        let m = Metrics::in_memory("N");
        m.lead_accepted();
        let line = only_line(&m);
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
        assert_eq!(line["LeadsAccepted"], 1.0);
    }

    #[test]
    fn off_writes_nothing_and_clones_share_the_sink() {
        Metrics::off().lead_accepted();
        assert!(Metrics::off().lines().is_empty());
        let m = Metrics::in_memory("N");
        m.clone().telegram_blocked();
        assert_eq!(m.lines().len(), 1);
    }

    #[test]
    fn the_catalogue_names_each_metric_once() {
        let mut names: Vec<&str> = CATALOGUE.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CATALOGUE.len());
    }
}
