//! `zayavka`: run the whole stack locally, and admin tasks.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use zayavka::config::AwsConfig;
use zayavka::queues::catalogue;
use zayavka_cli::{admin, serve};

#[derive(Parser)]
#[command(
    name = "zayavka",
    version,
    about = "Every заявка a small business gets, in one place"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every function locally: HTTP on 127.0.0.1, queue workers in-process.
    Serve {
        #[arg(long, default_value = "127.0.0.1")]
        host: IpAddr,
        #[arg(long, default_value_t = 3000)]
        port: u16,
        #[arg(long, env = "ZAYAVKA_DATA_DIR", default_value = ".zayavka")]
        data_dir: PathBuf,
        /// Use DynamoDB, SQS and SES at AWS_ENDPOINT_URL (or AWS itself) instead of the
        /// embedded store.
        #[arg(long)]
        aws: bool,
    },
    /// Create the table and every queue (with dead-letter queues) at AWS_ENDPOINT_URL.
    InitAws,
    /// Register, inspect or remove a bot's webhook with Telegram.
    Telegram {
        #[command(subcommand)]
        command: TelegramCommand,
    },
    /// Fetch a bot's updates with getUpdates and handle them as the webhook would, for
    /// development without a public URL (refused while a webhook is set).
    Poll {
        #[arg(long)]
        bot: String,
        #[command(flatten)]
        store: Store,
    },
    /// Support relay housekeeping.
    Support {
        #[command(subcommand)]
        command: SupportCommand,
        #[command(flatten)]
        store: Store,
    },
    /// Okdesk: is the configured API reachable with its token (OKDESK_API_URL,
    /// OKDESK_API_TOKEN, OKDESK_INN_PARAMETER from the environment).
    Okdesk {
        #[command(subcommand)]
        command: OkdeskCommand,
    },
    /// Internal tickets: offer one again, check a category's setup.
    Tickets {
        #[command(subcommand)]
        command: TicketsCommand,
        #[command(flatten)]
        store: Store,
    },
    /// Leads: replay the failed deliveries of those that settled failed or partial.
    Leads {
        #[command(subcommand)]
        command: LeadsCommand,
        #[command(flatten)]
        store: Store,
    },
    /// Who gets each category's tickets.
    Executors {
        #[command(subcommand)]
        command: ExecutorsCommand,
        #[command(flatten)]
        store: Store,
    },
    /// Is everything ready? A verdict per check (store, queues and dead letters, SES, each
    /// bot's token and webhook, Okdesk) with the fix for each problem; exits 1 on a failure.
    Doctor {
        /// The stack's ApiUrl output: each bot's webhook must point under it.
        #[arg(long)]
        api_url: Option<String>,
        /// The stack whose secrets (in Parameter Store) the bots' and Okdesk's checks use
        /// instead of the environment's.
        #[arg(long, requires = "aws")]
        stack: Option<String>,
        #[command(flatten)]
        store: Store,
    },
    /// A deployed stack's secrets in SSM Parameter Store, where its functions read them at
    /// start (AWS settings from the environment, as for `--aws`).
    Secrets {
        #[command(subcommand)]
        command: SecretsCommand,
    },
    /// Look into and feed the queues.
    Queue {
        #[command(subcommand)]
        command: QueueCommand,
        #[command(flatten)]
        store: Store,
    },
}

/// Where the admin commands find the data: the embedded store, or AWS with `--aws`.
#[derive(Args)]
struct Store {
    #[arg(
        long,
        env = "ZAYAVKA_DATA_DIR",
        default_value = ".zayavka",
        global = true
    )]
    data_dir: PathBuf,
    /// DynamoDB and SQS at AWS_ENDPOINT_URL (or AWS itself) instead of the embedded store.
    #[arg(long, global = true)]
    aws: bool,
}

#[derive(Subcommand)]
enum TelegramCommand {
    /// Send a bot's updates to URL, or every configured bot's to its webhook under the
    /// stack's ApiUrl (`--all --api-url`); passes each bot's secret, the updates it handles
    /// and its command menu.
    SetWebhook {
        #[arg(
            long,
            required_unless_present = "all",
            conflicts_with = "all",
            requires = "url"
        )]
        bot: Option<String>,
        /// e.g. https://<api>/telegram/<bot>/webhook
        #[arg(long, requires = "bot")]
        url: Option<String>,
        /// Every bot configured by TELEGRAM_<BOT>_BOT_TOKEN and its secret.
        #[arg(long, requires = "api_url")]
        all: bool,
        /// The stack's ApiUrl output, e.g. https://abc123.execute-api.eu-central-1.amazonaws.com
        #[arg(long, requires = "all")]
        api_url: Option<String>,
        /// Throw away updates that are waiting.
        #[arg(long)]
        drop_pending_updates: bool,
        #[command(flatten)]
        stack: StackSecrets,
    },
    /// What Telegram knows of the bot's webhook: URL, pending updates, last error.
    WebhookInfo {
        #[arg(long)]
        bot: String,
        #[command(flatten)]
        stack: StackSecrets,
    },
    /// Stop sending the bot's updates anywhere.
    DeleteWebhook {
        #[arg(long)]
        bot: String,
        #[arg(long)]
        drop_pending_updates: bool,
        #[command(flatten)]
        stack: StackSecrets,
    },
}

/// Where the bots' tokens and secrets come from: a deployed stack's Parameter Store, or
/// (without `--stack`) the environment.
#[derive(Args)]
struct StackSecrets {
    /// The stack whose secrets (in SSM Parameter Store) to use, e.g. zayavka.
    #[arg(long)]
    stack: Option<String>,
}

#[derive(Subcommand)]
enum SecretsCommand {
    /// Store one secret, NAME as the functions read it (e.g. TELEGRAM_MAIN_BOT_TOKEN). The
    /// value comes from standard input (`… < file`), or a prompt that does not show it;
    /// it is checked before it is stored.
    Set {
        name: String,
        #[arg(long)]
        stack: String,
    },
    /// Which secrets are set (never their values), when each is needed, who reads it.
    List {
        #[arg(long)]
        stack: String,
    },
}

#[derive(Subcommand)]
enum SupportCommand {
    /// Remove every Telegram chat binding (after changing the support bot, or to drop test
    /// bindings); prints how many.
    ClearBindings {
        /// Only count them.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum OkdeskCommand {
    /// Token accepted, API reachable, issues listed, and (with --inn) the company found.
    Check {
        /// A company's INN to look up as registration will.
        #[arg(long)]
        inn: Option<String>,
    },
}

#[derive(Subcommand)]
enum LeadsCommand {
    /// Send again what failed, for every lead that settled failed or partial since a time,
    /// at a steady pace; what succeeded is never sent again.
    Retry {
        /// Only this integration's deliveries (email, amocrm, telegram, bitrix24, webhook).
        #[arg(long)]
        integration: Option<String>,
        /// Settled since: a time (2026-12-01T09:00:00Z) or a span back (90m, 24h, 3d).
        #[arg(long, default_value = "24h")]
        since: String,
        /// Only leads that settled so: failed or partial.
        #[arg(long)]
        status: Option<String>,
        /// Replays per second.
        #[arg(long, default_value_t = 5.0)]
        rate: f64,
    },
}

#[derive(Subcommand)]
enum TicketsCommand {
    /// Offer a ticket nobody took to its executors again (the latest ticket when no ID).
    Notify { id: Option<i64> },
    /// The setup checks: active executors with a bound Telegram in the category, the staff
    /// bot's webhook, the notifications queue (and its dead-letter queue).
    Check {
        #[arg(long)]
        category: i64,
    },
}

#[derive(Subcommand)]
enum ExecutorsCommand {
    /// Make a user an executor of a category.
    Add {
        #[arg(long)]
        user: i64,
        #[arg(long)]
        category: i64,
        /// Higher is offered first.
        #[arg(long, default_value_t = 0)]
        priority: i64,
        /// Open tickets at which no more are offered.
        #[arg(long, default_value_t = 10)]
        max_tickets: i64,
        /// Added switched off.
        #[arg(long)]
        inactive: bool,
    },
    /// Executors (of one category, or all).
    List {
        #[arg(long)]
        category: Option<i64>,
    },
    /// Remove an executor by its id.
    Remove { id: i64 },
}

#[derive(Subcommand)]
enum QueueCommand {
    /// Messages visible, in flight and delayed, per queue.
    List,
    /// Send one message.
    Send {
        queue: String,
        body: String,
        #[arg(long, default_value_t = 0)]
        delay: u32,
    },
    /// Move a dead-letter queue's messages back to their queue (embedded store).
    Redrive { dead_letter_queue: String },
}

#[tokio::main]
async fn main() -> ExitCode {
    zayavka::logging::init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("zayavka: {message}");
            ExitCode::FAILURE
        }
    }
}

/// One function per subcommand; each turns its errors into the line `main` prints.
async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve {
            host,
            port,
            data_dir,
            aws,
        } => serve_command(host, port, data_dir, aws).await,
        Command::InitAws => init_aws().await,
        Command::Telegram { command } => telegram(command).await,
        Command::Support {
            command: SupportCommand::ClearBindings { dry_run },
            store,
        } => clear_bindings(store, dry_run).await,
        Command::Okdesk {
            command: OkdeskCommand::Check { inn },
        } => okdesk_check(inn.as_deref()).await,
        Command::Poll { bot, store } => {
            admin::poll(&bot, &store.data_dir, store.aws, serve::shutdown_signal())
                .await
                .map_err(|e| e.to_string())
        }
        Command::Doctor {
            api_url,
            stack,
            store,
        } => doctor(api_url, stack, store).await,
        Command::Secrets { command } => secrets(command).await,
        Command::Queue { command, store } => queue(command, store).await,
        Command::Tickets { command, store } => tickets(command, store).await,
        Command::Leads { command, store } => leads(command, store).await,
        Command::Executors { command, store } => executors(command, store).await,
    }
}

/// `zayavka leads retry`: the RETRY_SCHEDULE and STUCK_GRACE of the environment say how
/// long a replay may take before the sweeper looks at it, as lead-submit's do.
async fn leads(command: LeadsCommand, store: Store) -> Result<(), String> {
    let LeadsCommand::Retry {
        integration,
        since,
        status,
        rate,
    } = command;
    let integration = match integration.as_deref() {
        None => None,
        Some(name) => Some(zayavka::leads::Integration::parse(name).ok_or_else(|| {
            format!("--integration {name:?}: one of email, amocrm, telegram, bitrix24, webhook")
        })?),
    };
    if !(rate > 0.0 && rate.is_finite()) {
        return Err(format!("--rate {rate}: replays per second, more than 0"));
    }
    let env = zayavka::config::ProcessEnv;
    let mut r = zayavka::config::EnvReader::new(&env);
    let defaults = zayavka::leads::request::Defaults::read(&mut r);
    r.finish().map_err(|e| e.to_string())?;
    let deps = admin::open_deps(&store.data_dir, store.aws)
        .await
        .map_err(|e| e.to_string())?;
    let bulk = zayavka_cli::leads::Bulk {
        since_ms: zayavka_cli::leads::parse_since(&since, deps.clock.now_ms())?,
        integration,
        status,
        rate,
        patience_ms: defaults.patience_ms,
    };
    for line in zayavka_cli::leads::retry(&deps, &bulk).await? {
        println!("{line}");
    }
    Ok(())
}

/// `zayavka tickets notify|check`.
async fn tickets(command: TicketsCommand, store: Store) -> Result<(), String> {
    let deps = admin::open_deps(&store.data_dir, store.aws)
        .await
        .map_err(|e| e.to_string())?;
    match command {
        TicketsCommand::Notify { id } => {
            for line in zayavka_cli::tickets::notify(&deps, id).await? {
                println!("{line}");
            }
            Ok(())
        }
        TicketsCommand::Check { category } => {
            let bot = admin::telegram_bot("staff", &zayavka::config::ProcessEnv)
                .ok()
                .map(|(api, _)| api);
            let checks = zayavka_cli::tickets::check(&deps, category, bot.as_ref()).await?;
            for c in &checks {
                println!("{}", c.line());
            }
            if checks.iter().all(|c| c.passed != Some(false)) {
                println!("category {category} is ready: new tickets reach its executors.");
                Ok(())
            } else {
                Err("some checks failed (see above)".to_string())
            }
        }
    }
}

/// `zayavka executors add|list|remove`.
async fn executors(command: ExecutorsCommand, store: Store) -> Result<(), String> {
    let deps = admin::open_deps(&store.data_dir, store.aws)
        .await
        .map_err(|e| e.to_string())?;
    match command {
        ExecutorsCommand::Add {
            user,
            category,
            priority,
            max_tickets,
            inactive,
        } => {
            let checked = zayavka::tickets::api::new_executor(&serde_json::json!({
                "user_id": user, "category_id": category, "priority": priority,
                "max_tickets": max_tickets, "is_active": !inactive,
            }))
            .map_err(|e| e.to_string())?;
            let e = zayavka_cli::tickets::add(&deps, checked).await?;
            println!(
                "executor {}: user {} in category {} (priority {}, max {} tickets{})",
                e.id,
                e.user_id,
                e.category_id,
                e.priority,
                e.max_tickets,
                if e.is_active { "" } else { ", inactive" }
            );
            Ok(())
        }
        ExecutorsCommand::List { category } => {
            for line in zayavka_cli::tickets::list(&deps, category).await? {
                println!("{line}");
            }
            Ok(())
        }
        ExecutorsCommand::Remove { id } => {
            zayavka_cli::tickets::remove(&deps, id).await?;
            println!("executor {id} removed");
            Ok(())
        }
    }
}

/// `zayavka serve`: the whole stack until Ctrl-C or SIGTERM.
async fn serve_command(
    host: IpAddr,
    port: u16,
    data_dir: PathBuf,
    aws: bool,
) -> Result<(), String> {
    // AWS settings first: a missing one is reported before anything is opened.
    let aws = if aws {
        Some(AwsConfig::from_env(false).map_err(|e| e.to_string())?)
    } else {
        None
    };
    let (env, keys) = serve::local_env(&data_dir).map_err(|e| e.to_string())?;
    eprintln!(
        "Admin API key for /api/* and /executors: {} (set ZAYAVKA_API_KEYS to choose your own)",
        keys.split(',').next().unwrap_or_default()
    );
    let opts = serve::ServeOptions {
        host,
        port,
        data_dir,
        aws,
    };
    serve::run(
        opts,
        serve::default_specs(),
        |deps, prefix| serve::functions(deps, &env, prefix),
        serve::shutdown_signal(),
    )
    .await
    .map_err(|e| e.to_string())
}

/// `zayavka init-aws`: what was created and what was already there.
async fn init_aws() -> Result<(), String> {
    let cfg = AwsConfig::from_env(false).map_err(|e| e.to_string())?;
    let report = admin::init_aws(&cfg, &catalogue())
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "table {}: {}",
        report.table,
        if report.table_created {
            "created"
        } else {
            "already there"
        }
    );
    println!(
        "queues: {} created, {} already there",
        report.queues_created.len(),
        report.queues_total - report.queues_created.len()
    );
    Ok(())
}

/// `zayavka support clear-bindings [--dry-run]`.
async fn clear_bindings(store: Store, dry_run: bool) -> Result<(), String> {
    let deps = admin::open_deps(&store.data_dir, store.aws)
        .await
        .map_err(|e| e.to_string())?;
    let n = zayavka::support::store::clear_bindings(&deps, dry_run)
        .await
        .map_err(|e| e.to_string())?;
    if dry_run {
        println!("{n} bindings would be removed");
    } else {
        println!("{n} bindings removed");
    }
    Ok(())
}

/// `zayavka okdesk check [--inn]`: one line per check, and a failing exit when any failed
/// (a skipped check does not count as failed).
async fn okdesk_check(inn: Option<&str>) -> Result<(), String> {
    let mut r = zayavka::config::EnvReader::new(&zayavka::config::ProcessEnv);
    let cfg = zayavka::helpdesk::config::OkdeskConfig::read(&mut r);
    r.finish().map_err(|e| e.to_string())?;
    let cfg = cfg.ok_or("OKDESK_API_URL is not set (https://<account>.okdesk.ru/api/v1)")?;
    let checks = zayavka_cli::okdesk_check::run(&cfg, inn).await;
    for c in &checks {
        println!("{}", c.line());
    }
    if checks.iter().all(|c| c.passed != Some(false)) {
        println!("Okdesk is ready for zayavka.");
        Ok(())
    } else {
        Err("some Okdesk checks failed (see above)".to_string())
    }
}

/// `zayavka doctor [--aws] [--api-url]`: the checks, a summary, and a failing exit when any
/// check failed.
async fn doctor(
    api_url: Option<String>,
    stack: Option<String>,
    store: Store,
) -> Result<(), String> {
    let aws = if store.aws {
        Some(AwsConfig::from_env(false).map_err(|e| e.to_string())?)
    } else {
        None
    };
    let opts = zayavka_cli::doctor::Options {
        aws,
        data_dir: store.data_dir,
        api_url,
        now_unix: zayavka::ports::Clock::now_ms(&zayavka::ports::SystemClock) / 1000,
    };
    let env = zayavka_cli::secrets::deployer_env(stack.as_deref()).await?;
    let mut checks = Vec::new();
    if let Some(stack) = &stack {
        checks.push(zayavka_cli::doctor::secrets_check(stack).await);
    }
    checks.extend(zayavka_cli::doctor::run(&opts, env.as_ref()).await);
    for c in &checks {
        println!("{}", c.lines());
    }
    let (summary, passed) = zayavka_cli::doctor::summary(&checks);
    println!("{summary}");
    if passed {
        Ok(())
    } else {
        Err("some checks failed (see above)".into())
    }
}

/// `zayavka queue ...`.
async fn queue(command: QueueCommand, store: Store) -> Result<(), String> {
    let Store { data_dir, aws } = store;
    match command {
        QueueCommand::List => queue_list(&data_dir, aws).await,
        QueueCommand::Send { queue, body, delay } => {
            queue_send(&data_dir, aws, &queue, &body, delay).await
        }
        QueueCommand::Redrive { dead_letter_queue } => {
            queue_redrive(&data_dir, aws, &dead_letter_queue).await
        }
    }
}

/// `zayavka queue list`: a table of every catalogued queue.
async fn queue_list(data_dir: &Path, aws: bool) -> Result<(), String> {
    let specs = catalogue();
    let queue = admin::open_queue(data_dir, aws, specs.clone())
        .await
        .map_err(|e| e.to_string())?;
    let rows = admin::queue_stats(queue.as_ref(), &specs)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "{:<28} {:>8} {:>10} {:>8}",
        "queue", "visible", "in flight", "delayed"
    );
    for (name, s) in rows {
        println!(
            "{name:<28} {:>8} {:>10} {:>8}",
            s.visible, s.in_flight, s.delayed
        );
    }
    Ok(())
}

/// `zayavka queue send`: prints the new message's id.
async fn queue_send(
    data_dir: &Path,
    aws: bool,
    queue: &str,
    body: &str,
    delay: u32,
) -> Result<(), String> {
    let q = admin::open_queue(data_dir, aws, catalogue())
        .await
        .map_err(|e| e.to_string())?;
    let id = admin::send(q.as_ref(), queue, body, delay)
        .await
        .map_err(|e| e.to_string())?;
    println!("{id}");
    Ok(())
}

/// `zayavka queue redrive`: embedded store only; SQS has its own redrive.
async fn queue_redrive(data_dir: &Path, aws: bool, dead_letter_queue: &str) -> Result<(), String> {
    if aws {
        return Err(
            "redrive works on the embedded store; in AWS use the SQS console's DLQ redrive".into(),
        );
    }
    let (to, moved) = admin::redrive(data_dir, dead_letter_queue, catalogue())
        .await
        .map_err(|e| e.to_string())?;
    println!("moved {moved} messages from {dead_letter_queue} to {to}");
    Ok(())
}

/// `zayavka telegram ...`.
async fn telegram(command: TelegramCommand) -> Result<(), String> {
    match command {
        TelegramCommand::SetWebhook {
            bot,
            url,
            all,
            api_url,
            drop_pending_updates,
            stack,
        } => {
            let env = zayavka_cli::secrets::deployer_env(stack.stack.as_deref()).await?;
            match (bot, url, all, api_url) {
                (Some(bot), Some(url), false, None) => {
                    let done = zayavka_cli::webhooks::set_named(
                        &bot,
                        &url,
                        drop_pending_updates,
                        env.as_ref(),
                    )
                    .await?;
                    done.iter().for_each(|line| println!("{line}"));
                    Ok(())
                }
                (None, None, true, Some(api_url)) => {
                    let (done, result) = zayavka_cli::webhooks::set_all(
                        &api_url,
                        drop_pending_updates,
                        env.as_ref(),
                    )
                    .await;
                    done.iter().for_each(|line| println!("{line}"));
                    result
                }
                _ => Err("give --bot and --url, or --all and --api-url".into()),
            }
        }
        TelegramCommand::WebhookInfo { bot, stack } => {
            let env = zayavka_cli::secrets::deployer_env(stack.stack.as_deref()).await?;
            webhook_info(&bot, env.as_ref()).await
        }
        TelegramCommand::DeleteWebhook {
            bot,
            drop_pending_updates,
            stack,
        } => {
            let env = zayavka_cli::secrets::deployer_env(stack.stack.as_deref()).await?;
            delete_webhook(&bot, drop_pending_updates, env.as_ref()).await
        }
    }
}

/// `zayavka secrets set|list`.
async fn secrets(command: SecretsCommand) -> Result<(), String> {
    let lines = match command {
        SecretsCommand::Set { name, stack } => {
            // Checked before anything is read or asked.
            zayavka_cli::secrets::path(&stack)?;
            let value = read_secret(&name)?;
            let store = zayavka_cli::secrets::store().await?;
            zayavka_cli::secrets::set(&store, &stack, &name, &value).await?
        }
        SecretsCommand::List { stack } => {
            let store = zayavka_cli::secrets::store().await?;
            zayavka_cli::secrets::list(&store, &stack).await?
        }
    };
    lines.iter().for_each(|line| println!("{line}"));
    Ok(())
}

/// A secret's value: typed at a prompt that does not show it, or piped in; surrounding
/// whitespace (the line's end) is not part of it.
fn read_secret(name: &str) -> Result<zayavka::secret::Secret, String> {
    use std::io::{IsTerminal, Read};
    let raw = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("{name} (not shown): "))
            .map_err(|e| format!("reading {name}: {e}"))?
    } else {
        let mut raw = String::new();
        std::io::stdin()
            .read_to_string(&mut raw)
            .map_err(|e| format!("reading {name} from standard input: {e}"))?;
        raw
    };
    Ok(zayavka::secret::Secret(raw.trim().to_string()))
}

/// `zayavka telegram webhook-info`.
async fn webhook_info(bot: &str, env: &dyn zayavka::config::EnvSource) -> Result<(), String> {
    let (api, _) = admin::telegram_bot(bot, env).map_err(|e| e.to_string())?;
    let info = api.webhook_info().await.map_err(|e| e.to_string())?;
    println!(
        "url: {}",
        if info.url.is_empty() {
            "(none)"
        } else {
            &info.url
        }
    );
    println!("pending updates: {}", info.pending_update_count);
    if let Some(message) = info.last_error_message {
        println!(
            "last error: {message} (at {})",
            info.last_error_date.unwrap_or_default()
        );
    }
    Ok(())
}

/// `zayavka telegram delete-webhook`.
async fn delete_webhook(
    bot: &str,
    drop_pending_updates: bool,
    env: &dyn zayavka::config::EnvSource,
) -> Result<(), String> {
    let (api, _) = admin::telegram_bot(bot, env).map_err(|e| e.to_string())?;
    api.delete_webhook(drop_pending_updates)
        .await
        .map_err(|e| e.to_string())?;
    println!("bot {bot}: webhook removed");
    Ok(())
}
