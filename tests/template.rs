//! `template.yaml` declares what the code runs: every function with its routes, built the
//! same way, and the table the adapters expect.

use std::collections::BTreeSet;

use serde_norway::Value;
use zayavka::deps::Deps;

use crate::support::embedded;

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn template() -> Value {
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    serde_norway::from_str(&text).unwrap()
}

fn resources_of_type<'a>(t: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(k, r)| (k.as_str().unwrap(), r))
        .collect()
}

fn function_named<'a>(t: &'a Value, name: &str) -> &'a Value {
    resources_of_type(t, "AWS::Serverless::Function")
        .into_iter()
        .find(|(_, r)| r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(name))
        .map(|(_, r)| r)
        .unwrap_or_else(|| panic!("template.yaml has no function building the {name} binary"))
}

/// The queue's resource in the template: `integration-email` → `IntegrationEmailQueue`.
fn queue_resource(queue: &str) -> String {
    let mut out: String = queue
        .trim_end_matches(".fifo")
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    // A dead-letter queue's resource is `…Dlq`, the others' `…Queue`.
    if !queue.trim_end_matches(".fifo").ends_with("-dlq") {
        out.push_str("Queue");
    }
    out
}

/// The logical id of the function that builds `binary`.
fn function_resource_id(t: &Value, binary: &str) -> String {
    resources_of_type(t, "AWS::Serverless::Function")
        .into_iter()
        .find(|(_, r)| r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(binary))
        .map(|(id, _)| id.to_string())
        .unwrap_or_else(|| panic!("no function builds {binary}"))
}

/// The statements of a function's inline policies: (actions, the statement as text).
fn statements(function: &Value) -> Vec<(BTreeSet<String>, String)> {
    let mut out = Vec::new();
    for policy in function["Properties"]["Policies"]
        .as_sequence()
        .into_iter()
        .flatten()
    {
        for st in policy["Statement"].as_sequence().into_iter().flatten() {
            assert_eq!(st["Effect"], "Allow");
            let actions = match &st["Action"] {
                Value::String(a) => BTreeSet::from([a.clone()]),
                Value::Sequence(list) => list
                    .iter()
                    .map(|a| a.as_str().unwrap().to_string())
                    .collect(),
                other => panic!("unexpected Action {other:?}"),
            };
            out.push((actions, serde_norway::to_string(&st["Resource"]).unwrap()));
        }
    }
    out
}

/// What the functions were seen doing (by binary name) must be allowed by the template:
/// table actions by every deployment of the binary, a queue or SES action by at least one
/// (the integration worker runs once per queue, and only its e-mail deployment sends mail).
pub fn assert_policies_allow(seen: &crate::recording::Seen) {
    let t = template();
    let mut missing = Vec::new();
    for (binary, calls) in seen {
        let deployments: Vec<&Value> = resources_of_type(&t, "AWS::Serverless::Function")
            .into_iter()
            .filter(|(_, r)| r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(binary))
            .map(|(_, r)| r)
            .collect();
        assert!(!deployments.is_empty(), "no function builds {binary}");
        for (action, queue) in calls {
            let allowed_in = |f: &Value| {
                statements(f).iter().any(|(actions, resources)| {
                    actions.contains(action)
                        && if action.starts_with("ssm:") {
                            // `queue` is the parameter, under the stack's path.
                            resources.lines().any(|r| {
                                r.trim_end_matches('"')
                                    .ends_with(&format!("parameter{queue}"))
                            })
                        } else if queue.is_empty() {
                            resources.contains("Table") || action.starts_with("ses:")
                        } else if action.starts_with("lambda:") {
                            // `queue` is the invoked function's binary.
                            resources.contains(&function_resource_id(&t, queue))
                        } else {
                            resources.contains(&queue_resource(queue))
                        }
                })
            };
            // SES is the e-mail integration's alone among the integration worker's deployments.
            // Every deployment reads its secrets at start.
            let ok = if (queue.is_empty() && !action.starts_with("ses:"))
                || action.starts_with("ssm:")
            {
                deployments.iter().all(|f| allowed_in(f))
            } else {
                deployments.iter().any(|f| allowed_in(f))
            };
            if !ok {
                missing.push(format!("{binary}: {action} {queue}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "template.yaml does not allow what the code does:\n{}",
        missing.join("\n")
    );
}

/// One statement of a function's role as IAM reads it for the table.
struct TableGrant {
    actions: BTreeSet<String>,
    /// On the table's own items (`Table.Arn`).
    table: bool,
    /// On its indexes (`${Table.Arn}/index/*`).
    index: bool,
    /// The `ForAllValues:StringLike` patterns on `dynamodb:LeadingKeys`, or `None`: every
    /// partition.
    leading_keys: Option<Vec<String>>,
}

/// The statements of a function's role that name the table or its indexes. A condition
/// other than the one on `dynamodb:LeadingKeys` fails the test: it would be read wrongly.
fn table_grants(function: &Value) -> Vec<TableGrant> {
    let mut out = Vec::new();
    let policies = function["Properties"]["Policies"].as_sequence();
    for st in policies
        .into_iter()
        .flatten()
        .flat_map(|p| p["Statement"].as_sequence().into_iter().flatten())
    {
        let resources: Vec<&Value> = match &st["Resource"] {
            Value::Sequence(list) => list.iter().collect(),
            one => vec![one],
        };
        let tagged = |tag: &str, text: &str| {
            resources
                .iter()
                .any(|r| matches!(r, Value::Tagged(t) if t.tag == tag && t.value == text))
        };
        let table = tagged("GetAtt", "Table.Arn");
        let index = tagged("Sub", "${Table.Arn}/index/*");
        if !table && !index {
            continue;
        }
        let actions = match &st["Action"] {
            Value::String(a) => BTreeSet::from([a.clone()]),
            Value::Sequence(list) => list
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect(),
            other => panic!("unexpected Action {other:?}"),
        };
        let leading_keys = match &st["Condition"] {
            Value::Null => None,
            Value::Mapping(c) => {
                assert_eq!(c.len(), 1, "one condition on the table: {c:?}");
                let keys = &c["ForAllValues:StringLike"];
                let on = keys.as_mapping().unwrap_or_else(|| {
                    panic!("the table's condition is ForAllValues:StringLike: {c:?}")
                });
                assert_eq!(on.len(), 1, "only dynamodb:LeadingKeys: {on:?}");
                let patterns = match &keys["dynamodb:LeadingKeys"] {
                    Value::Sequence(list) => list
                        .iter()
                        .map(|p| p.as_str().unwrap().to_string())
                        .collect(),
                    Value::String(p) => vec![p.clone()],
                    other => panic!("dynamodb:LeadingKeys: patterns, not {other:?}"),
                };
                Some(patterns)
            }
            other => panic!("unexpected Condition {other:?}"),
        };
        out.push(TableGrant {
            actions,
            table,
            index,
            leading_keys,
        });
    }
    out
}

/// IAM's `StringLike`: `*` any run of characters, `?` any one.
fn like(pattern: &str, value: &str) -> bool {
    let (p, v): (Vec<char>, Vec<char>) = (pattern.chars().collect(), value.chars().collect());
    // matched[j]: the pattern so far matches the first j characters of the value.
    let mut matched = vec![false; v.len() + 1];
    matched[0] = true;
    for c in p {
        let mut next = vec![false; v.len() + 1];
        for j in 0..=v.len() {
            next[j] = match c {
                '*' => matched[j] || (j > 0 && next[j - 1]),
                '?' => j > 0 && matched[j - 1],
                c => j > 0 && matched[j - 1] && v[j - 1] == c,
            };
        }
        matched = next;
    }
    matched[v.len()]
}

/// Whether the function's role lets `action` touch partition `pk` of the table (`index`:
/// a query of gsi1, whose partitions are the index's).
fn table_allows(function: &Value, action: &str, pk: &str, index: bool) -> bool {
    table_grants(function).iter().any(|g| {
        g.actions.contains(action)
            && if index { g.index } else { g.table }
            && g.leading_keys
                .as_ref()
                .is_none_or(|patterns| patterns.iter().any(|p| like(p, pk)))
    })
}

/// Every partition a function was seen reading or writing is one its role's
/// `dynamodb:LeadingKeys` allow, in every deployment of its binary.
pub fn assert_leading_keys_allow(partitions: &crate::recording::Partitions) {
    let t = template();
    let mut missing = Vec::new();
    for (binary, calls) in partitions {
        let deployments: Vec<&Value> = resources_of_type(&t, "AWS::Serverless::Function")
            .into_iter()
            .filter(|(_, r)| r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(binary))
            .map(|(_, r)| r)
            .collect();
        assert!(!deployments.is_empty(), "no function builds {binary}");
        for (action, pk, index) in calls {
            if !deployments
                .iter()
                .all(|f| table_allows(f, action, pk, *index))
            {
                let on = if *index {
                    "gsi1 partition"
                } else {
                    "partition"
                };
                missing.push(format!("{binary}: {action} on {on} {pk}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "template.yaml's dynamodb:LeadingKeys do not allow what the code touches:\n{}",
        missing.join("\n")
    );
}

/// Every message was sent from `MAIL_FROM` exactly, the address the template's
/// `ses:FromAddress` condition allows (from the same parameter).
pub fn assert_sent_from(senders: &crate::recording::Senders, mail_from: &str) {
    assert!(!senders.is_empty(), "the replay sent no mail");
    for (binary, from) in senders {
        assert_eq!(
            from,
            &BTreeSet::from([mail_from.to_string()]),
            "{binary} sends from an address other than MAIL_FROM"
        );
    }
}

/// What the replay would report had bridge-api written a staff binding.
#[test]
#[should_panic(expected = "bridge-api: dynamodb:PutItem on partition staff#tg#700100200")]
fn a_partition_outside_a_role_fails_the_replay() {
    let mut seen = crate::recording::Partitions::new();
    seen.entry("bridge-api".into()).or_default().extend([
        (
            "dynamodb:PutItem".into(),
            "bridge#client#telegram_1".into(),
            false,
        ),
        (
            "dynamodb:PutItem".into(),
            "staff#tg#700100200".into(),
            false,
        ),
    ]);
    assert_leading_keys_allow(&seen);
}

#[test]
fn like_matches_as_iam_string_like_does() {
    assert!(like("bridge#*", "bridge#client#telegram_1"));
    assert!(like("bridge#*", "bridge#"));
    assert!(!like("bridge#*", "staff#tg#1"));
    assert!(!like("bridge#*", "xbridge#client"));
    assert!(like("staff#seq", "staff#seq"));
    assert!(!like("staff#seq", "staff#seq#1"));
    assert!(like("a?c*", "abcdef"));
    assert!(!like("a?c", "ac"));
}

#[test]
fn every_role_reaches_the_table_only_in_its_own_partitions() {
    let t = template();
    for (id, f) in resources_of_type(&t, "AWS::Serverless::Function") {
        for g in table_grants(f) {
            if g.table {
                let patterns = g
                    .leading_keys
                    .as_ref()
                    .unwrap_or_else(|| panic!("{id}: table access without dynamodb:LeadingKeys"));
                assert!(!patterns.is_empty(), "{id}");
                for p in patterns {
                    // A prefix of one domain: never everything.
                    assert!(
                        p.len() > 2 && p.contains('#') && !p.starts_with('*'),
                        "{id}: {p}"
                    );
                }
            }
            if g.index {
                // A query of gsi1 is not narrowed by the table's partition keys: it is kept
                // apart, and read-only.
                assert!(
                    !g.table,
                    "{id}: the index in the same statement as the table"
                );
                assert_eq!(
                    g.actions,
                    BTreeSet::from(["dynamodb:Query".to_string()]),
                    "{id}: only queries on the index"
                );
            }
        }
    }
}

#[test]
fn internet_facing_roles_cannot_touch_other_domains_items() {
    let t = template();
    const WRITES: [&str; 4] = [
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
    ];
    // (binary, a partition of its own, partitions of others it must not read or write)
    let cases: [(&str, Option<&str>, &[&str]); 6] = [
        // Anyone on the internet may post a bridge reply or fetch a file link: no staff
        // binding (`staff#tg#…`), user, link or ticket, no lead, no send claim.
        (
            "bridge-api",
            Some("bridge#client#telegram_700200300"),
            &[
                "staff#tg#700100200",
                "staff#user#1",
                "staff#link#token",
                "staff#ticket#1",
                "lead#lead-123",
                "notify#ticket#1#created",
                "support#chat#1",
                "helpdesk#chat#1",
                "tgupdate#staff",
            ],
        ),
        // The support page needs no key at all.
        (
            "support-form",
            Some("support#thread#u1"),
            &[
                "staff#tg#1",
                "bridge#client#telegram_1",
                "lead#lead-123",
                "notify#x",
                "helpdesk#chat#1",
            ],
        ),
        // A website's lead key.
        (
            "lead-submit",
            Some("lead#lead-123"),
            &[
                "staff#tg#1",
                "staff#user#1",
                "bridge#client#telegram_1",
                "support#chat#1",
                "notify#x",
            ],
        ),
        (
            "ticket-api",
            Some("staff#user#1"),
            &[
                "lead#lead-123",
                "bridge#client#telegram_1",
                "support#chat#1",
                "helpdesk#chat#1",
                "tgupdate#staff",
            ],
        ),
        (
            "telegram-webhook",
            Some("staff#tg#1"),
            &["lead#lead-123", "signin#rate#all"],
        ),
        ("okdesk-webhook", None, &["helpdesk#contact#1", "notify#x"]),
    ];
    for (binary, own, others) in cases {
        let f = function_named(&t, binary);
        if let Some(own) = own {
            assert!(
                table_allows(f, "dynamodb:UpdateItem", own, false),
                "{binary}: {own}"
            );
        }
        for pk in others {
            for action in WRITES {
                assert!(
                    !table_allows(f, action, pk, false),
                    "{binary} may {action} on {pk}"
                );
            }
        }
    }
}

#[test]
fn mail_goes_out_only_from_the_configured_sender() {
    let t = template();
    let mut senders = 0;
    for (id, f) in resources_of_type(&t, "AWS::Serverless::Function") {
        for policy in f["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            for st in policy["Statement"].as_sequence().into_iter().flatten() {
                let text = serde_norway::to_string(st).unwrap();
                if !text.contains("ses:Send") {
                    continue;
                }
                assert!(
                    !text.contains("SendRawEmail"),
                    "{id}: a raw message names its own From"
                );
                if !text.contains(":identity/") {
                    // The configuration set alone lets nobody send: the identity is asked too.
                    assert!(text.contains(":configuration-set/"), "{id}: {text}");
                    continue;
                }
                senders += 1;
                let from = &st["Condition"]["StringEquals"]["ses:FromAddress"];
                assert!(
                    matches!(from, Value::Tagged(t) if t.tag == "Ref" && t.value == "MailFrom"),
                    "{id}: SendEmail on every identity without ses:FromAddress = MailFrom: {text}"
                );
                // And the code sends from MAIL_FROM, the same parameter.
                let env = &f["Properties"]["Environment"]["Variables"]["MAIL_FROM"];
                assert!(
                    matches!(env, Value::Tagged(t) if t.tag == "Ref" && t.value == "MailFrom"),
                    "{id}: MAIL_FROM is not MailFrom"
                );
            }
        }
    }
    assert_eq!(
        senders, 2,
        "the e-mail integration and the notification worker"
    );
    // ses:FromAddress is the bare address, so a sender with a display name could send
    // nothing: the parameter takes the bare address only.
    let p = &t["Parameters"]["MailFrom"];
    assert!(p["AllowedPattern"].as_str().is_some(), "{p:?}");
}

/// Every function `zayavka serve` runs, with the test environment (the store must outlive
/// the registry).
fn registry() -> (crate::support::EmbeddedStore, zayavka_cli::serve::Registry) {
    let store = embedded(Vec::new());
    let deps = Deps::embedded(
        &store.parts,
        std::sync::Arc::new(zayavka::ports::SystemClock),
    );
    let registry =
        zayavka_cli::serve::functions(&deps, &crate::support::test_env(&[]), "zayavka-").unwrap();
    (store, registry)
}

#[test]
fn every_http_function_is_declared_with_its_routes() {
    let t = template();
    let (_store, registry) = registry();
    assert!(!registry.http.is_empty());
    for f in &registry.http {
        let resource = function_named(&t, f.name());
        assert_eq!(
            resource["Metadata"]["BuildMethod"],
            "rust-cargolambda",
            "{}",
            f.name()
        );
        let declared: BTreeSet<String> = resource["Properties"]["Events"]
            .as_mapping()
            .map(|events| {
                events
                    .values()
                    .filter(|e| e["Type"] == "HttpApi")
                    .map(|e| {
                        format!(
                            "{} {}",
                            e["Properties"]["Method"].as_str().unwrap(),
                            e["Properties"]["Path"].as_str().unwrap()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let served: BTreeSet<String> = f.routes().into_iter().map(String::from).collect();
        assert_eq!(declared, served, "routes of {}", f.name());
    }
    // And nothing in functions/ is left out of the stack.
    let dirs: BTreeSet<String> = std::fs::read_dir(root().join("functions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let known: BTreeSet<String> = registry
        .http
        .iter()
        .map(|f| f.name().to_string())
        .chain(registry.workers.iter().map(|w| w.name().to_string()))
        .chain(registry.scheduled.iter().map(|s| s.name().to_string()))
        .collect();
    assert_eq!(dirs, known, "functions/ and `zayavka serve` disagree");
}

#[test]
fn functions_run_on_arm64_al2023_with_the_bootstrap_handler() {
    let t = template();
    let g = &t["Globals"]["Function"];
    assert_eq!(g["Runtime"], "provided.al2023");
    assert_eq!(g["Architectures"][0], "arm64");
    assert_eq!(g["Handler"], "bootstrap");
    let table = &g["Environment"]["Variables"]["TABLE_NAME"];
    assert!(
        matches!(table, Value::Tagged(t) if t.tag == "Ref" && t.value == "Table"),
        "{table:?}"
    );
    // Amazon Linux 2023's one bundle, so the roots are not read twice at every start.
    assert_eq!(
        g["Environment"]["Variables"]["SSL_CERT_FILE"],
        "/etc/pki/tls/certs/ca-bundle.crt"
    );
}

#[test]
fn the_table_matches_what_the_adapters_expect() {
    let t = template();
    let tables = resources_of_type(&t, "AWS::DynamoDB::Table");
    assert_eq!(tables.len(), 1);
    let p = &tables[0].1["Properties"];
    assert_eq!(p["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        p["TimeToLiveSpecification"]["AttributeName"],
        zayavka::ports::table::TTL
    );
    assert_eq!(p["TimeToLiveSpecification"]["Enabled"], true);
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    let keys: Vec<_> = p["KeySchema"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap(),
                k["KeyType"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(keys, vec![("pk", "HASH"), ("sk", "RANGE")]);
    let gsi = &p["GlobalSecondaryIndexes"][0];
    assert_eq!(gsi["IndexName"], zayavka::ports::table::GSI1);
    assert_eq!(gsi["KeySchema"][0]["AttributeName"], "gsi1pk");
    assert_eq!(gsi["KeySchema"][1]["AttributeName"], "gsi1sk");
}

fn sub_name(v: &Value) -> Option<String> {
    match v {
        Value::Tagged(t) if t.tag == "Sub" => t
            .value
            .as_str()
            .map(|s| s.replace("${AWS::StackName}-", "")),
        _ => None,
    }
}

/// The queue resource (logical id, properties) whose QueueName is `<stack>-<name>`.
fn queue_named<'a>(t: &'a Value, name: &str) -> (&'a str, &'a Value) {
    resources_of_type(t, "AWS::SQS::Queue")
        .into_iter()
        .find(|(_, r)| sub_name(&r["Properties"]["QueueName"]).as_deref() == Some(name))
        .map(|(id, r)| (id, &r["Properties"]))
        .unwrap_or_else(|| panic!("template.yaml has no queue {name}"))
}

fn get_att_target(v: &Value) -> Option<String> {
    match v {
        Value::Tagged(t) if t.tag == "GetAtt" => t
            .value
            .as_str()
            .and_then(|s| s.split('.').next())
            .map(String::from),
        _ => None,
    }
}

#[test]
fn queues_match_the_catalogue_and_every_worker_consumes_its_queues() {
    let t = template();
    for spec in zayavka::queues::catalogue() {
        if let Some(binary) = zayavka::queues::invoked_function(&spec.name) {
            assert_kept_by_lambda(&t, &spec, binary);
            continue;
        }
        let (_, q) = queue_named(&t, &spec.name);
        assert_eq!(
            q["VisibilityTimeout"], spec.visibility_timeout_secs as u64,
            "{}",
            spec.name
        );
        if let Some(dlq) = &spec.dead_letter {
            let (dlq_id, _) = queue_named(&t, dlq);
            assert_eq!(
                q["RedrivePolicy"]["maxReceiveCount"], spec.max_receives as u64,
                "{}",
                spec.name
            );
            assert_eq!(
                get_att_target(&q["RedrivePolicy"]["deadLetterTargetArn"]).as_deref(),
                Some(dlq_id)
            );
            // Every dead-letter queue has an alarm on its depth.
            let alarmed = resources_of_type(&t, "AWS::CloudWatch::Alarm")
                .into_iter()
                .any(|(_, a)| {
                    get_att_target(&a["Properties"]["Dimensions"][0]["Value"]).as_deref()
                        == Some(dlq_id)
                });
            assert!(alarmed, "no alarm on {dlq}");
        }
    }
    let (_store, registry) = registry();
    for worker in &registry.workers {
        if worker
            .queues()
            .iter()
            .all(|q| zayavka::queues::invoked_function(q) == Some(worker.name()))
        {
            continue; // checked by assert_kept_by_lambda
        }
        let mut consumed = BTreeSet::new();
        for (_, f) in resources_of_type(&t, "AWS::Serverless::Function")
            .into_iter()
            .filter(|(_, r)| {
                r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(worker.name())
            })
        {
            for e in f["Properties"]["Events"].as_mapping().unwrap().values() {
                assert_eq!(e["Type"], "SQS", "{} events", worker.name());
                assert_eq!(
                    e["Properties"]["FunctionResponseTypes"][0],
                    "ReportBatchItemFailures"
                );
                let queue_id = get_att_target(&e["Properties"]["Queue"]).unwrap();
                let q = &t["Resources"][queue_id.as_str()]["Properties"];
                consumed.insert(sub_name(&q["QueueName"]).unwrap());
            }
        }
        let wanted: BTreeSet<String> = worker.queues().into_iter().collect();
        assert_eq!(consumed, wanted, "queues of {}", worker.name());
    }
    for job in &registry.scheduled {
        let f = function_named(&t, job.name());
        let schedules = f["Properties"]["Events"]
            .as_mapping()
            .unwrap()
            .values()
            .filter(|e| e["Type"] == "ScheduleV2" || e["Type"] == "Schedule")
            .count();
        assert_eq!(schedules, 1, "{} has no schedule", job.name());
    }
}

/// A queue Lambda keeps for `binary` (`queues::INVOKED`): no SQS queue of that name and no
/// event source; the function is invoked asynchronously, retried, and dead-letters to the
/// catalogue's dead-letter queue (alarmed, drained by the sweeper); whoever may invoke it is
/// told its name.
fn assert_kept_by_lambda(t: &Value, spec: &zayavka::queues::QueueSpec, binary: &str) {
    assert!(
        resources_of_type(t, "AWS::SQS::Queue")
            .iter()
            .all(|(_, r)| sub_name(&r["Properties"]["QueueName"]).as_deref() != Some(&spec.name)),
        "{} is Lambda's, not an SQS queue",
        spec.name
    );
    let f = &function_named(t, binary)["Properties"];
    assert!(f["Events"].is_null(), "{binary} polls nothing");
    let dlq = spec.dead_letter.as_deref().expect("a dead-letter queue");
    let (dlq_id, _) = queue_named(t, dlq);
    assert_eq!(f["DeadLetterQueue"]["Type"], "SQS");
    assert_eq!(
        get_att_target(&f["DeadLetterQueue"]["TargetArn"]).as_deref(),
        Some(dlq_id)
    );
    assert_eq!(f["EventInvokeConfig"]["MaximumRetryAttempts"], 2u64);
    let alarmed = resources_of_type(t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .any(|(_, a)| {
            get_att_target(&a["Properties"]["Dimensions"][0]["Value"]).as_deref() == Some(dlq_id)
        });
    assert!(alarmed, "no alarm on {dlq}");
    // Every function is told its name (Lambda requires it at start-up); the ones that may
    // invoke it are the five integration deployments and the sweeper.
    let id = function_resource_id(t, binary);
    let name = sub_name(&f["FunctionName"]).unwrap();
    let entry = zayavka::queues::INVOKED
        .iter()
        .find(|i| i.function == binary)
        .unwrap();
    assert_eq!(
        sub_name(&t["Globals"]["Function"]["Environment"]["Variables"][entry.env]).as_deref(),
        Some(name.as_str()),
        "{} names {binary}",
        entry.env
    );
    assert!(
        !spec.name.ends_with(".fifo") && !dlq.ends_with(".fifo"),
        "Lambda's event queues and their dead-letter queues are standard"
    );
    assert_eq!(f["EventInvokeConfig"]["MaximumEventAgeInSeconds"], 21600u64);
    // An event that cannot reach the dead-letter queue is dropped: alarmed.
    assert!(
        resources_of_type(t, "AWS::CloudWatch::Alarm")
            .into_iter()
            .any(|(_, a)| {
                a["Properties"]["MetricName"] == "DeadLetterErrors"
                    && sub_name(&a["Properties"]["Dimensions"][0]["Value"]).as_deref()
                        == Some(name.as_str())
            }),
        "no DeadLetterErrors alarm on {binary}"
    );
    let mut invokers = 0;
    for (_, other) in resources_of_type(t, "AWS::Serverless::Function") {
        let may = statements(other).iter().any(|(actions, resources)| {
            actions.contains("lambda:InvokeFunction") && resources.contains(&id)
        });
        invokers += usize::from(may);
    }
    // The five integration deployments and the sweeper.
    assert_eq!(invokers, 6, "who may invoke {binary}");
}

#[test]
fn rate_limited_integrations_have_a_concurrency_cap() {
    let t = template();
    for (queue, cap) in [
        (zayavka::queues::INTEGRATION_AMOCRM, 2),
        (zayavka::queues::INTEGRATION_BITRIX24, 2),
    ] {
        let (queue_id, _) = queue_named(&t, queue);
        let event = resources_of_type(&t, "AWS::Serverless::Function")
            .into_iter()
            .flat_map(|(_, f)| {
                f["Properties"]["Events"]
                    .as_mapping()
                    .into_iter()
                    .flat_map(|m| m.values())
            })
            .find(|e| get_att_target(&e["Properties"]["Queue"]).as_deref() == Some(queue_id))
            .unwrap_or_else(|| panic!("nothing consumes {queue}"));
        assert_eq!(
            event["Properties"]["ScalingConfig"]["MaximumConcurrency"], cap as u64,
            "{queue}"
        );
    }
}

/// The SQS event sources that long-poll all month, whether or not anything arrives: each
/// costs about 0.65 M requests a month idle (BENCHMARKS.md). The lean pipeline keeps them
/// to the per-integration queues and the notifications (the tracker is invoked, it polls
/// nothing); the bridge's polls only where a bridge bot is configured.
#[test]
fn only_six_queues_are_polled_all_month() {
    let t = template();
    let mut always = Vec::new();
    let mut conditional = Vec::new();
    for (_, f) in resources_of_type(&t, "AWS::Serverless::Function") {
        let Some(events) = f["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for e in events.values().filter(|e| e["Type"] == "SQS") {
            let queue = get_att_target(&e["Properties"]["Queue"]).unwrap();
            match &e["Properties"]["Enabled"] {
                Value::Null => always.push(queue),
                Value::Bool(true) => always.push(queue),
                _ => conditional.push(queue),
            }
        }
    }
    always.sort();
    assert_eq!(
        always,
        [
            "IntegrationAmocrmQueue",
            "IntegrationBitrix24Queue",
            "IntegrationEmailQueue",
            "IntegrationTelegramQueue",
            "IntegrationWebhookQueue",
            "NotificationsQueue",
        ]
    );
    assert_eq!(conditional, ["BridgeInboundQueue"]);
    // No dead-letter queue is polled: their alarms tell, the sweeper fails what they hold.
    assert!(always.iter().all(|q| !q.ends_with("Dlq")));
}

/// Every URL a user must register or open after `sam deploy` is a stack output, each one a
/// route the API has, a bot's only where that bot is configured, and none shows a secret.
#[test]
fn the_outputs_name_every_url_a_user_registers() {
    let t = template();
    const BASE: &str = "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}";
    let routes: Vec<String> = resources_of_type(&t, "AWS::Serverless::Function")
        .into_iter()
        .flat_map(|(_, f)| {
            f["Properties"]["Events"]
                .as_mapping()
                .into_iter()
                .flat_map(|m| m.values())
                .filter(|e| e["Type"] == "HttpApi")
                .map(|e| e["Properties"]["Path"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let matches = |path: &str| {
        routes.iter().any(|route| {
            let (r, p): (Vec<&str>, Vec<&str>) =
                (route.split('/').collect(), path.split('/').collect());
            r.len() == p.len()
                && r.iter()
                    .zip(&p)
                    .all(|(r, p)| (r.starts_with('{') && !p.is_empty()) || r == p)
        })
    };
    let outputs = t["Outputs"].as_mapping().unwrap();
    let output = |name: &str| {
        outputs
            .get(name)
            .unwrap_or_else(|| panic!("no output {name}"))
    };
    let no_echo: Vec<String> = t["Parameters"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, p)| p["NoEcho"] == true)
        .map(|(k, _)| k.as_str().unwrap().to_string())
        .collect();
    let mut paths = BTreeSet::new();
    for (name, o) in outputs {
        let name = name.as_str().unwrap();
        let text = serde_norway::to_string(&o["Value"]).unwrap();
        for secret in &no_echo {
            assert!(!text.contains(secret.as_str()), "{name} shows {secret}");
        }
        let Some(url) = (match &o["Value"] {
            Value::Tagged(v) if v.tag == "Sub" => v.value.as_str(),
            _ => None,
        }) else {
            continue;
        };
        let Some(path) = url.strip_prefix(BASE) else {
            continue;
        };
        if path.is_empty() {
            continue; // ApiUrl
        }
        // A URL the user completes with a secret of theirs ends in '/'.
        let full = if path.ends_with('/') {
            format!("{path}token")
        } else {
            path.to_string()
        };
        assert!(matches(&full), "{name}: {path} is no route of the API");
        paths.insert(path.to_string());
    }
    for bot in zayavka::telegram::webhook::BOTS {
        let name = format!("{}{}BotWebhookUrl", bot[..1].to_uppercase(), &bot[1..]);
        let o = output(&name);
        assert!(o["Condition"].is_string(), "{name} only with the bot");
        assert!(
            paths.contains(&format!("/telegram/{bot}/webhook")),
            "{name}"
        );
    }
    for (name, path) in [
        ("LeadApiUrl", "/api/integrations/send-batch"),
        ("SupportPageUrl", "/support"),
        ("ExecutorsPageUrl", "/executors"),
        ("TicketApiUrl", "/api/tickets"),
        ("OkdeskWebhookUrl", "/okdesk/webhook/"),
        ("BridgeReplyUrl", "/bridge/reply/"),
    ] {
        let url = match &output(name)["Value"] {
            Value::Tagged(v) if v.tag == "Sub" => v.value.as_str().unwrap().to_string(),
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(url, format!("{BASE}{path}"), "{name}");
    }
}

/// The README's deploy walkthrough explains every parameter `sam deploy --guided` asks for
/// and every output it prints: a new one cannot be added without saying what it is for.
#[test]
fn the_deploy_walkthrough_names_every_parameter_and_output() {
    let t = template();
    let readme = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"),
    )
    .unwrap();
    let deploy = readme
        .split("## Deploy\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("a Deploy section");
    let rows: Vec<&str> = deploy.lines().filter(|l| l.starts_with("| `")).collect();
    for section in ["Parameters", "Outputs"] {
        for name in t[section].as_mapping().unwrap().keys() {
            let name = format!("`{}`", name.as_str().unwrap());
            assert!(
                rows.iter()
                    .any(|row| row.split(" | ").next().unwrap_or_default().contains(&name)),
                "the README's deploy tables do not name {section} {name}"
            );
        }
    }
}

/// A bot is switched on by a parameter of its own, not by a secret (the template takes
/// none): its Rule refuses the bot without the settings CloudFormation holds, and the
/// functions refuse to start without the secrets Parameter Store holds (`secrets::load`).
#[test]
fn a_bot_is_switched_on_by_a_parameter_and_its_settings_are_checked_at_deploy_time() {
    let t = template();
    let rules = t["Rules"].as_mapping().expect("Rules");
    let globals = serde_norway::to_string(
        &t["Globals"]["Function"]["Environment"]["Variables"][zayavka::secrets::BOTS_VAR],
    )
    .unwrap();
    for bot in zayavka::telegram::webhook::BOTS {
        let cap = format!("{}{}", bot[..1].to_uppercase(), &bot[1..]);
        let switch = format!("{cap}Bot");
        let p = &t["Parameters"][switch.as_str()];
        assert_eq!(p["Default"], "false", "{switch}");
        assert_eq!(
            serde_norway::to_string(&p["AllowedValues"]).unwrap(),
            "- 'true'\n- 'false'\n",
            "{switch}"
        );
        let condition =
            serde_norway::to_string(&t["Conditions"][format!("Has{switch}").as_str()]).unwrap();
        assert!(
            condition.contains(&switch) && condition.contains("'true'"),
            "Has{switch}: {condition}"
        );
        // The functions learn which bots are on, so a missing secret of one stops the start.
        assert!(
            globals.contains(&format!("Has{switch}")) && globals.contains(bot),
            "{} does not say whether {bot} is on: {globals}",
            zayavka::secrets::BOTS_VAR
        );
        let upper = bot.to_ascii_uppercase();
        for name in [
            format!("TELEGRAM_{upper}_BOT_TOKEN"),
            format!("TELEGRAM_{upper}_WEBHOOK_SECRET"),
        ] {
            let spec = zayavka::secrets::spec(&name).unwrap();
            assert_eq!(spec.needed, zayavka::secrets::Needed::Bot(bot), "{name}");
        }
    }
    for (switch, needs) in [
        ("MainBot", "OkdeskApiUrl"),
        ("SupportBot", "TelegramAdminChatId"),
        ("BridgeBot", "BridgeApiUrl"),
    ] {
        let rule = rules
            .values()
            .find(|r| {
                serde_norway::to_string(&r["RuleCondition"])
                    .unwrap()
                    .contains(switch)
            })
            .unwrap_or_else(|| panic!("no rule for {switch}"));
        let asserts = serde_norway::to_string(&rule["Assertions"]).unwrap();
        assert!(asserts.contains(needs), "{switch} without {needs}");
    }
}

/// Every function variable of the template, with its function (`Globals` for the shared
/// ones).
fn environment_variables(t: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = t["Globals"]["Function"]["Environment"]["Variables"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| ("Globals".to_string(), k.as_str().unwrap().to_string()))
        .collect();
    for (id, f) in resources_of_type(t, "AWS::Serverless::Function") {
        for k in f["Properties"]["Environment"]["Variables"]
            .as_mapping()
            .into_iter()
            .flat_map(|m| m.keys())
        {
            out.push((id.to_string(), k.as_str().unwrap().to_string()));
        }
    }
    out
}

/// A deployment as the README makes it stores no secret where `lambda:GetFunctionConfiguration`
/// (ReadOnlyAccess) shows it: the template takes no secret (no `NoEcho` parameter is left),
/// no function's environment holds one, and the README's `sam deploy` passes only the
/// template's parameters.
#[test]
fn a_deployment_stores_no_secret_in_any_function_environment() {
    let t = template();
    let params = t["Parameters"].as_mapping().unwrap();
    let no_echo: Vec<&str> = params
        .iter()
        .filter(|(_, p)| p["NoEcho"] == true)
        .map(|(k, _)| k.as_str().unwrap())
        .collect();
    assert!(no_echo.is_empty(), "secret parameters left: {no_echo:?}");
    let vars = environment_variables(&t);
    assert!(vars.len() > 40, "the scan found {} variables", vars.len());
    let leaking: Vec<String> = vars
        .iter()
        .filter(|(_, name)| zayavka::secrets::spec(name).is_some())
        .map(|(f, name)| format!("{f}: {name}"))
        .collect();
    assert!(
        leaking.is_empty(),
        "secrets in the environment: {leaking:?}"
    );
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let deploy = readme
        .split("## Deploy\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("a Deploy section");
    let overrides = deploy
        .split("--parameter-overrides")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the sam deploy command gives --parameter-overrides");
    let given: Vec<&str> = overrides
        .split_whitespace()
        .filter_map(|w| w.split_once('=').map(|(name, _)| name))
        .collect();
    assert!(!given.is_empty(), "{overrides}");
    for name in given {
        assert!(
            params.contains_key(name),
            "the README's sam deploy gives {name}, which the template does not take"
        );
    }
    // And every secret is set with `zayavka secrets set` in the walkthrough's table.
    for s in zayavka::secrets::CATALOGUE {
        assert!(
            deploy
                .lines()
                .any(|l| l.starts_with("| `") && l.contains(&format!("`{}`", s.name))),
            "the README's deploy walkthrough does not name the secret {}",
            s.name
        );
    }
}

/// The parameters (as `/zayavka/${AWS::StackName}/NAME`) a function's role may read.
fn ssm_reads(function: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (actions, resources) in statements(function) {
        if !actions.iter().any(|a| a.starts_with("ssm:")) {
            continue;
        }
        assert_eq!(
            actions,
            BTreeSet::from(["ssm:GetParameters".to_string()]),
            "a function only reads its secrets"
        );
        for part in resources.split("parameter").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '"')
                .collect();
            out.insert(name);
        }
    }
    out
}

/// Each function's role may read exactly the secrets the catalogue says it reads, under
/// the path the functions are told, and nothing else of Parameter Store.
#[test]
fn each_role_reads_exactly_its_functions_secrets() {
    let t = template();
    let path = serde_norway::to_string(
        &t["Globals"]["Function"]["Environment"]["Variables"][zayavka::secrets::PATH_VAR],
    )
    .unwrap();
    assert_eq!(path.trim(), "!Sub /zayavka/${AWS::StackName}/");
    assert_eq!(
        zayavka::secrets::stack_path("${AWS::StackName}"),
        "/zayavka/${AWS::StackName}/"
    );
    let mut readers = 0;
    for (id, f) in resources_of_type(&t, "AWS::Serverless::Function") {
        let binary = f["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap();
        let expected: BTreeSet<String> = zayavka::secrets::of_function(binary)
            .map(|s| format!("/zayavka/${{AWS::StackName}}/{}", s.name))
            .collect();
        readers += usize::from(!expected.is_empty());
        assert_eq!(ssm_reads(f), expected, "{id}");
    }
    assert!(readers >= 9, "only {readers} functions read secrets");
}

/// What a function asks Parameter Store for at start, noted as the IAM action on the
/// parameter it names.
struct RecordedStore(std::sync::Arc<crate::recording::Recorder>);

#[async_trait::async_trait]
impl zayavka::secrets::SecretStore for RecordedStore {
    async fn get(
        &self,
        names: &[String],
    ) -> Result<std::collections::HashMap<String, String>, zayavka::secrets::StoreError> {
        use crate::recording::Observer;
        for name in names {
            let name = name.replace("/zayavka/teststack/", "/zayavka/${AWS::StackName}/");
            self.0
                .request("GetParameters", &name, 1, &["ssm:GetParameters"]);
        }
        Ok(Default::default())
    }
}

/// The IAM test of the start-up: every function's start with every bot switched on, its
/// reads of Parameter Store recorded, each allowed to every deployment of the function.
#[tokio::test]
async fn every_function_may_read_the_secrets_it_asks_for_at_start() {
    let t = template();
    let rec = std::sync::Arc::new(crate::recording::Recorder::default());
    let env = std::collections::HashMap::from([(
        zayavka::secrets::BOTS_VAR.to_string(),
        zayavka::telegram::webhook::BOTS.join(","),
    )]);
    let binaries: BTreeSet<&str> = resources_of_type(&t, "AWS::Serverless::Function")
        .into_iter()
        .filter_map(|(_, f)| f["Metadata"]["BuildProperties"]["Binary"].as_str())
        .collect();
    for binary in &binaries {
        rec.now(binary);
        let store = RecordedStore(rec.clone());
        // Nothing is stored, so a start that needs something is refused: the reads are what
        // this test is after.
        let _ = zayavka::secrets::load(binary, "/zayavka/teststack/", &env, &store).await;
    }
    let seen = rec.seen();
    let asked: usize = seen.values().map(|calls| calls.len()).sum();
    assert!(asked >= 30, "the functions asked for {asked} parameters");
    assert_policies_allow(&seen);
}

/// What a metric reference in the template reads: its namespace (with `${AWS::StackName}`
/// left as written), name and dimensions (name, value).
#[derive(Debug)]
struct MetricRef {
    namespace: String,
    name: String,
    dimensions: Vec<(String, String)>,
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Tagged(t) => format!("{} {}", t.tag, text_of(&t.value)),
        other => serde_norway::to_string(other).unwrap().trim().to_string(),
    }
}

/// Every metric an alarm reads: its own, or each `MetricStat` of its metric math.
fn alarm_metrics(alarm: &Value) -> Vec<MetricRef> {
    let p = &alarm["Properties"];
    let of = |m: &Value| MetricRef {
        namespace: text_of(&m["Namespace"]),
        name: text_of(&m["MetricName"]),
        dimensions: m["Dimensions"]
            .as_sequence()
            .into_iter()
            .flatten()
            .map(|d| (text_of(&d["Name"]), text_of(&d["Value"])))
            .collect(),
    };
    match p["Metrics"].as_sequence() {
        Some(queries) => queries
            .iter()
            .filter(|q| !q["MetricStat"].is_null())
            .map(|q| of(&q["MetricStat"]["Metric"]))
            .collect(),
        None => vec![of(p)],
    }
}

/// Our namespace as the template writes it: one per stack.
const OUR_NAMESPACE: &str = "!Sub Zayavka/${AWS::StackName}";

/// The dimension values a metric of ours can carry, where they are a closed set the code
/// defines (an alarm on any other value would never see a point).
fn known_values(dimension: &str) -> Option<Vec<String>> {
    use zayavka::leads::batch::final_status;
    match dimension {
        "Status" => Some(
            [(1, 0), (1, 1), (0, 1)]
                .iter()
                .map(|(s, f)| final_status(*s, *f).to_string())
                .collect(),
        ),
        _ => None,
    }
}

/// A metric is the whole set of its dimensions: a reference naming fewer or other
/// dimensions than the code emits reads a metric that never gets a point.
fn assert_emitted(m: &MetricRef, by: &str) {
    let spec = zayavka::metrics::CATALOGUE
        .iter()
        .find(|s| s.name == m.name)
        .unwrap_or_else(|| panic!("{by} reads {}, which no code emits", m.name));
    let mut named: Vec<&str> = m.dimensions.iter().map(|(n, _)| n.as_str()).collect();
    let mut emitted = spec.dimensions.to_vec();
    named.sort_unstable();
    emitted.sort_unstable();
    assert_eq!(
        named, emitted,
        "{by}: {} is emitted with these dimensions",
        m.name
    );
    for (dim, value) in &m.dimensions {
        if let Some(values) = known_values(dim) {
            assert!(
                values.contains(value),
                "{by}: {dim}={value} is never emitted"
            );
        }
    }
}

#[test]
fn every_alarm_on_our_metrics_reads_one_the_code_emits() {
    let t = template();
    let mut ours = 0;
    for (id, alarm) in resources_of_type(&t, "AWS::CloudWatch::Alarm") {
        for m in alarm_metrics(alarm) {
            if m.namespace == OUR_NAMESPACE {
                assert_emitted(&m, id);
                ours += 1;
            }
        }
    }
    assert!(
        ours >= 2,
        "the lead failure rate reads failed and accepted leads"
    );
    // The functions write to the namespace the alarms read.
    assert_eq!(
        text_of(&t["Globals"]["Function"]["Environment"]["Variables"]["METRICS_NAMESPACE"]),
        OUR_NAMESPACE
    );
}

#[test]
fn the_lead_failure_rate_is_alarmed_from_failed_and_accepted_leads() {
    let t = template();
    let (_, alarm) = resources_of_type(&t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .find(|(id, _)| *id == "LeadFailureRateAlarm")
        .expect("LeadFailureRateAlarm");
    let read: Vec<String> = alarm_metrics(alarm)
        .iter()
        .map(|m| format!("{}{:?}", m.name, m.dimensions))
        .collect();
    assert_eq!(
        read,
        vec![
            format!("{}{:?}", "LeadsSettled", [("Status", "failed")]),
            "LeadsAccepted[]".to_string()
        ]
    );
    let p = &alarm["Properties"];
    let returned: Vec<&Value> = p["Metrics"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|q| q["ReturnData"] == true)
        .collect();
    assert_eq!(returned.len(), 1);
    let expr = returned[0]["Expression"].as_str().unwrap();
    assert!(
        expr.contains("failed") && expr.contains("/ accepted"),
        "{expr}"
    );
    assert_eq!(text_of(&p["AlarmActions"][0]), "!Ref AlarmTopic");
}

/// Each function's errors and throttles, in one alarm per function that sums the two, to
/// the alarm topic, whenever someone is there to hear it.
#[test]
fn every_function_is_alarmed_on_its_errors_and_throttles() {
    let t = template();
    let alarms = resources_of_type(&t, "AWS::CloudWatch::Alarm");
    for (function, _) in resources_of_type(&t, "AWS::Serverless::Function") {
        let function_ref = format!("!Ref {function}");
        let (id, alarm) = alarms
            .iter()
            .find(|(_, a)| {
                let m = alarm_metrics(a);
                ["Errors", "Throttles"].iter().all(|name| {
                    m.iter().any(|r| {
                        r.namespace == "AWS/Lambda"
                            && r.name == *name
                            && r.dimensions == [("FunctionName".to_string(), function_ref.clone())]
                    })
                })
            })
            .unwrap_or_else(|| panic!("no alarm on {function}'s errors and throttles"));
        let p = &alarm["Properties"];
        let expr = p["Metrics"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|q| q["ReturnData"] == true)
            .and_then(|q| q["Expression"].as_str())
            .unwrap_or_else(|| panic!("{id} returns no expression"));
        assert!(
            expr.contains("errors") && expr.contains("throttles") && expr.contains('+'),
            "{id}: {expr}"
        );
        assert_eq!(p["Threshold"], 0u64, "{id}");
        assert_eq!(p["ComparisonOperator"], "GreaterThanThreshold", "{id}");
        assert_eq!(text_of(&p["AlarmActions"][0]), "!Ref AlarmTopic", "{id}");
        assert_eq!(alarm["Condition"], "HasAlarmEmail", "{id}");
    }
}

/// The metrics a dashboard widget shows: explicit ones (with CloudWatch's "." for "as
/// above") and those a `SEARCH('{namespace,dims…} MetricName="…"')` finds.
fn dashboard_metrics(body: &serde_json::Value) -> Vec<MetricRef> {
    let mut out = Vec::new();
    for w in body["widgets"].as_array().unwrap() {
        let mut previous: Vec<String> = Vec::new();
        for m in w["properties"]["metrics"].as_array().unwrap() {
            let items = m.as_array().unwrap();
            if let Some(expr) = items[0]["expression"].as_str() {
                let schema = expr
                    .split("SEARCH('{")
                    .nth(1)
                    .and_then(|r| r.split('}').next())
                    .unwrap_or_else(|| panic!("not a search: {expr}"));
                let mut parts = schema.split(',').map(|p| p.trim_matches('"').to_string());
                let namespace = parts.next().unwrap();
                let dims: Vec<String> = parts.collect();
                for name in expr.split("MetricName=\"").skip(1) {
                    out.push(MetricRef {
                        namespace: namespace.clone(),
                        name: name.split('"').next().unwrap().to_string(),
                        dimensions: dims.iter().map(|d| (d.clone(), String::new())).collect(),
                    });
                }
                continue;
            }
            let strings: Vec<String> = items
                .iter()
                .filter_map(|i| i.as_str())
                .enumerate()
                .map(|(k, s)| match s {
                    "." => previous[k].clone(),
                    s => s.to_string(),
                })
                .collect();
            previous = strings.clone();
            out.push(MetricRef {
                namespace: strings[0].clone(),
                name: strings[1].clone(),
                dimensions: strings[2..]
                    .chunks(2)
                    .map(|c| (c[0].clone(), c[1].clone()))
                    .collect(),
            });
        }
    }
    out
}

#[test]
fn the_dashboard_shows_every_metric_the_code_emits_and_no_other() {
    let t = template();
    let (_, dashboard) = resources_of_type(&t, "AWS::CloudWatch::Dashboard")
        .into_iter()
        .next()
        .expect("a dashboard");
    let body = match &dashboard["Properties"]["DashboardBody"] {
        Value::Tagged(s) if s.tag == "Sub" => s.value.as_str().unwrap().to_string(),
        other => panic!("DashboardBody is not a !Sub: {other:?}"),
    };
    let body = body
        .replace("${AWS::StackName}", "stack")
        .replace("${AWS::Region}", "eu-central-1");
    assert!(!body.contains("${"), "an unknown substitution: {body}");
    let body: serde_json::Value = serde_json::from_str(&body).expect("the body is JSON");
    let shown = dashboard_metrics(&body);
    for m in shown.iter().filter(|m| m.namespace == "Zayavka/stack") {
        assert_emitted(m, &format!("the dashboard's {}", m.name));
    }
    for spec in zayavka::metrics::CATALOGUE {
        assert!(
            shown
                .iter()
                .any(|m| m.namespace == "Zayavka/stack" && m.name == spec.name),
            "the dashboard does not show {}",
            spec.name
        );
    }
    for lambda in ["Errors", "Throttles"] {
        assert!(
            shown
                .iter()
                .any(|m| m.namespace == "AWS/Lambda" && m.name == lambda)
        );
    }
    assert!(
        shown
            .iter()
            .any(|m| m.namespace == "AWS/SQS" && m.name == "ApproximateNumberOfMessagesVisible")
    );
}

/// `zayavka doctor --api-url` asks every HTTP function's health route: its list is the
/// template's.
#[test]
fn doctor_knows_every_health_route() {
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let mut routes: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Path: /health/"))
        .collect();
    routes.sort_unstable();
    let mut known = zayavka_cli::doctor::HTTP_FUNCTIONS.to_vec();
    known.sort_unstable();
    assert_eq!(routes, known);
}

#[test]
fn the_http_api_throttles_every_route_and_the_retry_schedule_reaches_both_readers() {
    let t = template();
    let apis = resources_of_type(&t, "AWS::Serverless::HttpApi");
    assert_eq!(apis.len(), 1);
    let settings = &apis[0].1["Properties"]["DefaultRouteSettings"];
    let is_ref =
        |v: &Value, name: &str| matches!(v, Value::Tagged(t) if t.tag == "Ref" && t.value == name);
    assert!(
        is_ref(&settings["ThrottlingRateLimit"], "ApiThrottleRate"),
        "{settings:?}"
    );
    assert!(
        is_ref(&settings["ThrottlingBurstLimit"], "ApiThrottleBurst"),
        "{settings:?}"
    );
    for (p, default) in [("ApiThrottleRate", 50), ("ApiThrottleBurst", 100)] {
        assert_eq!(t["Parameters"][p]["Default"], default, "{p}");
        assert_eq!(t["Parameters"][p]["MinValue"], 1, "{p}");
    }
    // lead-submit counts attempts from the schedule and the worker waits by it: one value,
    // in Globals, that parses as the functions parse it.
    let schedule = &t["Globals"]["Function"]["Environment"]["Variables"]["RETRY_SCHEDULE"];
    assert!(is_ref(schedule, "RetrySchedule"), "{schedule:?}");
    let default = t["Parameters"]["RetrySchedule"]["Default"]
        .as_str()
        .unwrap();
    assert_eq!(default, zayavka::leads::retry::DEFAULT);
    assert!(zayavka::leads::retry::RetrySchedule::parse(default).is_ok());
}
