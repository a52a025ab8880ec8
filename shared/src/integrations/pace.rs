//! Spacing out one worker's calls to a service, so the event source's concurrency times the
//! rate stays under what the service allows (amoCRM 7/s, Bitrix24 2/s).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::outbound::{DeliveryError, OpenClient};

/// At most one call per `interval`, across every job of this worker instance.
pub struct Pacer {
    interval: Duration,
    next: tokio::sync::Mutex<tokio::time::Instant>,
}

impl Pacer {
    /// `None` for 0 calls per second: no limit.
    pub fn new(per_second: f64) -> Option<Self> {
        (per_second > 0.0).then(|| Self {
            interval: Duration::from_secs_f64(1.0 / per_second),
            next: tokio::sync::Mutex::new(tokio::time::Instant::now()),
        })
    }

    pub async fn wait(&self) {
        let mut next = self.next.lock().await;
        let now = tokio::time::Instant::now();
        if *next > now {
            tokio::time::sleep_until(*next).await;
        }
        *next = (*next).max(now) + self.interval;
    }
}

/// The calls one attempt makes to a service. The worker waits its turn before an attempt,
/// which covers the attempt's first call; a CRM's contact look-ups make more than one, and
/// each further call waits its own turn on the same pacer, so look-ups count against the
/// service's rate like any other call.
pub struct Paced<'a> {
    open: &'a OpenClient,
    pacer: Option<&'a Pacer>,
    made: AtomicU32,
}

impl<'a> Paced<'a> {
    pub fn new(open: &'a OpenClient, pacer: Option<&'a Pacer>) -> Self {
        Self {
            open,
            pacer,
            made: AtomicU32::new(0),
        }
    }

    async fn turn(&self) {
        if self.made.fetch_add(1, Ordering::Relaxed) > 0
            && let Some(p) = self.pacer
        {
            p.wait().await;
        }
    }

    pub async fn post_json(
        &self,
        service: &str,
        url: &str,
        headers: &[(&str, String)],
        body: &Value,
    ) -> Result<Value, DeliveryError> {
        self.turn().await;
        self.open.post_json(service, url, headers, body).await
    }

    pub async fn get_json(
        &self,
        service: &str,
        url: &str,
        headers: &[(&str, String)],
    ) -> Result<Value, DeliveryError> {
        self.turn().await;
        self.open.get_json(service, url, headers).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_call_after_the_first_takes_a_turn() {
        let pacer = Pacer::new(10.0).unwrap();
        // The worker's own wait before the attempt.
        pacer.wait().await;
        let open =
            OpenClient::new(Duration::from_secs(1), crate::outbound::AllowHosts::none()).unwrap();
        let paced = Paced::new(&open, Some(&pacer));
        let start = tokio::time::Instant::now();
        paced.turn().await;
        assert!(
            start.elapsed() < Duration::from_millis(50),
            "the first call was paced already"
        );
        paced.turn().await;
        paced.turn().await;
        assert!(start.elapsed() >= Duration::from_millis(150));
    }
}
