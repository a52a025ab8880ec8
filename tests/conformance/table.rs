//! The table port's contract, checked on SQLite and on DynamoDB (moto) alike.

use std::collections::HashMap;

use zayavka::ports::table::{
    AttributeValue as A, Cond, Index, Item, Key, Query, StoreError, TxOp, Update,
};
use zayavka::ports::{Clock, SystemClock};

use crate::both;
use crate::support::{Kind, TableUnderTest, table};

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

fn lt(attr: &str, v: A) -> Cond {
    Cond::Lt(attr.into(), v)
}

fn le(attr: &str, v: A) -> Cond {
    Cond::Le(attr.into(), v)
}

fn gt(attr: &str, v: A) -> Cond {
    Cond::Gt(attr.into(), v)
}

fn ge(attr: &str, v: A) -> Cond {
    Cond::Ge(attr.into(), v)
}

fn num(v: &str) -> A {
    A::N(v.into())
}

fn writes(item: Option<&Item>) -> i64 {
    match item.and_then(|i| i.get("writes")) {
        None => 0,
        Some(A::N(count)) => count.parse().expect("a whole number"),
        Some(other) => panic!("writes is not a number: {other:?}"),
    }
}

/// Whether `cond` holds for the item under `key`, asked twice: as a transaction's check
/// (which writes nothing) and as an update counting `writes`. Both must agree, and the stored
/// item must show it: one more write when the condition held, unchanged (or still missing)
/// when it did not.
async fn holds(t: &TableUnderTest, key: &Key, cond: Cond) -> bool {
    let before = t.table.get(key).await.unwrap();
    let checked = match t
        .table
        .transact(vec![TxOp::Check {
            key: key.clone(),
            cond: cond.clone(),
        }])
        .await
    {
        Ok(()) => true,
        Err(StoreError::ConditionFailed) => false,
        Err(e) => panic!("check {cond:?}: {e:?}"),
    };
    assert_eq!(
        t.table.get(key).await.unwrap(),
        before,
        "a check writes nothing"
    );
    let result = t
        .table
        .update(key, Update::new().add("writes", 1).when(cond.clone()))
        .await;
    let after = t.table.get(key).await.unwrap();
    let written = match result {
        Ok(returned) => {
            let after = after.as_ref().expect("a written item is stored");
            assert_eq!(&returned, after, "{cond:?}");
            assert_eq!(writes(Some(after)), writes(before.as_ref()) + 1, "{cond:?}");
            true
        }
        Err(StoreError::ConditionFailed) => {
            assert_eq!(after, before, "{cond:?}: a failed update changes nothing");
            false
        }
        Err(e) => panic!("update {cond:?}: {e:?}"),
    };
    assert_eq!(
        checked, written,
        "a check and an update disagree on {cond:?}"
    );
    written
}

/// Puts `new` under `cond`; says whether it was written, checking the stored item.
async fn put_when(t: &TableUnderTest, new: Item, cond: Cond) -> bool {
    let key = Key::of(&new).unwrap();
    let before = t.table.get(&key).await.unwrap();
    let result = t.table.put(new.clone(), Some(cond.clone())).await;
    let after = t.table.get(&key).await.unwrap();
    match result {
        Ok(()) => {
            assert_eq!(after, Some(new), "{cond:?}");
            true
        }
        Err(StoreError::ConditionFailed) => {
            assert_eq!(after, before, "{cond:?}: a failed put changes nothing");
            false
        }
        Err(e) => panic!("put {cond:?}: {e:?}"),
    }
}

both!(or_holds_when_any_branch_holds);
async fn or_holds_when_any_branch_holds(kind: Kind) {
    let t = table(kind).await;
    let key = Key::new("or", "1");
    t.table
        .put(item("or", "1", &[("status", s("new")), ("n", n(5))]), None)
        .await
        .unwrap();
    let or = |a: Cond, b: Cond| Cond::Or(vec![a, b]);
    assert!(
        holds(
            &t,
            &key,
            or(Cond::eq("status", "done"), Cond::eq("n", 5i64))
        )
        .await
    );
    assert!(
        holds(
            &t,
            &key,
            or(Cond::eq("status", "new"), Cond::eq("n", 99i64))
        )
        .await
    );
    assert!(holds(&t, &key, or(Cond::eq("status", "new"), Cond::eq("n", 5i64))).await);
    assert!(
        !holds(
            &t,
            &key,
            or(Cond::eq("status", "done"), Cond::eq("n", 99i64))
        )
        .await
    );
    assert!(
        !holds(
            &t,
            &key,
            Cond::Or(vec![
                Cond::eq("status", "done"),
                Cond::eq("status", "gone"),
                Cond::Exists("missing".into()),
            ])
        )
        .await
    );
    // Or with item_absent on an existing item: only the other branch can make it hold.
    assert!(holds(&t, &key, or(Cond::item_absent(), Cond::eq("status", "new"))).await);
    assert!(
        !holds(
            &t,
            &key,
            or(Cond::item_absent(), Cond::eq("status", "done"))
        )
        .await
    );
    assert_eq!(writes(t.at("or", "1").await.as_ref()), 4);

    // On a missing item the item_absent branch holds, and the update creates the item.
    let missing = Key::new("or", "2");
    assert!(
        holds(
            &t,
            &missing,
            or(Cond::item_absent(), Cond::eq("status", "held"))
        )
        .await
    );
    let created = t.at("or", "2").await.unwrap();
    assert_eq!(created, item("or", "2", &[("writes", n(1))]));
    // A branch on an attribute alone does not hold on a missing item.
    let missing = Key::new("or", "3");
    assert!(
        !holds(
            &t,
            &missing,
            or(Cond::eq("status", "held"), Cond::Exists("n".into()))
        )
        .await
    );
    assert!(t.at("or", "3").await.is_none());

    // The same through put: the first put creates, the second finds the item there.
    let claim = || or(Cond::item_absent(), Cond::eq("status", "released"));
    assert!(put_when(&t, item("or", "4", &[("status", s("held"))]), claim()).await);
    assert!(!put_when(&t, item("or", "4", &[("status", s("again"))]), claim()).await);
    assert_eq!(t.at("or", "4").await.unwrap()["status"], s("held"));
    t.table
        .put(item("or", "4", &[("status", s("released"))]), None)
        .await
        .unwrap();
    assert!(put_when(&t, item("or", "4", &[("status", s("again"))]), claim()).await);

    // The rate counter: at most `limit` takes, counted in one conditional update.
    let window = Key::new("rate", "w1");
    let take = || Cond::Or(vec![Cond::NotExists("writes".into()), lt("writes", n(3))]);
    for _ in 0..3 {
        assert!(holds(&t, &window, take()).await);
    }
    assert!(!holds(&t, &window, take()).await);
    assert_eq!(t.at("rate", "w1").await.unwrap()["writes"], n(3));
}

both!(ordering_compares_numbers_by_value_and_strings_by_bytes);
async fn ordering_compares_numbers_by_value_and_strings_by_bytes(kind: Kind) {
    let t = table(kind).await;
    let key = Key::new("ord", "1");
    t.table
        .put(
            item(
                "ord",
                "1",
                &[
                    ("nine", n(9)),
                    ("ten", n(10)),
                    ("half", num("0.5")),
                    ("minus", n(-3)),
                    ("ms", n(1_800_000_000_000)),
                    ("text", s("9")),
                    ("word", s("b")),
                    ("cyr", s("я")),
                ],
            ),
            None,
        )
        .await
        .unwrap();
    // Numbers by value: as strings "9" > "10" and "10" < "9.5".
    assert!(holds(&t, &key, lt("nine", n(10))).await);
    assert!(!holds(&t, &key, gt("nine", n(10))).await);
    assert!(holds(&t, &key, gt("ten", n(9))).await);
    assert!(holds(&t, &key, gt("ten", num("9.5"))).await);
    assert!(holds(&t, &key, lt("half", n(1))).await);
    assert!(holds(&t, &key, gt("half", num("0.25"))).await);
    assert!(holds(&t, &key, lt("minus", n(0))).await);
    assert!(holds(&t, &key, gt("minus", n(-10))).await);
    assert!(holds(&t, &key, lt("ms", n(1_800_000_000_001))).await);
    assert!(!holds(&t, &key, lt("ms", n(1_800_000_000_000))).await);
    // The edges: strict against inclusive.
    assert!(!holds(&t, &key, lt("nine", n(9))).await);
    assert!(holds(&t, &key, le("nine", n(9))).await);
    assert!(!holds(&t, &key, le("nine", n(8))).await);
    assert!(!holds(&t, &key, gt("nine", n(9))).await);
    assert!(holds(&t, &key, ge("nine", n(9))).await);
    assert!(!holds(&t, &key, ge("nine", n(10))).await);
    // Strings by bytes.
    assert!(!holds(&t, &key, lt("text", s("10"))).await);
    assert!(holds(&t, &key, gt("text", s("10"))).await);
    assert!(holds(&t, &key, lt("word", s("ba"))).await);
    assert!(holds(&t, &key, gt("word", s("B"))).await);
    assert!(holds(&t, &key, le("word", s("b"))).await);
    assert!(holds(&t, &key, ge("word", s("b"))).await);
    assert!(!holds(&t, &key, lt("word", s("b"))).await);
    assert!(holds(&t, &key, gt("cyr", s("z"))).await);
    // A missing attribute compares with nothing.
    for cond in [
        lt("absent", n(100)),
        le("absent", n(100)),
        gt("absent", n(-100)),
        ge("absent", n(-100)),
        lt("absent", s("zzz")),
    ] {
        assert!(!holds(&t, &key, cond).await);
    }
    // Nor on a missing item, where the update creates nothing.
    let missing = Key::new("ord", "404");
    assert!(!holds(&t, &missing, lt("nine", n(100))).await);
    assert!(!holds(&t, &missing, ge("nine", n(-100))).await);
    assert!(t.at("ord", "404").await.is_none());
    // A number and a string do not compare, whichever way round.
    for cond in [
        lt("nine", s("99")),
        le("nine", s("99")),
        gt("nine", s("0")),
        ge("nine", s("0")),
        lt("text", n(100)),
        gt("text", n(0)),
        Cond::eq("nine", "9"),
        Cond::eq("text", 9i64),
    ] {
        assert!(!holds(&t, &key, cond).await);
    }
    assert_eq!(writes(t.at("ord", "1").await.as_ref()), 16);
}

both!(negations_hold_where_the_condition_does_not);
async fn negations_hold_where_the_condition_does_not(kind: Kind) {
    let t = table(kind).await;
    let key = Key::new("not", "1");
    t.table
        .put(item("not", "1", &[("state", s("held")), ("n", n(1))]), None)
        .await
        .unwrap();
    // Not(Eq) holds on a missing attribute, where Eq itself does not.
    assert!(!holds(&t, &key, Cond::eq("absent", "x")).await);
    assert!(holds(&t, &key, Cond::eq("absent", "x").negate()).await);
    assert!(!holds(&t, &key, Cond::eq("state", "held").negate()).await);
    assert!(holds(&t, &key, Cond::eq("state", "free").negate()).await);
    assert!(holds(&t, &key, Cond::eq("state", "held").negate().negate()).await);
    // Not(Exists) is NotExists, on a present attribute and a missing one.
    for attr in ["state", "absent"] {
        let negated = holds(&t, &key, Cond::Exists(attr.into()).negate()).await;
        let not_exists = holds(&t, &key, Cond::NotExists(attr.into())).await;
        assert_eq!(negated, not_exists, "{attr}");
        assert_eq!(negated, attr == "absent", "{attr}");
    }
    // A negated comparison that cannot be made holds.
    assert!(holds(&t, &key, lt("n", s("x")).negate()).await);
    assert!(holds(&t, &key, lt("absent", n(5)).negate()).await);
    // Not(And): holds unless every part does.
    let both_hold = Cond::eq("state", "held").and(Cond::eq("n", 1i64));
    let one_holds = Cond::eq("state", "held").and(Cond::eq("n", 2i64));
    assert!(holds(&t, &key, both_hold.clone()).await);
    assert!(!holds(&t, &key, both_hold.negate()).await);
    assert!(!holds(&t, &key, one_holds.clone()).await);
    assert!(holds(&t, &key, one_holds.negate()).await);
    // Not(Or): holds only when no branch does.
    let or = |a: Cond, b: Cond| Cond::Or(vec![a, b]);
    assert!(
        !holds(
            &t,
            &key,
            or(Cond::eq("n", 5i64), Cond::eq("state", "held")).negate()
        )
        .await
    );
    assert!(
        holds(
            &t,
            &key,
            or(Cond::eq("n", 5i64), Cond::eq("state", "free")).negate()
        )
        .await
    );
    // An Or nested inside an And.
    let nested = |first: Cond, branch: &str| {
        Cond::Exists("state".into())
            .and(first)
            .and(or(Cond::eq("n", 5i64), Cond::eq("state", branch)))
    };
    assert!(holds(&t, &key, nested(Cond::item_exists(), "held")).await);
    assert!(!holds(&t, &key, nested(Cond::item_exists(), "free")).await);
    assert!(!holds(&t, &key, nested(Cond::NotExists("n".into()), "held")).await);
    // What holds on no item at all: a negation creates it through an update and a put.
    let missing = Key::new("not", "2");
    assert!(!holds(&t, &missing, Cond::eq("state", "held")).await);
    assert!(holds(&t, &missing, Cond::item_exists().negate()).await);
    assert_eq!(
        t.at("not", "2").await.unwrap(),
        item("not", "2", &[("writes", n(1))])
    );
    let fresh = item("not", "3", &[("state", s("held"))]);
    assert!(put_when(&t, fresh.clone(), Cond::eq("state", "held").negate()).await);
    assert!(!put_when(&t, fresh, Cond::eq("state", "held").negate()).await);
}

both!(a_lease_can_be_taken_over_only_once_it_has_ended);
async fn a_lease_can_be_taken_over_only_once_it_has_ended(kind: Kind) {
    let t = table(kind).await;
    // Milliseconds, as the claims keep them; `now` lives only in the condition.
    let lease_ms = 30_000;
    let start = 1_800_000_000_000;
    let claim = |owner: &str, now_ms: i64| {
        Update::new()
            .set("state", "claimed")
            .set("lease_until", now_ms + lease_ms)
            .set("owner", owner)
            .when(Cond::Or(vec![
                Cond::item_absent(),
                Cond::eq("state", "claimed").and(lt("lease_until", n(now_ms))),
            ]))
    };
    let key = Key::new("claim", "lease");
    let try_claim = |owner: &'static str, now_ms: i64| {
        let t = &t;
        let key = &key;
        async move {
            let before = t.table.get(key).await.unwrap();
            match t.table.update(key, claim(owner, now_ms)).await {
                Ok(item) => {
                    assert_eq!(t.table.get(key).await.unwrap().as_ref(), Some(&item));
                    true
                }
                Err(StoreError::ConditionFailed) => {
                    assert_eq!(t.table.get(key).await.unwrap(), before);
                    false
                }
                Err(e) => panic!("claim by {owner} at {now_ms}: {e:?}"),
            }
        }
    };
    // Nobody holds it: the first claim creates the item.
    assert!(try_claim("a", start).await);
    let held = t.at("claim", "lease").await.unwrap();
    assert_eq!(held["owner"], s("a"));
    assert_eq!(held["lease_until"], n(start + lease_ms));
    // While the lease runs, and at its very end, nobody else takes it.
    assert!(!try_claim("b", start + 1).await);
    assert!(!try_claim("b", start + lease_ms - 1).await);
    assert!(!try_claim("b", start + lease_ms).await);
    assert_eq!(t.at("claim", "lease").await.unwrap()["owner"], s("a"));
    // Once it has ended, one caller takes it over with a lease of its own.
    let later = start + lease_ms + 1;
    assert!(try_claim("b", later).await);
    let taken = t.at("claim", "lease").await.unwrap();
    assert_eq!(taken["owner"], s("b"));
    assert_eq!(taken["lease_until"], n(later + lease_ms));
    assert!(!try_claim("c", later).await);
    assert_eq!(t.at("claim", "lease").await.unwrap()["owner"], s("b"));

    // A lease put there directly behaves the same; a settled claim is never taken.
    t.table
        .put(
            item(
                "claim",
                "put",
                &[("state", s("claimed")), ("lease_until", n(start))],
            ),
            None,
        )
        .await
        .unwrap();
    let key = Key::new("claim", "put");
    let free = |now_ms: i64| {
        Cond::Or(vec![
            Cond::item_absent(),
            Cond::eq("state", "claimed").and(lt("lease_until", n(now_ms))),
        ])
    };
    assert!(!holds(&t, &key, free(start - 1)).await);
    assert!(!holds(&t, &key, free(start)).await);
    assert!(holds(&t, &key, free(start + 1)).await);
    t.table
        .update(&key, Update::new().set("state", "done"))
        .await
        .unwrap();
    assert!(!holds(&t, &key, free(start + 1_000_000)).await);
    assert_eq!(t.at("claim", "put").await.unwrap()["state"], s("done"));
}
