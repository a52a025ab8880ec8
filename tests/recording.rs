//! Adapters around the real ones that tell an observer of every request: which AWS call it
//! would be, on which queue, and which IAM actions it needs. The cost test counts them; the
//! sample replay checks them against each function's policies in template.yaml.

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

/// Told of every request the wrapped adapters pass on.
pub trait Observer: Send + Sync {
    /// `api`: the AWS API call (`GetItem`, `TransactWriteItems`, `SendMessageBatch` …);
    /// `queue`: the logical queue, or "" for the table and SES; `items`: items written in a
    /// transaction or read by a query; `iam`: the IAM actions the call needs.
    fn request(&self, api: &'static str, queue: &str, items: u64, iam: &[&'static str]);
}

/// (IAM action, queue or "" for the table and SES) per function label.
pub type Seen = BTreeMap<String, BTreeSet<(String, String)>>;

/// Notes the IAM actions of each call under the function the test says is running.
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

    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }
}

impl Observer for Recorder {
    fn request(&self, _api: &'static str, queue: &str, _items: u64, iam: &[&'static str]) {
        let label = self.current.lock().unwrap().clone();
        let mut seen = self.seen.lock().unwrap();
        let entry = seen.entry(label).or_default();
        for action in iam {
            entry.insert((action.to_string(), queue.to_string()));
        }
    }
}

struct ObservedTable(Arc<dyn Table>, Arc<dyn Observer>);

#[async_trait]
impl Table for ObservedTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.1.request("GetItem", "", 0, &["dynamodb:GetItem"]);
        self.0.get(key).await
    }
    async fn put(&self, item: Item, cond: Option<Cond>) -> Result<(), StoreError> {
        self.1.request("PutItem", "", 0, &["dynamodb:PutItem"]);
        self.0.put(item, cond).await
    }
    async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError> {
        self.1
            .request("UpdateItem", "", 0, &["dynamodb:UpdateItem"]);
        self.0.update(key, update).await
    }
    async fn delete(&self, key: &Key, cond: Option<Cond>) -> Result<(), StoreError> {
        self.1
            .request("DeleteItem", "", 0, &["dynamodb:DeleteItem"]);
        self.0.delete(key, cond).await
    }
    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        let page = self.0.query(query).await;
        let items = page.as_ref().map(|p| p.items.len() as u64).unwrap_or(0);
        self.1.request("Query", "", items, &["dynamodb:Query"]);
        page
    }
    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), StoreError> {
        // IAM authorises a transaction by the action of each item in it.
        let iam: Vec<&'static str> = ops
            .iter()
            .map(|op| match op {
                TxOp::Put { .. } => "dynamodb:PutItem",
                TxOp::Update { .. } => "dynamodb:UpdateItem",
                TxOp::Delete { .. } => "dynamodb:DeleteItem",
                TxOp::Check { .. } => "dynamodb:ConditionCheckItem",
            })
            .collect();
        self.1
            .request("TransactWriteItems", "", ops.len() as u64, &iam);
        self.0.transact(ops).await
    }
}

struct ObservedQueue(Arc<dyn Queue>, Arc<dyn Observer>);

const SEND: &[&str] = &["sqs:SendMessage", "sqs:GetQueueUrl"];

#[async_trait]
impl Queue for ObservedQueue {
    async fn send(&self, queue: &str, msg: OutMessage) -> Result<String, QueueError> {
        self.1.request("SendMessage", queue, 1, SEND);
        self.0.send(queue, msg).await
    }
    async fn send_batch(
        &self,
        queue: &str,
        msgs: Vec<OutMessage>,
    ) -> Result<Vec<String>, QueueError> {
        self.1
            .request("SendMessageBatch", queue, msgs.len() as u64, SEND);
        self.0.send_batch(queue, msgs).await
    }
    async fn receive(
        &self,
        queue: &str,
        max: u32,
        wait: Duration,
    ) -> Result<Vec<Received>, QueueError> {
        self.1
            .request("ReceiveMessage", queue, 0, &["sqs:ReceiveMessage"]);
        self.0.receive(queue, max, wait).await
    }
    async fn delete(&self, queue: &str, receipt: &str) -> Result<(), QueueError> {
        self.1
            .request("DeleteMessage", queue, 0, &["sqs:DeleteMessage"]);
        self.0.delete(queue, receipt).await
    }
    async fn change_visibility(
        &self,
        queue: &str,
        receipt: &str,
        secs: u32,
    ) -> Result<(), QueueError> {
        self.1.request(
            "ChangeMessageVisibility",
            queue,
            0,
            &["sqs:ChangeMessageVisibility", "sqs:GetQueueUrl"],
        );
        self.0.change_visibility(queue, receipt, secs).await
    }
    async fn stats(&self, queue: &str) -> Result<QueueStats, QueueError> {
        self.1
            .request("GetQueueAttributes", queue, 0, &["sqs:GetQueueAttributes"]);
        self.0.stats(queue).await
    }
}

struct ObservedMailer(Arc<dyn Mailer>, Arc<dyn Observer>);

#[async_trait]
impl Mailer for ObservedMailer {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        self.1.request("SendEmail", "", 0, &["ses:SendEmail"]);
        self.0.send(email).await
    }
}

/// The same deps, every request told to the observer.
pub fn observed(deps: &Deps, observer: Arc<dyn Observer>) -> Deps {
    Deps {
        table: Arc::new(ObservedTable(deps.table.clone(), observer.clone())),
        queue: Arc::new(ObservedQueue(deps.queue.clone(), observer.clone())),
        mailer: Arc::new(ObservedMailer(deps.mailer.clone(), observer)),
        ..deps.clone()
    }
}
