//! Throughput of the embedded adapters on this machine: table put, get and conditional
//! update, and a queue's send + receive + delete cycle. One task, one SQLite file in WAL
//! mode, as `zayavka serve` uses it.
//!
//! Run: `cargo bench -p zayavka --bench embedded` (ZAYAVKA_BENCH_N sets the operations per
//! row, default 20000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use zayavka::deps::Embedded;
use zayavka::ports::table::{AttributeValue, Cond, Item, Key, Update};
use zayavka::ports::{OutMessage, Queue, SystemClock, Table};
use zayavka::queues::QueueSpec;

fn row(what: &str, n: usize, took: Duration) {
    println!(
        "| {what:<42} | {n:>7} | {:>9.3} s | {:>10.0} /s |",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );
}

fn item(i: usize) -> Item {
    Item::from([
        ("pk".to_string(), AttributeValue::S(format!("lead#{i}"))),
        ("sk".to_string(), AttributeValue::S("meta".into())),
        ("name".to_string(), AttributeValue::S("Глеб Титов".into())),
        (
            "phone".to_string(),
            AttributeValue::S("+79990001122".into()),
        ),
        ("status".to_string(), AttributeValue::S("processing".into())),
        ("attempts".to_string(), AttributeValue::N("0".into())),
    ])
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("ZAYAVKA_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let specs = vec![
        QueueSpec::new("bench", 30).with_dead_letter("bench-dlq", 5),
        QueueSpec::new("bench-dlq", 30),
    ];
    let store = Embedded::open(dir.path(), specs, Arc::new(SystemClock)).expect("open store");
    let table = store.table.clone();
    let queue = store.queue.clone();

    println!("| operation | count | time | rate |");
    println!("|---|---:|---:|---:|");

    let t = Instant::now();
    for i in 0..n {
        table.put(item(i), None).await.expect("put");
    }
    row("table put", n, t.elapsed());

    let t = Instant::now();
    for i in 0..n {
        let got = table
            .get(&Key::new(format!("lead#{i}"), "meta"))
            .await
            .expect("get");
        assert!(got.is_some());
    }
    row("table get", n, t.elapsed());

    let t = Instant::now();
    for i in 0..n {
        table
            .update(
                &Key::new(format!("lead#{i}"), "meta"),
                Update::new()
                    .add("attempts", 1)
                    .add_to_set("succeeded", ["email"])
                    .when(Cond::eq("status", "processing")),
            )
            .await
            .expect("update");
    }
    row("table conditional update (counter + set)", n, t.elapsed());

    let t = Instant::now();
    for i in 0..n {
        queue
            .send("bench", OutMessage::new(format!("{{\"job\":{i}}}")))
            .await
            .expect("send");
    }
    let sent = t.elapsed();
    row("queue send (one message per call)", n, sent);

    let t = Instant::now();
    let mut done = 0;
    while done < n {
        let batch = queue
            .receive("bench", 10, Duration::ZERO)
            .await
            .expect("receive");
        assert!(!batch.is_empty(), "queue ran dry at {done}");
        for m in &batch {
            queue
                .delete("bench", &m.receipt_handle)
                .await
                .expect("delete");
        }
        done += batch.len();
    }
    let consumed = t.elapsed();
    row("queue receive (10) + delete each", n, consumed);
    row(
        "queue send + receive + delete, whole cycle",
        n,
        sent + consumed,
    );

    // The same again, each batch deleted in one call (what serve's event sources do).
    for i in 0..n {
        queue
            .send("bench", OutMessage::new(format!("{{\"job\":{i}}}")))
            .await
            .expect("send");
    }
    let t = Instant::now();
    let mut done = 0;
    while done < n {
        let batch = queue
            .receive("bench", 10, Duration::ZERO)
            .await
            .expect("receive");
        assert!(!batch.is_empty(), "queue ran dry at {done}");
        let receipts: Vec<String> = batch.iter().map(|m| m.receipt_handle.clone()).collect();
        queue
            .delete_batch("bench", &receipts)
            .await
            .expect("delete");
        done += batch.len();
    }
    row("queue receive (10) + delete_batch", n, t.elapsed());

    let t = Instant::now();
    for chunk in 0..n / 10 {
        let msgs = (0..10)
            .map(|j| OutMessage::new(format!("{{\"job\":{}}}", chunk * 10 + j)))
            .collect();
        queue.send_batch("bench", msgs).await.expect("send batch");
    }
    row(
        "queue send_batch (10 per call), messages",
        n / 10 * 10,
        t.elapsed(),
    );
}
