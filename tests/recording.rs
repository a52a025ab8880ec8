//! Adapters that note which AWS action each call would be (and on which queue), labelled by
//! the function the test is running, so the template's policies can be checked against
//! what the code really does.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use zayavka::Deps;
use zayavka::ports::table::Cond;
use zayavka::ports::{
    Email, Item, Key, MailError, Mailer, OutMessage, Page, Query, Queue, QueueError, QueueStats,
    Received, StoreError, Table, TxOp, Update,
};

/// (IAM action, queue or "" for the table and SES) per function label.
pub type Seen = BTreeMap<String, BTreeSet<(String, String)>>;

#[derive(Default)]
pub struct Recorder {
    current: Mutex<String>,
    seen: Mutex<Seen>,
}

impl Recorder {
    /// Calls from now on are the named function's (the binary's name).
    pub fn now(&self, label: &str) {
        *self.current.lock().unwrap() = label.to_string();
    }

    fn note(&self, action: &str, resource: &str) {
        let label = self.current.lock().unwrap().clone();
        self.seen
            .lock()
            .unwrap()
            .entry(label)
            .or_default()
            .insert((action.to_string(), resource.to_string()));
    }

    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }
}

struct RecTable(Arc<dyn Table>, Arc<Recorder>);

#[async_trait]
impl Table for RecTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.1.note("dynamodb:GetItem", "");
        self.0.get(key).await
    }
    async fn put(&self, item: Item, cond: Option<Cond>) -> Result<(), StoreError> {
        self.1.note("dynamodb:PutItem", "");
        self.0.put(item, cond).await
    }
    async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError> {
        self.1.note("dynamodb:UpdateItem", "");
        self.0.update(key, update).await
    }
    async fn delete(&self, key: &Key, cond: Option<Cond>) -> Result<(), StoreError> {
        self.1.note("dynamodb:DeleteItem", "");
        self.0.delete(key, cond).await
    }
    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        self.1.note("dynamodb:Query", "");
        self.0.query(query).await
    }
    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), StoreError> {
        // IAM authorises a transaction by the action of each item in it.
        for op in &ops {
            let action = match op {
                TxOp::Put { .. } => "dynamodb:PutItem",
                TxOp::Update { .. } => "dynamodb:UpdateItem",
                TxOp::Delete { .. } => "dynamodb:DeleteItem",
                TxOp::Check { .. } => "dynamodb:ConditionCheckItem",
            };
            self.1.note(action, "");
        }
        self.0.transact(ops).await
    }
}

struct RecQueue(Arc<dyn Queue>, Arc<Recorder>);

#[async_trait]
impl Queue for RecQueue {
    async fn send(&self, queue: &str, msg: OutMessage) -> Result<String, QueueError> {
        self.1.note("sqs:SendMessage", queue);
        self.1.note("sqs:GetQueueUrl", queue);
        self.0.send(queue, msg).await
    }
    async fn send_batch(
        &self,
        queue: &str,
        msgs: Vec<OutMessage>,
    ) -> Result<Vec<String>, QueueError> {
        self.1.note("sqs:SendMessage", queue);
        self.1.note("sqs:GetQueueUrl", queue);
        self.0.send_batch(queue, msgs).await
    }
    async fn receive(
        &self,
        queue: &str,
        max: u32,
        wait: Duration,
    ) -> Result<Vec<Received>, QueueError> {
        self.1.note("sqs:ReceiveMessage", queue);
        self.0.receive(queue, max, wait).await
    }
    async fn delete(&self, queue: &str, receipt: &str) -> Result<(), QueueError> {
        self.1.note("sqs:DeleteMessage", queue);
        self.0.delete(queue, receipt).await
    }
    async fn change_visibility(
        &self,
        queue: &str,
        receipt: &str,
        secs: u32,
    ) -> Result<(), QueueError> {
        self.1.note("sqs:ChangeMessageVisibility", queue);
        self.1.note("sqs:GetQueueUrl", queue);
        self.0.change_visibility(queue, receipt, secs).await
    }
    async fn stats(&self, queue: &str) -> Result<QueueStats, QueueError> {
        self.1.note("sqs:GetQueueAttributes", queue);
        self.0.stats(queue).await
    }
}

struct RecMailer(Arc<dyn Mailer>, Arc<Recorder>);

#[async_trait]
impl Mailer for RecMailer {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        self.1.note("ses:SendEmail", "");
        self.0.send(email).await
    }
}

/// The same deps, every call noted.
pub fn recording(deps: &Deps, recorder: Arc<Recorder>) -> Deps {
    Deps {
        table: Arc::new(RecTable(deps.table.clone(), recorder.clone())),
        queue: Arc::new(RecQueue(deps.queue.clone(), recorder.clone())),
        mailer: Arc::new(RecMailer(deps.mailer.clone(), recorder)),
        ..deps.clone()
    }
}
