//! The queue port's contract, checked on the embedded queue and on SQS (moto) alike.

use std::time::{Duration, Instant};

use zayavka::ports::{OutMessage, QueueError, Received};
use zayavka::queues::QueueSpec;

use crate::both;
use crate::support::{Kind, queue};

const WORK: &str = "work";
const DLQ: &str = "work-dlq";

fn specs(visibility: u32, max_receives: u32) -> Vec<QueueSpec> {
    vec![
        QueueSpec::new(WORK, visibility).with_dead_letter(DLQ, max_receives),
        QueueSpec::new(DLQ, visibility),
    ]
}

/// Receives until `want` messages arrived or `within` passed.
async fn receive_n(
    q: &dyn zayavka::ports::Queue,
    name: &str,
    want: usize,
    within: Duration,
) -> Vec<Received> {
    let start = Instant::now();
    let mut got = Vec::new();
    while got.len() < want && start.elapsed() < within {
        got.extend(
            q.receive(name, 10, Duration::from_millis(200))
                .await
                .expect("receive"),
        );
    }
    got
}

both!(batch_send_delivers_bodies_and_attributes_then_delete_empties);
async fn batch_send_delivers_bodies_and_attributes_then_delete_empties(kind: Kind) {
    let t = queue(kind, specs(30, 5)).await;
    let msgs: Vec<OutMessage> = (0..10)
        .map(|i| {
            OutMessage::new(format!("{{\"job\":{i},\"text\":\"заявка\"}}"))
                .attribute("kind", format!("k{i}"))
        })
        .collect();
    let ids = t.queue.send_batch(WORK, msgs).await.unwrap();
    assert_eq!(ids.len(), 10);
    assert!(ids.iter().all(|id| !id.is_empty()));
    let got = receive_n(t.queue.as_ref(), WORK, 10, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 10);
    let mut bodies: Vec<_> = got.iter().map(|m| m.body.clone()).collect();
    bodies.sort();
    let mut expected: Vec<_> = (0..10)
        .map(|i| format!("{{\"job\":{i},\"text\":\"заявка\"}}"))
        .collect();
    expected.sort();
    assert_eq!(bodies, expected);
    for m in &got {
        assert_eq!(m.receive_count, 1);
        let i: serde_json::Value = serde_json::from_str(&m.body).unwrap();
        assert_eq!(m.attributes["kind"], format!("k{}", i["job"]));
        assert!(ids.contains(&m.message_id));
    }
    for m in &got {
        t.queue.delete(WORK, &m.receipt_handle).await.unwrap();
    }
    let stats = t.queue.stats(WORK).await.unwrap();
    assert_eq!((stats.visible, stats.in_flight, stats.delayed), (0, 0, 0));
}

both!(a_received_message_is_hidden_until_its_visibility_timeout);
async fn a_received_message_is_hidden_until_its_visibility_timeout(kind: Kind) {
    let t = queue(kind, specs(1, 5)).await;
    t.queue.send(WORK, OutMessage::new("once")).await.unwrap();
    let first = receive_n(t.queue.as_ref(), WORK, 1, Duration::from_secs(5)).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].receive_count, 1);
    let during = t.queue.receive(WORK, 10, Duration::ZERO).await.unwrap();
    assert!(during.is_empty(), "visible while in flight: {during:?}");
    assert_eq!(t.queue.stats(WORK).await.unwrap().in_flight, 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let again = receive_n(t.queue.as_ref(), WORK, 1, Duration::from_secs(5)).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].message_id, first[0].message_id);
    assert_eq!(again[0].receive_count, 2);
    // Visibility can be shortened: 0 returns the message at once.
    t.queue
        .change_visibility(WORK, &again[0].receipt_handle, 0)
        .await
        .unwrap();
    let third = t
        .queue
        .receive(WORK, 1, Duration::from_millis(500))
        .await
        .unwrap();
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].receive_count, 3);
}

both!(a_message_received_too_often_moves_to_the_dead_letter_queue);
async fn a_message_received_too_often_moves_to_the_dead_letter_queue(kind: Kind) {
    let t = queue(kind, specs(30, 2)).await;
    t.queue.send(WORK, OutMessage::new("poison")).await.unwrap();
    for attempt in 1..=2 {
        let got = receive_n(t.queue.as_ref(), WORK, 1, Duration::from_secs(5)).await;
        assert_eq!(got.len(), 1, "attempt {attempt}");
        assert_eq!(got[0].receive_count, attempt);
        t.queue
            .change_visibility(WORK, &got[0].receipt_handle, 0)
            .await
            .unwrap();
    }
    let third = t
        .queue
        .receive(WORK, 10, Duration::from_millis(300))
        .await
        .unwrap();
    assert!(third.is_empty(), "delivered a third time: {third:?}");
    let dead = receive_n(t.queue.as_ref(), DLQ, 1, Duration::from_secs(5)).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, "poison");
}

both!(a_delayed_message_waits);
async fn a_delayed_message_waits(kind: Kind) {
    let t = queue(kind, specs(30, 5)).await;
    t.queue
        .send(WORK, OutMessage::new("later").delay(1))
        .await
        .unwrap();
    let now = t.queue.receive(WORK, 10, Duration::ZERO).await.unwrap();
    assert!(now.is_empty());
    assert_eq!(t.queue.stats(WORK).await.unwrap().delayed, 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let got = receive_n(t.queue.as_ref(), WORK, 1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, "later");
}

both!(bad_requests_and_unknown_queues_are_errors);
async fn bad_requests_and_unknown_queues_are_errors(kind: Kind) {
    let t = queue(kind, specs(30, 5)).await;
    let unknown = t.queue.send("no-such-queue", OutMessage::new("x")).await;
    assert!(
        matches!(unknown, Err(QueueError::UnknownQueue(_))),
        "{unknown:?}"
    );
    let eleven = (0..11).map(|i| OutMessage::new(i.to_string())).collect();
    assert!(matches!(
        t.queue.send_batch(WORK, eleven).await,
        Err(QueueError::Invalid(_))
    ));
    assert!(matches!(
        t.queue.send(WORK, OutMessage::new("")).await,
        Err(QueueError::Invalid(_))
    ));
    assert!(matches!(
        t.queue.send(WORK, OutMessage::new("x").delay(901)).await,
        Err(QueueError::Invalid(_))
    ));
    let stale = t.queue.change_visibility(WORK, "not-a-receipt", 0).await;
    assert!(matches!(stale, Err(QueueError::Invalid(_))), "{stale:?}");
}

const FIFO: &str = "work.fifo";
const FIFO_DLQ: &str = "work-dlq.fifo";

both!(a_fifo_queue_keeps_each_groups_order_holds_a_group_while_one_is_in_flight_and_drops_repeats);
async fn a_fifo_queue_keeps_each_groups_order_holds_a_group_while_one_is_in_flight_and_drops_repeats(
    kind: Kind,
) {
    let t = queue(
        kind,
        vec![
            QueueSpec::new(FIFO, 30).with_dead_letter(FIFO_DLQ, 5),
            QueueSpec::new(FIFO_DLQ, 30),
        ],
    )
    .await;
    for (group, n) in [("a", 1), ("a", 2), ("b", 1), ("a", 3), ("b", 2)] {
        t.queue
            .send(
                FIFO,
                OutMessage::new(format!("{group}{n}")).in_group(group, format!("{group}-{n}")),
            )
            .await
            .unwrap();
    }
    // The same de-duplication id again: dropped.
    t.queue
        .send(FIFO, OutMessage::new("a1 again").in_group("a", "a-1"))
        .await
        .unwrap();
    let mut order = Vec::new();
    let start = Instant::now();
    while order.len() < 5 && start.elapsed() < Duration::from_secs(10) {
        for m in t
            .queue
            .receive(FIFO, 10, Duration::from_millis(200))
            .await
            .unwrap()
        {
            t.queue.delete(FIFO, &m.receipt_handle).await.unwrap();
            order.push(m.body);
        }
    }
    let of = |g: char| {
        order
            .iter()
            .filter(|b| b.starts_with(g))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(of('a'), ["a1", "a2", "a3"], "{order:?}");
    assert_eq!(of('b'), ["b1", "b2"], "{order:?}");
    assert!(
        t.queue
            .receive(FIFO, 10, Duration::from_millis(300))
            .await
            .unwrap()
            .is_empty()
    );
    // While a group's message is in flight, the group's next one waits; others do not.
    for (body, dedup) in [("a4", "a-4"), ("a5", "a-5")] {
        t.queue
            .send(FIFO, OutMessage::new(body).in_group("a", dedup))
            .await
            .unwrap();
    }
    let first = t
        .queue
        .receive(FIFO, 1, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].body, "a4");
    t.queue
        .send(FIFO, OutMessage::new("c1").in_group("c", "c-1"))
        .await
        .unwrap();
    let next = receive_n(t.queue.as_ref(), FIFO, 1, Duration::from_secs(3)).await;
    let bodies: Vec<&str> = next.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["c1"], "a5 waits behind a4");
    // A FIFO queue's message names its group.
    assert!(matches!(
        t.queue.send(FIFO, OutMessage::new("no group")).await,
        Err(QueueError::Invalid(_))
    ));
    // A message of a FIFO queue takes no delay of its own.
    let delayed = OutMessage::new("x").in_group("a", "a-x").delay(5);
    assert!(matches!(
        t.queue.send(FIFO, delayed).await,
        Err(QueueError::Invalid(_))
    ));
}

both!(a_batch_delete_removes_exactly_the_messages_it_names);
async fn a_batch_delete_removes_exactly_the_messages_it_names(kind: Kind) {
    let t = queue(kind, specs(1, 5)).await;
    let msgs: Vec<OutMessage> = (0..6).map(|i| OutMessage::new(format!("m{i}"))).collect();
    t.queue.send_batch(WORK, msgs).await.unwrap();
    let got = receive_n(t.queue.as_ref(), WORK, 6, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 6);
    let (gone, kept): (Vec<&Received>, Vec<&Received>) =
        got.iter().partition(|m| m.body != "m1" && m.body != "m4");
    let receipts: Vec<String> = gone.iter().map(|m| m.receipt_handle.clone()).collect();
    t.queue.delete_batch(WORK, &receipts).await.unwrap();
    t.queue.delete_batch(WORK, &[]).await.unwrap();
    // The two kept come back after their visibility timeout; the four deleted never.
    let again = receive_n(t.queue.as_ref(), WORK, 2, Duration::from_secs(10)).await;
    let mut bodies: Vec<&str> = again.iter().map(|m| m.body.as_str()).collect();
    bodies.sort();
    assert_eq!(bodies, ["m1", "m4"], "kept: {kept:?}");
}
