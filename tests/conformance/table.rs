//! The table port's contract, checked on SQLite and on DynamoDB (moto) alike.

use std::collections::HashMap;

use zayavka::ports::table::{
    AttributeValue as A, Cond, Index, Item, Key, Query, StoreError, TxOp, Update,
};
use zayavka::ports::{Clock, SystemClock};

use crate::both;
use crate::support::{Kind, table};

fn item(pk: &str, sk: &str, extra: &[(&str, A)]) -> Item {
    let mut it: Item = HashMap::from([
        ("pk".to_string(), A::S(pk.into())),
        ("sk".to_string(), A::S(sk.into())),
    ]);
    for (k, v) in extra {
        it.insert(k.to_string(), v.clone());
    }
    it
}

fn s(v: &str) -> A {
    A::S(v.into())
}

fn n(v: i64) -> A {
    A::N(v.to_string())
}

fn now() -> i64 {
    SystemClock.now_secs()
}

both!(put_get_delete_round_trip_every_type);
async fn put_get_delete_round_trip_every_type(kind: Kind) {
    let t = table(kind).await;
    let it = item(
        "lead#1",
        "meta",
        &[
            ("name", s("Глеб <Титов> & Co")),
            ("count", n(42)),
            ("ratio", A::N("0.5".into())),
            ("ok", A::Bool(true)),
            ("nothing", A::Null(true)),
            ("tags", A::Ss(vec!["a".into(), "b".into()])),
            ("list", A::L(vec![s("x"), n(1)])),
            ("map", A::M(HashMap::from([("k".to_string(), s("v"))]))),
        ],
    );
    t.table.put(it.clone(), None).await.unwrap();
    let got = t
        .table
        .get(&Key::new("lead#1", "meta"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, it);
    assert!(t.at("lead#1", "other").await.is_none());
    t.table
        .delete(&Key::new("lead#1", "meta"), None)
        .await
        .unwrap();
    assert!(t.at("lead#1", "meta").await.is_none());
}

both!(put_if_absent_refuses_to_overwrite);
async fn put_if_absent_refuses_to_overwrite(kind: Kind) {
    let t = table(kind).await;
    t.table
        .put_if_absent(item("claim", "1", &[("by", s("first"))]))
        .await
        .unwrap();
    let err = t
        .table
        .put_if_absent(item("claim", "1", &[("by", s("second"))]))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed), "{err:?}");
    assert!(!err.is_retryable());
    let got = t.at("claim", "1").await.unwrap();
    assert_eq!(got["by"], s("first"));
}

both!(put_if_version_is_optimistic_locking);
async fn put_if_version_is_optimistic_locking(kind: Kind) {
    let t = table(kind).await;
    t.table
        .put(
            item("doc", "1", &[("version", n(1)), ("body", s("v1"))]),
            None,
        )
        .await
        .unwrap();
    t.table
        .put_if_version(
            item("doc", "1", &[("version", n(2)), ("body", s("v2"))]),
            "version",
            1,
        )
        .await
        .unwrap();
    let stale = t
        .table
        .put_if_version(
            item("doc", "1", &[("version", n(2)), ("body", s("lost"))]),
            "version",
            1,
        )
        .await;
    assert!(
        matches!(stale, Err(StoreError::ConditionFailed)),
        "{stale:?}"
    );
    let got = t.at("doc", "1").await.unwrap();
    assert_eq!(got["body"], s("v2"));
}

both!(update_sets_adds_and_removes_and_returns_the_new_item);
async fn update_sets_adds_and_removes_and_returns_the_new_item(kind: Kind) {
    let t = table(kind).await;
    let key = Key::new("batch#1", "meta");
    // An update on a missing item creates it.
    let first = t
        .table
        .update(
            &key,
            Update::new()
                .set("status", "processing")
                .set_if_absent("created_at", "t0")
                .set("scratch", "x")
                .add("attempts", 1)
                .add_to_set("succeeded", ["email"]),
        )
        .await
        .unwrap();
    assert_eq!(first["attempts"], n(1));
    assert_eq!(first["pk"], s("batch#1"));
    // Adding to a set twice is harmless; counters add up; set_if_absent keeps the first.
    let second = t
        .table
        .update(
            &key,
            Update::new()
                .set_if_absent("created_at", "t1")
                .add("attempts", 2)
                .add_to_set("succeeded", ["email", "amocrm"])
                .remove("scratch"),
        )
        .await
        .unwrap();
    assert_eq!(second["attempts"], n(3));
    assert_eq!(second["created_at"], s("t0"));
    match &second["succeeded"] {
        A::Ss(set) => {
            let mut set = set.clone();
            set.sort();
            assert_eq!(set, vec!["amocrm".to_string(), "email".to_string()]);
        }
        other => panic!("not a string set: {other:?}"),
    }
    assert!(!second.contains_key("scratch"));
    assert_eq!(t.table.get(&key).await.unwrap().unwrap(), second);
}

both!(update_under_a_failed_condition_changes_nothing);
async fn update_under_a_failed_condition_changes_nothing(kind: Kind) {
    let t = table(kind).await;
    let key = Key::new("batch#2", "meta");
    t.table
        .update(
            &key,
            Update::new()
                .set("status", "processing")
                .add_to_set("failed", ["amocrm"]),
        )
        .await
        .unwrap();
    let before = t.table.get(&key).await.unwrap().unwrap();
    let err = t
        .table
        .update(
            &key,
            Update::new()
                .set("status", "completed")
                .when(Cond::eq("status", "done")),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed), "{err:?}");
    assert_eq!(t.table.get(&key).await.unwrap().unwrap(), before);
    // The set-membership condition the batch tracker relies on.
    t.table
        .update(
            &key,
            Update::new()
                .set("status", "partial")
                .when(Cond::Contains("failed".into(), "amocrm".into()))
                .when(Cond::eq("status", "processing")),
        )
        .await
        .unwrap();
    let err = t
        .table
        .update(
            &key,
            Update::new()
                .set("status", "x")
                .when(Cond::Contains("failed".into(), "email".into())),
        )
        .await;
    assert!(matches!(err, Err(StoreError::ConditionFailed)), "{err:?}");
    // A condition on a missing item fails and creates nothing.
    let missing = Key::new("batch#404", "meta");
    let err = t
        .table
        .update(
            &missing,
            Update::new().set("a", "b").when(Cond::item_exists()),
        )
        .await;
    assert!(matches!(err, Err(StoreError::ConditionFailed)), "{err:?}");
    assert!(t.table.get(&missing).await.unwrap().is_none());
}

both!(expired_items_are_invisible_before_removal);
async fn expired_items_are_invisible_before_removal(kind: Kind) {
    let t = table(kind).await;
    let past = n(now() - 60);
    let future = n(now() + 3600);
    t.table
        .put(
            item("upd", "1", &[("ttl", past.clone()), ("old", s("stale"))]),
            None,
        )
        .await
        .unwrap();
    t.table
        .put(item("upd", "2", &[("ttl", future.clone())]), None)
        .await
        .unwrap();
    assert!(t.at("upd", "1").await.is_none());
    assert!(t.at("upd", "2").await.is_some());
    let listed = t.table.query_all(Query::pk("upd")).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["sk"], s("2"));
    // An expired claim can be claimed again.
    t.table
        .put_if_absent(item(
            "upd",
            "1",
            &[("ttl", future.clone()), ("by", s("new"))],
        ))
        .await
        .unwrap();
    assert_eq!(t.at("upd", "1").await.unwrap()["by"], s("new"));
    // An update meeting an expired item starts from an empty one.
    t.table
        .put(
            item("upd", "3", &[("ttl", past), ("old", s("stale"))]),
            None,
        )
        .await
        .unwrap();
    let fresh = t
        .table
        .update(
            &Key::new("upd", "3"),
            Update::new()
                .add("n", 1)
                .when(Cond::NotExists("old".into())),
        )
        .await
        .unwrap();
    assert_eq!(fresh["n"], n(1));
    assert!(!fresh.contains_key("old"), "{fresh:?}");
    assert!(!fresh.contains_key("ttl"), "{fresh:?}");
}

both!(query_orders_filters_by_prefix_and_pages);
async fn query_orders_filters_by_prefix_and_pages(kind: Kind) {
    let t = table(kind).await;
    for i in 0..25 {
        t.table
            .put(
                item("thread#1", &format!("msg#{i:03}"), &[("i", n(i))]),
                None,
            )
            .await
            .unwrap();
    }
    t.table
        .put(item("thread#1", "meta", &[]), None)
        .await
        .unwrap();
    t.table
        .put(item("thread#2", "msg#000", &[]), None)
        .await
        .unwrap();

    let mut pages = 0;
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = t
            .table
            .query(Query::pk("thread#1").prefix("msg#").limit(10).after(cursor))
            .await
            .unwrap();
        assert!(page.items.len() <= 10);
        pages += 1;
        seen.extend(page.items.iter().map(|i| i["i"].clone()));
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert!(
        pages >= 3,
        "25 items in pages of 10 take at least 3 pages, got {pages}"
    );
    assert_eq!(seen, (0..25).map(n).collect::<Vec<_>>());

    let newest = t
        .table
        .query(Query::pk("thread#1").prefix("msg#").descending().limit(3))
        .await
        .unwrap();
    let got: Vec<_> = newest.items.iter().map(|i| i["i"].clone()).collect();
    assert_eq!(got, vec![n(24), n(23), n(22)]);
    assert!(newest.cursor.is_some());

    let everything = t.table.query_all(Query::pk("thread#1")).await.unwrap();
    assert_eq!(everything.len(), 26);
    let bad = t
        .table
        .query(Query::pk("thread#1").after(Some("not a cursor".into())))
        .await;
    assert!(matches!(bad, Err(StoreError::Invalid(_))), "{bad:?}");
}

both!(secondary_index_query_orders_and_pages);
async fn secondary_index_query_orders_and_pages(kind: Kind) {
    let t = table(kind).await;
    for i in 0..12 {
        t.table
            .put(
                item(
                    &format!("lead#{i}"),
                    "meta",
                    &[
                        (
                            "gsi1pk",
                            s(if i % 2 == 0 {
                                "status#processing"
                            } else {
                                "status#completed"
                            }),
                        ),
                        ("gsi1sk", s(&format!("2026-11-{:02}", 10 + i))),
                        ("i", n(i)),
                    ],
                ),
                None,
            )
            .await
            .unwrap();
    }
    // Not indexed: only one of the two index attributes.
    t.table
        .put(
            item("lead#x", "meta", &[("gsi1pk", s("status#processing"))]),
            None,
        )
        .await
        .unwrap();
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = t
            .table
            .query(
                Query::gsi1("status#processing")
                    .prefix("2026-11")
                    .descending()
                    .limit(2)
                    .after(cursor),
            )
            .await
            .unwrap();
        all.extend(page.items.into_iter().map(|i| i["i"].clone()));
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(all, vec![n(10), n(8), n(6), n(4), n(2), n(0)]);
    assert_eq!(Query::gsi1("x").index, Index::Gsi1);
}

both!(transactions_apply_all_or_nothing);
async fn transactions_apply_all_or_nothing(kind: Kind) {
    let t = table(kind).await;
    t.table
        .put(item("lead#9", "meta", &[("status", s("new"))]), None)
        .await
        .unwrap();
    let ops = |expected: &str| {
        vec![
            TxOp::Put {
                item: item("batch#9", "meta", &[("lead", s("lead#9"))]),
                cond: Some(Cond::item_absent()),
            },
            TxOp::Update {
                key: Key::new("lead#9", "meta"),
                update: Update::new().set("status", "processing").add("batches", 1),
            },
            TxOp::Check {
                key: Key::new("lead#9", "meta"),
                cond: Cond::eq("status", expected),
            },
        ]
    };
    // Two operations on one item are refused whatever the data.
    let err = t.table.transact(ops("new")).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");

    let all_or_nothing = |expected: &str| {
        vec![
            TxOp::Put {
                item: item("batch#9", "meta", &[("lead", s("lead#9"))]),
                cond: Some(Cond::item_absent()),
            },
            TxOp::Put {
                item: item("batch#9", "job#email", &[("status", s("pending"))]),
                cond: None,
            },
            TxOp::Update {
                key: Key::new("lead#9", "meta"),
                update: Update::new()
                    .set("status", "processing")
                    .when(Cond::eq("status", expected)),
            },
        ]
    };
    let err = t.table.transact(all_or_nothing("gone")).await.unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed), "{err:?}");
    assert!(t.at("batch#9", "meta").await.is_none());
    assert!(t.at("batch#9", "job#email").await.is_none());
    assert_eq!(t.at("lead#9", "meta").await.unwrap()["status"], s("new"));

    t.table.transact(all_or_nothing("new")).await.unwrap();
    assert!(t.at("batch#9", "meta").await.is_some());
    assert!(t.at("batch#9", "job#email").await.is_some());
    assert_eq!(
        t.at("lead#9", "meta").await.unwrap()["status"],
        s("processing")
    );
    // A delete and a check take part too.
    t.table
        .transact(vec![
            TxOp::Delete {
                key: Key::new("batch#9", "job#email"),
                cond: Some(Cond::item_exists()),
            },
            TxOp::Check {
                key: Key::new("batch#9", "meta"),
                cond: Cond::item_exists(),
            },
        ])
        .await
        .unwrap();
    assert!(t.at("batch#9", "job#email").await.is_none());

    let too_many: Vec<TxOp> = (0..26)
        .map(|i| TxOp::Put {
            item: item("many", &i.to_string(), &[]),
            cond: None,
        })
        .collect();
    assert!(matches!(
        t.table.transact(too_many).await,
        Err(StoreError::Invalid(_))
    ));
}

both!(requests_dynamodb_refuses_are_refused);
async fn requests_dynamodb_refuses_are_refused(kind: Kind) {
    let t = table(kind).await;
    let no_sk: Item = HashMap::from([("pk".to_string(), s("x"))]);
    assert!(matches!(
        t.table.put(no_sk, None).await,
        Err(StoreError::Invalid(_))
    ));
    let key_change = t
        .table
        .update(&Key::new("x", "y"), Update::new().set("pk", "z"))
        .await;
    assert!(
        matches!(key_change, Err(StoreError::Invalid(_))),
        "{key_change:?}"
    );
    t.table
        .put(item("x", "y", &[("name", s("a"))]), None)
        .await
        .unwrap();
    let not_a_number = t
        .table
        .update(&Key::new("x", "y"), Update::new().add("name", 1))
        .await;
    assert!(
        matches!(not_a_number, Err(StoreError::Invalid(_))),
        "{not_a_number:?}"
    );
}
