//! Adapters around the real ones that tell an observer of every request: which AWS call it
//! would be, on which queue, and which IAM actions it needs. The cost test counts them; the
//! sample replay checks them against each function's policies in template.yaml.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use zayavka::Deps;
use zayavka::ports::table::{AttributeValue, Cond};
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

    /// The partition a table request reads or writes, once per item (each item of a
    /// transaction is authorised on its own), with the IAM action it needs; `index` when a
    /// query reads gsi1, whose partitions are the index's. What the template's
    /// `dynamodb:LeadingKeys` conditions are checked against.
    fn partition(&self, _action: &'static str, _pk: &str, _index: bool) {}

    /// The sender (SES's `Source`) of a message sent: what the template's `ses:FromAddress`
    /// condition compares.
    fn sender(&self, _from: &str) {}

    /// Whether to be told the capacity units each table request would consume (that takes
    /// a read of the item before each write, which the cost test wants and others need not).
    fn wants_capacity(&self) -> bool {
        false
    }

    /// The capacity units DynamoDB on-demand would bill for one request: write units on the
    /// table, write units on the index (gsi1 projects every attribute, so an item on it is
    /// written there too), read units.
    fn capacity(&self, _wru: f64, _index_wru: f64, _rru: f64) {}
}

/// An item's size as DynamoDB bills it, from its published rules (not from the code under
/// test): attribute names plus values; a number is about one byte per two significant
/// digits plus one; a map or list adds three bytes and one per element.
pub fn item_size(item: &Item) -> u64 {
    item.iter()
        .map(|(name, v)| name.len() as u64 + value_size(v))
        .sum()
}

fn value_size(v: &AttributeValue) -> u64 {
    match v {
        AttributeValue::S(s) => s.len() as u64,
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.len() as u64,
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(l) => l.iter().map(|s| s.len() as u64).sum(),
        AttributeValue::Ns(l) => l.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(l) => l.iter().map(|b| b.len() as u64).sum(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, v)| k.len() as u64 + value_size(v) + 1)
                .sum::<u64>()
        }
        AttributeValue::L(l) => 3 + l.iter().map(|v| value_size(v) + 1).sum::<u64>(),
    }
}

fn number_size(n: &str) -> u64 {
    let digits = n
        .trim_start_matches(['-', '0'])
        .chars()
        .filter(char::is_ascii_digit)
        .count() as u64;
    digits.div_ceil(2) + 1
}

/// Write units for a write that finds `before` and leaves `after` (bytes): the larger, in
/// whole kilobytes, at least one.
fn write_units(before: u64, after: u64) -> f64 {
    before.max(after).div_ceil(1024).max(1) as f64
}

/// Write units on gsi1 for a write that turns `before` into `after`: a put where the item
/// joins the index, a delete where it leaves, an update where it stays and changes (a
/// change of its index key is a delete and a put).
fn index_units(before: Option<&Item>, after: Option<&Item>) -> f64 {
    fn on(i: Option<&Item>) -> Option<&Item> {
        i.filter(|i| i.contains_key("gsi1pk"))
    }
    match (on(before), on(after)) {
        (None, None) => 0.0,
        (None, Some(a)) => write_units(0, item_size(a)),
        (Some(b), None) => write_units(item_size(b), 0),
        (Some(b), Some(a)) if b == a => 0.0,
        (Some(b), Some(a))
            if b.get("gsi1pk") != a.get("gsi1pk") || b.get("gsi1sk") != a.get("gsi1sk") =>
        {
            write_units(item_size(b), 0) + write_units(0, item_size(a))
        }
        (Some(b), Some(a)) => write_units(item_size(b), item_size(a)),
    }
}

/// Read units for reading `bytes`: whole 4 KB blocks, at least one; half for an
/// eventually consistent read.
fn read_units(bytes: u64, consistent: bool) -> f64 {
    let units = bytes.div_ceil(4096).max(1) as f64;
    if consistent { units } else { units / 2.0 }
}

/// (IAM action, queue or "" for the table and SES) per function label.
pub type Seen = BTreeMap<String, BTreeSet<(String, String)>>;

/// (IAM action, partition key, whether on gsi1) per function label.
pub type Partitions = BTreeMap<String, BTreeSet<(String, String, bool)>>;

/// The senders of the messages sent, per function label.
pub type Senders = BTreeMap<String, BTreeSet<String>>;

/// Notes the IAM actions of each call under the function the test says is running.
#[derive(Default)]
pub struct Recorder {
    current: Mutex<String>,
    seen: Mutex<Seen>,
    partitions: Mutex<Partitions>,
    senders: Mutex<Senders>,
}

impl Recorder {
    /// Calls from now on are the named function's (the binary's name).
    pub fn now(&self, label: &str) {
        *self.current.lock().unwrap() = label.to_string();
    }

    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }

    pub fn partitions(&self) -> Partitions {
        self.partitions.lock().unwrap().clone()
    }

    pub fn senders(&self) -> Senders {
        self.senders.lock().unwrap().clone()
    }

    fn label(&self) -> String {
        self.current.lock().unwrap().clone()
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

    fn partition(&self, action: &'static str, pk: &str, index: bool) {
        let label = self.label();
        let mut partitions = self.partitions.lock().unwrap();
        partitions
            .entry(label)
            .or_default()
            .insert((action.to_string(), pk.to_string(), index));
    }

    fn sender(&self, from: &str) {
        let label = self.label();
        let mut senders = self.senders.lock().unwrap();
        senders.entry(label).or_default().insert(from.to_string());
    }
}

struct ObservedTable(Arc<dyn Table>, Arc<dyn Observer>);

impl ObservedTable {
    async fn item_at(&self, key: &Key) -> Option<Item> {
        self.0.get(key).await.ok().flatten()
    }
}

fn size(item: Option<&Item>) -> u64 {
    item.map(item_size).unwrap_or(0)
}

#[async_trait]
impl Table for ObservedTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.1.request("GetItem", "", 0, &["dynamodb:GetItem"]);
        self.1.partition("dynamodb:GetItem", &key.pk, false);
        let got = self.0.get(key).await;
        if let Ok(found) = &got {
            let bytes = found.as_ref().map(item_size).unwrap_or(0);
            self.1.capacity(0.0, 0.0, read_units(bytes, true));
        }
        got
    }
    async fn get_eventually(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.1.request(
            "GetItem (eventually consistent)",
            "",
            0,
            &["dynamodb:GetItem"],
        );
        self.1.partition("dynamodb:GetItem", &key.pk, false);
        let got = self.0.get_eventually(key).await;
        if let Ok(found) = &got {
            let bytes = found.as_ref().map(item_size).unwrap_or(0);
            self.1.capacity(0.0, 0.0, read_units(bytes, false));
        }
        got
    }
    async fn put(&self, item: Item, cond: Option<Cond>) -> Result<(), StoreError> {
        self.1.request("PutItem", "", 0, &["dynamodb:PutItem"]);
        if let Ok(key) = Key::of(&item) {
            self.1.partition("dynamodb:PutItem", &key.pk, false);
        }
        if !self.1.wants_capacity() {
            return self.0.put(item, cond).await;
        }
        let before = match Key::of(&item) {
            Ok(key) => self.item_at(&key).await,
            Err(_) => None,
        };
        let done = self.0.put(item.clone(), cond).await;
        // A put refused by its condition is billed too, by the item it found.
        let after = if done.is_ok() {
            Some(&item)
        } else {
            before.as_ref()
        };
        self.1.capacity(
            write_units(size(before.as_ref()), size(after)),
            index_units(before.as_ref(), after),
            0.0,
        );
        done
    }
    async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError> {
        self.1
            .request("UpdateItem", "", 0, &["dynamodb:UpdateItem"]);
        self.1.partition("dynamodb:UpdateItem", &key.pk, false);
        if !self.1.wants_capacity() {
            return self.0.update(key, update).await;
        }
        let before = self.item_at(key).await;
        let done = self.0.update(key, update).await;
        let after = done.as_ref().ok().or(before.as_ref());
        self.1.capacity(
            write_units(size(before.as_ref()), size(after)),
            index_units(before.as_ref(), after),
            0.0,
        );
        done
    }
    async fn delete(&self, key: &Key, cond: Option<Cond>) -> Result<(), StoreError> {
        self.1
            .request("DeleteItem", "", 0, &["dynamodb:DeleteItem"]);
        self.1.partition("dynamodb:DeleteItem", &key.pk, false);
        if !self.1.wants_capacity() {
            return self.0.delete(key, cond).await;
        }
        let before = self.item_at(key).await;
        let done = self.0.delete(key, cond).await;
        let after = if done.is_ok() { None } else { before.as_ref() };
        self.1.capacity(
            write_units(size(before.as_ref()), 0),
            index_units(before.as_ref(), after),
            0.0,
        );
        done
    }
    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        // Queries of the table read strongly consistent, of the index eventually.
        let consistent = matches!(query.index, zayavka::ports::table::Index::Primary);
        self.1.partition("dynamodb:Query", &query.pk, !consistent);
        let page = self.0.query(query).await;
        let items = page.as_ref().map(|p| p.items.len() as u64).unwrap_or(0);
        self.1.request("Query", "", items, &["dynamodb:Query"]);
        if let Ok(p) = &page {
            let bytes: u64 = p.items.iter().map(item_size).sum();
            self.1.capacity(0.0, 0.0, read_units(bytes, consistent));
        }
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
        for (op, action) in ops.iter().zip(&iam) {
            if let Ok(key) = op.key() {
                self.1.partition(action, &key.pk, false);
            }
        }
        let keys: Vec<Key> = ops.iter().filter_map(|op| op.key().ok()).collect();
        if !self.1.wants_capacity() {
            return self.0.transact(ops).await;
        }
        let mut before = Vec::new();
        for key in &keys {
            before.push(self.item_at(key).await);
        }
        let done = self.0.transact(ops).await;
        // Each item of a transaction is billed twice on the table.
        let (mut units, mut index) = (0.0, 0.0);
        for (key, b) in keys.iter().zip(before) {
            let a = self.item_at(key).await;
            units += 2.0 * write_units(size(b.as_ref()), size(a.as_ref()));
            index += index_units(b.as_ref(), a.as_ref());
        }
        self.1.capacity(units, index, 0.0);
        done
    }
}

struct ObservedQueue(Arc<dyn Queue>, Arc<dyn Observer>);

const SEND: &[&str] = &["sqs:SendMessage", "sqs:GetQueueUrl"];
/// A send to a queue Lambda keeps for a function is, in AWS, an asynchronous invocation of it
/// (`queues::INVOKED`): recorded as the request it is there, against the function's name.
const INVOKE: &[&str] = &["lambda:InvokeFunction"];

#[async_trait]
impl Queue for ObservedQueue {
    async fn send(&self, queue: &str, msg: OutMessage) -> Result<String, QueueError> {
        match zayavka::queues::invoked_function(queue) {
            Some(function) => self.1.request("Invoke", function, 1, INVOKE),
            None => self.1.request("SendMessage", queue, 1, SEND),
        }
        self.0.send(queue, msg).await
    }
    async fn send_batch(
        &self,
        queue: &str,
        msgs: Vec<OutMessage>,
    ) -> Result<Vec<String>, QueueError> {
        match zayavka::queues::invoked_function(queue) {
            // Lambda takes one event per request.
            Some(function) => {
                for _ in &msgs {
                    self.1.request("Invoke", function, 1, INVOKE);
                }
            }
            None => self
                .1
                .request("SendMessageBatch", queue, msgs.len() as u64, SEND),
        }
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
        self.1.sender(&email.from);
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
