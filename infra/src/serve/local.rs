//! What is local about a local stack: its signals, its default settings, its queues.

use zayavka::api_keys::ApiKeys;
use zayavka::config::{ProcessEnv, WithDefaults};
use zayavka::queues::{QueueSpec, catalogue};

use super::ServeError;

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// The environment `zayavka serve` runs the functions with: the process's own, and for what
/// it leaves unset, local defaults: an API key kept in the data directory (made on first
/// start) and a sender address for the mail outbox.
pub fn local_env(
    data_dir: &std::path::Path,
) -> Result<(WithDefaults<ProcessEnv>, String), ServeError> {
    let dir_err = |source| ServeError::DataDir {
        dir: data_dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(dir_err)?;
    let key_file = data_dir.join("api-key");
    let key = match std::fs::read_to_string(&key_file) {
        Ok(k) if k.trim().len() >= 16 => k.trim().to_string(),
        _ => {
            let k = format!("local-{}", uuid::Uuid::new_v4().simple());
            write_private(&key_file, &k).map_err(dir_err)?;
            k
        }
    };
    // The key is a credential: only its owner may read it (a file from an older version
    // may be wider).
    set_private(&key_file).map_err(dir_err)?;
    let defaults = std::collections::HashMap::from([
        // On the developer's own machine the generated key is an admin key: it opens the
        // admin pages and every API there.
        ("ZAYAVKA_API_KEYS".to_string(), format!("admin:{key}")),
        ("MAIL_FROM".to_string(), "zayavka@zayavka.local".to_string()),
    ]);
    let env = WithDefaults {
        source: ProcessEnv,
        defaults,
    };
    let mut reader = zayavka::config::EnvReader::new(&env);
    let active = ApiKeys::read(&mut reader)
        .first()
        .unwrap_or_default()
        .to_string();
    Ok((env, active))
}

/// The default queue set for serve.
pub fn default_specs() -> Vec<QueueSpec> {
    catalogue()
}

/// Writes a file only its owner can read.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

fn set_private(path: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
