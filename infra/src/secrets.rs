//! `zayavka secrets set|list`: a stack's secrets in SSM Parameter Store, where its functions
//! read them at start (`zayavka::secrets`), and the deployer's view of them for `doctor` and
//! `telegram` (`--stack`). A value is only ever read from standard input or a prompt (never
//! an argument, which the shell's history and `ps` keep), checked before it is stored, and
//! never printed.

use zayavka::adapters::SsmParameters;
use zayavka::config::{AwsConfig, EnvSource};
use zayavka::deps::AwsClients;
use zayavka::secret::Secret;
use zayavka::secrets::{self, CATALOGUE, Needed, Spec, WithSecrets};

/// Parameter Store where the AWS settings of the shell point (`AWS_REGION`, a profile,
/// `AWS_ENDPOINT_URL` for an emulator).
pub async fn store() -> Result<SsmParameters, String> {
    let cfg = AwsConfig::from_env(false).map_err(|e| e.to_string())?;
    Ok(SsmParameters::new(AwsClients::new(&cfg).await.ssm))
}

/// The stack's path, `/zayavka/<stack>/`.
pub fn path(stack: &str) -> Result<String, String> {
    if secrets::valid_stack(stack) {
        Ok(secrets::stack_path(stack))
    } else {
        Err(format!(
            "{stack:?} is not a stack name (a letter, then letters, digits and -)"
        ))
    }
}

fn spec_named(name: &str) -> Result<&'static Spec, String> {
    secrets::spec(name).ok_or_else(|| {
        format!(
            "{name} is not one of the secrets: {}",
            CATALOGUE
                .iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// `secrets set NAME`: `value` checked against the secret's shape, then stored as a
/// `SecureString` (replacing what was there). Refused, nothing is stored.
pub async fn set(
    store: &SsmParameters,
    stack: &str,
    name: &str,
    value: &Secret,
) -> Result<Vec<String>, String> {
    let spec = spec_named(name)?;
    let path = path(stack)?;
    spec.check(value.expose())
        .map_err(|why| format!("{name} refused, nothing stored: {why}"))?;
    let parameter = format!("{path}{name}");
    store
        .put_secret(&parameter, value)
        .await
        .map_err(|e| e.to_string())?;
    Ok(vec![
        format!("{name} stored in Parameter Store as {parameter} (SecureString)"),
        format!(
            "read by {} at their next start; an instance already running keeps the value it read",
            spec.readers.join(", ")
        ),
    ])
}

/// When a secret must be there, as `list` says it.
fn needed_text(s: &Spec) -> String {
    match s.needed {
        Needed::Always => "required".into(),
        Needed::Bot(b) | Needed::WithBot(b) => format!("with the {b} bot"),
        Needed::Optional => "optional".into(),
    }
}

/// `secrets list`: every secret, whether it is set (and when), when it is needed and who
/// reads it; then anything else under the stack's path. Never a value.
pub async fn list(store: &SsmParameters, stack: &str) -> Result<Vec<String>, String> {
    let path = path(stack)?;
    let found = store.describe(&path).await.map_err(|e| e.to_string())?;
    let mut lines = vec![format!(
        "{:<32} {:<22} {:<21} read by",
        "secret", "set", "needed"
    )];
    for s in CATALOGUE {
        let set = match found.iter().find(|d| d.name == format!("{path}{}", s.name)) {
            Some(d) => {
                // The day it was last set: `2026-12-07T…` up to the `T`.
                let when = d
                    .changed_unix
                    .map(|t| zayavka::time::timestamp(t.saturating_mul(1000)))
                    .and_then(|t| t.split('T').next().map(String::from))
                    .unwrap_or_default();
                let kind = if d.secure { "" } else { " NOT SecureString" };
                format!("yes {when} v{}{kind}", d.version)
            }
            None => "no".into(),
        };
        lines.push(format!(
            "{:<32} {:<22} {:<21} {}",
            s.name,
            set,
            needed_text(s),
            s.readers.join(", ")
        ));
    }
    for d in &found {
        let name = d.name.strip_prefix(&path).unwrap_or(&d.name);
        if secrets::spec(name).is_none() {
            lines.push(format!("{:<32} (no function reads it)", d.name));
        }
    }
    Ok(lines)
}

/// The deployer's environment with `--stack`: every secret of the stack from Parameter
/// Store (none from the shell), the rest from the shell. Without it, the shell's alone.
pub async fn deployer_env(stack: Option<&str>) -> Result<Box<dyn EnvSource>, String> {
    let Some(stack) = stack else {
        return Ok(Box::new(zayavka::config::ProcessEnv));
    };
    let path = path(stack)?;
    let store = store().await?;
    let env: WithSecrets<'static> = secrets::load_all(&path, &zayavka::config::ProcessEnv, &store)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Box::new(env))
}
