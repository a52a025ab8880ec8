//! `zayavka doctor [--aws]`: is the deployment (or the local stack) ready, and if not, what
//! to do. Each check gives a verdict and, when it is not `ok`, the fix; only failures make
//! the command fail — a warning is something to look at, not something broken.

use std::path::PathBuf;
use std::sync::Arc;

use frankenstein::updates::WebhookInfo;
use zayavka::config::{AwsConfig, EnvReader, EnvSource};
use zayavka::deps::AwsClients;
use zayavka::ports::{Queue, QueueError, SystemClock};
use zayavka::queues::{self, QueueSpec};
use zayavka::telegram::BotApi;
use zayavka::telegram::webhook::BotConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Ok,
    /// Not configured, so not checked.
    Skipped,
    Warning,
    Failed,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Skipped => "skip",
            Verdict::Warning => "WARN",
            Verdict::Failed => "FAIL",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub verdict: Verdict,
    pub detail: String,
    /// What to do about it; set for every warning and failure.
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(name, Verdict::Ok, detail, None)
    }

    fn skipped(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(name, Verdict::Skipped, detail, None)
    }

    fn warn(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(name, Verdict::Warning, detail, Some(fix.into()))
    }

    fn fail(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(name, Verdict::Failed, detail, Some(fix.into()))
    }

    fn new(
        name: impl Into<String>,
        verdict: Verdict,
        detail: impl Into<String>,
        fix: Option<String>,
    ) -> Self {
        Self {
            name: name.into(),
            verdict,
            detail: detail.into(),
            fix,
        }
    }

    /// `WARN  name: detail` and, below it, `      fix: …`.
    pub fn lines(&self) -> String {
        let mut out = format!("{:<5} {}: {}", self.verdict.label(), self.name, self.detail);
        if let Some(fix) = &self.fix {
            out.push_str(&format!("\n      fix: {fix}"));
        }
        out
    }
}

/// Where to look.
pub struct Options {
    /// AWS (or an emulator) with these settings; `None`: the embedded store in `data_dir`.
    pub aws: Option<AwsConfig>,
    pub data_dir: PathBuf,
    /// The stack's `ApiUrl`: each bot's webhook must point under it.
    pub api_url: Option<String>,
    /// Now, in Unix seconds: a webhook error older than a day is history, not a warning.
    pub now_unix: i64,
}

/// Every check, in the order a person would fix them.
pub async fn run(opts: &Options, env: &dyn EnvSource) -> Vec<Check> {
    let mut out = Vec::new();
    match &opts.aws {
        Some(cfg) => {
            let clients = AwsClients::new(cfg).await;
            out.push(table_check(&clients, cfg).await);
            let sqs =
                zayavka::adapters::SqsQueue::new(clients.sqs.clone(), cfg.queue_prefix.clone());
            out.extend(queue_checks(&sqs, true).await);
            out.extend(ses_checks(&clients, env).await);
        }
        None => {
            let file = opts.data_dir.join(zayavka::deps::DATA_FILE);
            if !file.exists() {
                out.push(Check::warn(
                    "store",
                    format!("no data at {}", file.display()),
                    "run `zayavka serve` once (it creates the store), or pass --data-dir",
                ));
            } else {
                match zayavka::deps::Embedded::open(
                    &opts.data_dir,
                    queues::catalogue(),
                    Arc::new(SystemClock),
                ) {
                    Ok(store) => {
                        out.push(Check::ok("store", format!("{}", file.display())));
                        out.extend(queue_checks(&store.queue, false).await);
                    }
                    Err(e) => out.push(Check::fail(
                        "store",
                        format!("{}: {e}", file.display()),
                        "stop whatever holds the file, or restore it from a backup",
                    )),
                }
            }
            out.push(Check::ok(
                "mail",
                format!(
                    "written to {} (no SES locally)",
                    opts.data_dir.join(zayavka::deps::OUTBOX_DIR).display()
                ),
            ));
        }
    }
    out.extend(bot_checks(env, opts).await);
    out.extend(okdesk_checks(env).await);
    if let Some(api_url) = &opts.api_url {
        let prefix = opts
            .aws
            .as_ref()
            .map(|c| c.queue_prefix.clone())
            .unwrap_or_else(|| "<stack>-".into());
        out.extend(health_checks(api_url, &prefix).await);
    }
    out
}

/// With `--stack`: the stack's secrets in Parameter Store, where its functions read them at
/// start. Without the API keys every HTTP API function refuses to start; the bots' and
/// Okdesk's secrets are their own checks' business (they read them from there too).
pub async fn secrets_check(stack: &str) -> Check {
    let listed = match crate::secrets::path(stack) {
        Ok(path) => match crate::secrets::store().await {
            Ok(store) => store
                .describe(&path)
                .await
                .map(|found| (path, found))
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let (path, found) = match listed {
        Ok(l) => l,
        Err(e) => {
            return Check::fail(
                "secrets",
                e,
                "check the stack name, AWS_REGION and your ssm:DescribeParameters permission",
            );
        }
    };
    let set: Vec<&str> = zayavka::secrets::CATALOGUE
        .iter()
        .filter(|s| found.iter().any(|d| d.name == format!("{path}{}", s.name)))
        .map(|s| s.name)
        .collect();
    let missing: Vec<&str> = zayavka::secrets::CATALOGUE
        .iter()
        .filter(|s| s.needed == zayavka::secrets::Needed::Always && !set.contains(&s.name))
        .map(|s| s.name)
        .collect();
    if missing.is_empty() {
        Check::ok(
            "secrets",
            format!(
                "{} of {} set under {path}: {}",
                set.len(),
                zayavka::secrets::CATALOGUE.len(),
                set.join(", ")
            ),
        )
    } else {
        Check::fail(
            "secrets",
            format!(
                "{} not set under {path}: the functions that read it refuse to start",
                missing.join(", ")
            ),
            format!(
                "zayavka secrets set {} --stack {stack} (zayavka secrets list --stack {stack} shows them all)",
                missing[0]
            ),
        )
    }
}

async fn table_check(clients: &AwsClients, cfg: &AwsConfig) -> Check {
    let name = format!("table {}", cfg.table_name);
    match clients
        .dynamodb
        .describe_table()
        .table_name(&cfg.table_name)
        .send()
        .await
    {
        Ok(t) => {
            let status = t
                .table()
                .and_then(|t| t.table_status())
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|| "unknown".into());
            if status == "ACTIVE" {
                Check::ok(name, status)
            } else {
                Check::warn(name, status, "wait for the table to become ACTIVE")
            }
        }
        Err(e) => {
            let missing = e
                .as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception());
            if missing {
                Check::fail(
                    name,
                    "does not exist",
                    "deploy the stack (sam deploy), or set TABLE_NAME to the stack's TableName output; for an emulator, `zayavka init-aws`",
                )
            } else {
                Check::fail(
                    name,
                    aws_error(&e),
                    "check the AWS credentials and region (AWS_REGION, AWS_PROFILE)",
                )
            }
        }
    }
}

/// The queues that hold lead work: the sweeper drains their dead-letter queues every minute.
fn swept(dlq: &str) -> bool {
    queues::INTEGRATIONS
        .iter()
        .chain([queues::BATCH_RESULTS].iter())
        .any(|q| queues::dead_letter_name(q) == dlq)
}

async fn queue_checks(queue: &dyn Queue, aws: bool) -> Vec<Check> {
    let specs = queues::catalogue();
    let mut out = Vec::new();
    let mut missing = Vec::new();
    let mut present = 0;
    for spec in &specs {
        if aws && queues::invoked_function(&spec.name).is_some() {
            // Lambda keeps it; its dead-letter queue is checked below.
            continue;
        }
        let stats = match queue.stats(&spec.name).await {
            Ok(s) => s,
            Err(QueueError::UnknownQueue(_)) => {
                missing.push(spec.name.clone());
                continue;
            }
            Err(e) => {
                out.push(Check::fail(
                    format!("queue {}", spec.name),
                    e.to_string(),
                    "check the AWS credentials and region",
                ));
                continue;
            }
        };
        present += 1;
        // A dead-letter queue is the one some queue redrives to.
        if let Some(source) = source_of(&spec.name, &specs)
            && stats.visible > 0
        {
            out.push(Check::warn(
                format!("dead letters {}", spec.name),
                format!("{} messages", stats.visible),
                dead_letter_fix(&spec.name, &source, aws),
            ));
        }
    }
    if missing.is_empty() {
        out.insert(0, Check::ok("queues", format!("{present} present")));
    } else {
        out.insert(
            0,
            Check::fail(
                "queues",
                format!("missing: {}", missing.join(", ")),
                if aws {
                    "deploy the stack (sam deploy), or set QUEUE_NAME_PREFIX to `<stack name>-`; for an emulator, `zayavka init-aws`"
                } else {
                    "start `zayavka serve` once: it creates them"
                },
            ),
        );
    }
    out
}

/// What to do about messages in `dlq`, whose source queue is `source`.
fn dead_letter_fix(dlq: &str, source: &str, aws: bool) -> String {
    if swept(dlq) {
        "the sweeper drains this queue every minute (a page at a time), so messages still here after a few minutes mean the sweeper itself fails: read its log (the sweeper function's log group in AWS, the serve log locally)".to_string()
    } else if aws {
        format!(
            "look at why they failed (the worker's log), fix it, then move them back: the SQS console's \"Start DLQ redrive\" on {dlq}, or `aws sqs start-message-move-task --source-arn <{dlq} ARN>` (back to {source})"
        )
    } else {
        format!(
            "look at why they failed (the serve log), fix it, then `zayavka queue redrive {dlq}` (back to {source})"
        )
    }
}

fn source_of(dlq: &str, specs: &[QueueSpec]) -> Option<String> {
    specs
        .iter()
        .find(|s| s.dead_letter.as_deref() == Some(dlq))
        .map(|s| s.name.clone())
}

async fn ses_checks(clients: &AwsClients, env: &dyn EnvSource) -> Vec<Check> {
    let mut r = EnvReader::new(env);
    let from = zayavka::credentials::Credentials::read(&mut r).mail_from;
    let mut recipients = zayavka::leads::request::Defaults::read(&mut r).lead_emails;
    recipients.extend(zayavka::leads::notify::notify_emails(&mut r));
    recipients.sort();
    recipients.dedup();
    let sender = match &from {
        None => Check::skipped("SES sender", "MAIL_FROM is not set: no e-mail is sent"),
        Some(from) => sender_check(clients, from).await,
    };
    let (account, sandboxed) = sandbox_check(clients).await;
    let mut out = vec![sender, account];
    if sandboxed && !recipients.is_empty() {
        out.push(recipients_check(clients, &recipients).await);
    }
    out
}

/// The identities that are verified, of those asked about.
async fn verified(clients: &AwsClients, identities: Vec<String>) -> Result<Vec<String>, String> {
    let mut ok = Vec::new();
    // SES answers at most 100 identities a call.
    for chunk in identities.chunks(100) {
        let got = clients
            .ses
            .get_identity_verification_attributes()
            .set_identities(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| aws_error(&e))?;
        ok.extend(
            chunk
                .iter()
                .filter(|id| {
                    got.verification_attributes()
                        .get(id.as_str())
                        .is_some_and(|a| a.verification_status().as_str() == "Success")
                })
                .cloned(),
        );
    }
    Ok(ok)
}

/// In the sandbox SES mails only verified addresses: the lead and notification recipients
/// the deployment is configured with must each be verified (or their domain).
async fn recipients_check(clients: &AwsClients, recipients: &[String]) -> Check {
    let asked: Vec<String> = recipients
        .iter()
        .flat_map(|r| identities_covering(r))
        .collect();
    let ok = match verified(clients, asked).await {
        Ok(ok) => ok,
        Err(e) => return Check::fail("SES recipients", e, "check the AWS credentials and region"),
    };
    let unverified: Vec<&String> = recipients
        .iter()
        .filter(|r| !identities_covering(r).iter().any(|id| ok.contains(id)))
        .collect();
    match unverified.as_slice() {
        [] => Check::ok(
            "SES recipients",
            format!("{} verified, as the sandbox needs", recipients.len()),
        ),
        [first, ..] => Check::fail(
            "SES recipients",
            format!(
                "the sandbox mails only verified addresses, and these are not: {}",
                unverified
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!(
                "verify each (`aws ses verify-email-identity --email-address {first}`, then the link), or request production access"
            ),
        ),
    }
}

/// The address, its domain and each parent domain: a verified `example.com` covers
/// `leads@mail.example.com`.
fn identities_covering(from: &str) -> Vec<String> {
    let mut identities = vec![from.to_string()];
    if let Some((_, domain)) = from.rsplit_once('@') {
        let labels: Vec<&str> = domain.split('.').collect();
        for i in 0..labels.len().saturating_sub(1) {
            identities.push(labels[i..].join("."));
        }
    }
    identities
}

async fn sender_check(clients: &AwsClients, from: &str) -> Check {
    let identities = identities_covering(from);
    let ok = match verified(clients, identities.clone()).await {
        Ok(ok) => ok,
        Err(e) => return Check::fail("SES sender", e, "check the AWS credentials and region"),
    };
    match identities.iter().find(|id| ok.contains(id)) {
        Some(id) => Check::ok("SES sender", format!("{from} (verified as {id})")),
        None => Check::fail(
            "SES sender",
            format!("{from} is not verified"),
            format!(
                "verify it: `aws ses verify-email-identity --email-address {from}` and click the link SES sends, or verify its domain"
            ),
        ),
    }
}

/// SES v1 has no sandbox flag; a sandboxed account's quota is 200 messages a day (-1 is
/// unlimited). SES v2's `GetAccount` says it outright, but would add a whole SDK crate to
/// the command for one flag. The check, and whether the account is in the sandbox.
async fn sandbox_check(clients: &AwsClients) -> (Check, bool) {
    match clients.ses.get_send_quota().send().await {
        Ok(q) => {
            let max = q.max24_hour_send();
            if (0.0..=200.0).contains(&max) {
                let check = Check::warn(
                    "SES account",
                    format!(
                        "in the sandbox (at most {max} e-mails a day, only to verified addresses)"
                    ),
                    "request production access: SES console - Account dashboard - Request production access",
                );
                (check, true)
            } else {
                let check = Check::ok(
                    "SES account",
                    format!("out of the sandbox ({max} e-mails a day)"),
                );
                (check, false)
            }
        }
        Err(e) => (
            Check::fail(
                "SES account",
                aws_error(&e),
                "check the AWS credentials and region",
            ),
            false,
        ),
    }
}

/// Each configured bot on its own: one whose settings are wrong is named with what is
/// wrong, and the others are still checked.
async fn bot_checks(env: &dyn EnvSource, opts: &Options) -> Vec<Check> {
    let mut r = EnvReader::new(env);
    let bots = zayavka::telegram::webhook::read_bots(&mut r);
    let base = zayavka::telegram::config::api_base(&mut r);
    let mut out: Vec<Check> = match r.finish() {
        Ok(()) => Vec::new(),
        Err(e) => e
            .problems
            .into_iter()
            .map(|p| {
                Check::fail(
                    "bot settings",
                    p,
                    "give it as the stack has it (README, Deploy step 5)",
                )
            })
            .collect(),
    };
    if bots.is_empty() && out.is_empty() {
        return vec![Check::skipped(
            "bots",
            "none configured (TELEGRAM_<BOT>_BOT_TOKEN and TELEGRAM_<BOT>_WEBHOOK_SECRET)",
        )];
    }
    let http = match zayavka::outbound::client(std::time::Duration::from_secs(15)) {
        Ok(h) => h,
        Err(e) => {
            out.push(Check::fail(
                "bots",
                e.to_string(),
                "check the machine's TLS setup",
            ));
            return out;
        }
    };
    for bot in &bots {
        let api = BotApi::new(http.clone(), &base, &bot.token);
        out.extend(one_bot(&api, bot, opts).await);
    }
    out.extend(replay_button_check(env, &bots));
    out
}

/// The «Повторить» on the admins' failure notices: a press reaches the bot that sent the
/// notice (`TELEGRAM_BOT_TOKEN`), so that bot must be one of those with a webhook here.
fn replay_button_check(env: &dyn EnvSource, bots: &[BotConfig]) -> Option<Check> {
    const NAME: &str = "lead notices' «Повторить»";
    let mut r = EnvReader::new(env);
    let notices = zayavka::leads::press::NoticeBot::read(&mut r)?;
    Some(
        match bots.iter().find(|b| b.token == notices.token.expose()) {
            Some(bot) => Check::ok(NAME, format!("pressed, it reaches the {} bot", bot.name)),
            None => Check::warn(
                NAME,
                "TELEGRAM_BOT_TOKEN is none of the webhook bots: the button on a failure notice goes unanswered",
                "give TELEGRAM_BOT_TOKEN the token of one of the bots with a webhook (the staff bot's, say), or replay with `zayavka leads retry` or POST /api/leads/{id}/retry",
            ),
        },
    )
}

/// The HTTP functions, each answering `GET <ApiUrl>/health/<function>` on the deployed API.
pub const HTTP_FUNCTIONS: &[&str] = &[
    "lead-submit",
    "support-form",
    "telegram-webhook",
    "okdesk-webhook",
    "ticket-api",
    "bridge-api",
];

/// Each HTTP function's health route under the API: a function that cannot start (a
/// setting missing or wrong) answers 500 there, before any user finds out.
async fn health_checks(api_url: &str, log_prefix: &str) -> Vec<Check> {
    let http = match zayavka::outbound::client(std::time::Duration::from_secs(10)) {
        Ok(h) => h,
        Err(e) => {
            return vec![Check::fail(
                "health",
                e.to_string(),
                "check the machine's TLS setup",
            )];
        }
    };
    let base = api_url.trim_end_matches('/');
    let mut out = Vec::new();
    for function in HTTP_FUNCTIONS {
        let name = format!("health {function}");
        let logs =
            format!("read why: `aws logs tail /aws/lambda/{log_prefix}{function} --since 15m`");
        let answer = http.get(format!("{base}/health/{function}")).send().await;
        let check = match answer {
            Err(e) => Check::fail(
                name,
                e.without_url().to_string(),
                "check --api-url is the stack's ApiUrl output and the stack is deployed",
            ),
            Ok(r) if r.status().is_success() => {
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                if body["function"] == *function {
                    Check::ok(
                        name,
                        format!("version {}", body["version"].as_str().unwrap_or("?")),
                    )
                } else {
                    Check::fail(
                        name,
                        format!("answered, but not as {function}: {body}"),
                        "check --api-url is this stack's ApiUrl output",
                    )
                }
            }
            Ok(r) => Check::fail(name, format!("HTTP {}", r.status().as_u16()), logs),
        };
        out.push(check);
    }
    out
}

/// A bot's token, then its webhook and deliveries; each step only when the one before
/// could be asked.
async fn one_bot(api: &BotApi, bot: &BotConfig, opts: &Options) -> Vec<Check> {
    let name = format!("bot {}", bot.name);
    let upper = bot.name.to_ascii_uppercase();
    let me = match api.get_me().await {
        Ok(me) => me,
        Err(e) => {
            return vec![Check::fail(
                format!("{name} token"),
                e.to_string(),
                format!("check TELEGRAM_{upper}_BOT_TOKEN (BotFather: /mybots - API Token)"),
            )];
        }
    };
    let token = Check::ok(
        format!("{name} token"),
        format!("@{}", me.username.unwrap_or_default()),
    );
    let info = match api.webhook_info().await {
        Ok(info) => info,
        Err(e) => {
            return vec![
                token,
                Check::fail(
                    format!("{name} webhook"),
                    e.to_string(),
                    "try again; Telegram did not answer getWebhookInfo",
                ),
            ];
        }
    };
    let expected = match opts
        .api_url
        .as_deref()
        .map(|u| crate::webhooks::webhook_url(u, bot.name))
    {
        Some(Ok(url)) => Some(url),
        Some(Err(e)) => {
            return vec![
                token,
                Check::fail(
                    format!("{name} webhook"),
                    e,
                    "give --api-url the stack's ApiUrl output as printed",
                ),
            ];
        }
        None => None,
    };
    vec![
        token,
        webhook_check(&name, bot.name, &info.url, expected.as_deref(), opts),
        deliveries_check(&name, &info, opts.now_unix),
    ]
}

/// Where the bot's webhook points, against where it should.
fn webhook_check(
    name: &str,
    bot: &str,
    got: &str,
    expected: Option<&str>,
    opts: &Options,
) -> Check {
    let set_all = match &opts.api_url {
        Some(api_url) => format!("zayavka telegram set-webhook --all --api-url {api_url}"),
        None => "zayavka telegram set-webhook --all --api-url <the stack's ApiUrl>".into(),
    };
    let check = format!("{name} webhook");
    match (expected, got) {
        (_, "") if opts.aws.is_none() => Check::warn(
            check,
            "none set",
            format!("locally, `zayavka poll --bot {bot}` fetches its updates; deployed, {set_all}"),
        ),
        (_, "") => Check::fail(
            check,
            "none set: Telegram sends its updates nowhere",
            set_all,
        ),
        (Some(want), got) if want != got => {
            Check::fail(check, format!("points at {got}, not {want}"), set_all)
        }
        (_, got) => Check::ok(check, got.to_string()),
    }
}

/// Updates waiting, and a delivery error of the last day (an older one is history).
fn deliveries_check(name: &str, info: &WebhookInfo, now_unix: i64) -> Check {
    let pending = info.pending_update_count;
    let recent_error = info
        .last_error_date
        .and_then(|at| i64::try_from(at).ok())
        .filter(|at| now_unix - at < 24 * 3600);
    match (recent_error, &info.last_error_message) {
        (Some(at), Some(message)) => Check::warn(
            format!("{name} deliveries"),
            format!(
                "{pending} updates waiting; last error {}: {message}",
                zayavka::time::timestamp(at * 1000)
            ),
            "Telegram could not deliver to the webhook: check the telegram-webhook function's log and that the URL answers",
        ),
        _ => Check::ok(
            format!("{name} deliveries"),
            format!("{pending} updates waiting, no error in the last day"),
        ),
    }
}

async fn okdesk_checks(env: &dyn EnvSource) -> Vec<Check> {
    let mut r = EnvReader::new(env);
    let cfg = zayavka::helpdesk::config::OkdeskConfig::read(&mut r);
    if let Err(e) = r.finish() {
        return vec![Check::fail(
            "Okdesk",
            e.to_string(),
            "fix the Okdesk settings named above",
        )];
    }
    let Some(cfg) = cfg else {
        return vec![Check::skipped(
            "Okdesk",
            "OKDESK_API_URL is not set: no helpdesk bot",
        )];
    };
    crate::okdesk_check::run(&cfg, None)
        .await
        .into_iter()
        .map(|c| {
            let name = format!("Okdesk {}", c.name);
            match c.passed {
                Some(true) => Check::ok(name, c.detail),
                None => Check::skipped(name, c.detail),
                Some(false) => Check::fail(
                    name,
                    c.detail,
                    "check OKDESK_API_URL (https://<account>.okdesk.ru/api/v1) and OKDESK_API_TOKEN (Okdesk - Settings - API); `zayavka okdesk check` says more",
                ),
            }
        })
        .collect()
}

/// The summary line, and whether the command succeeds.
pub fn summary(checks: &[Check]) -> (String, bool) {
    let count = |v: Verdict| checks.iter().filter(|c| c.verdict == v).count();
    let failed = count(Verdict::Failed);
    (
        format!(
            "{} checks: {} ok, {} warnings, {} failed, {} skipped",
            checks.len(),
            count(Verdict::Ok),
            count(Verdict::Warning),
            failed,
            count(Verdict::Skipped)
        ),
        failed == 0,
    )
}

/// An AWS error as one line, with the service's code and message when there is one.
fn aws_error<E: std::error::Error + 'static>(e: &E) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
