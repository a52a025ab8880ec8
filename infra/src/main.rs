//! `zayavka`: run the whole stack locally, and admin tasks.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
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
    /// Look into and feed the queues.
    Queue {
        #[command(subcommand)]
        command: QueueCommand,
        #[arg(
            long,
            env = "ZAYAVKA_DATA_DIR",
            default_value = ".zayavka",
            global = true
        )]
        data_dir: PathBuf,
        #[arg(long, global = true)]
        aws: bool,
    },
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

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve {
            host,
            port,
            data_dir,
            aws,
        } => {
            let aws = if aws {
                Some(AwsConfig::from_env(false).map_err(|e| e.to_string())?)
            } else {
                None
            };
            let (env, keys) = serve::local_env(&data_dir).map_err(|e| e.to_string())?;
            eprintln!(
                "API key for /api/*: {} (set ZAYAVKA_API_KEYS to choose your own)",
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
        Command::InitAws => {
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
        Command::Queue {
            command,
            data_dir,
            aws,
        } => {
            let specs = catalogue();
            match command {
                QueueCommand::List => {
                    let queue = admin::open_queue(&data_dir, aws, specs.clone())
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
                QueueCommand::Send { queue, body, delay } => {
                    let q = admin::open_queue(&data_dir, aws, specs)
                        .await
                        .map_err(|e| e.to_string())?;
                    let id = admin::send(q.as_ref(), &queue, &body, delay)
                        .await
                        .map_err(|e| e.to_string())?;
                    println!("{id}");
                    Ok(())
                }
                QueueCommand::Redrive { dead_letter_queue } => {
                    if aws {
                        return Err("redrive works on the embedded store; in AWS use the SQS console's DLQ redrive".into());
                    }
                    let (to, moved) = admin::redrive(&data_dir, &dead_letter_queue, specs)
                        .await
                        .map_err(|e| e.to_string())?;
                    println!("moved {moved} messages from {dead_letter_queue} to {to}");
                    Ok(())
                }
            }
        }
    }
}
