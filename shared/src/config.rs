//! Configuration read once from the environment into typed structs. A reader collects
//! every problem, so one error names every missing or invalid variable at once.

use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration is incomplete: {}", .problems.join("; "))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

/// Where variables come from: the process, or a map in tests.
pub trait EnvSource {
    fn var(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl EnvSource for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// The process environment first, then defaults (what `zayavka serve` fills in locally).
pub struct WithDefaults<S: EnvSource> {
    pub source: S,
    pub defaults: HashMap<String, String>,
}

impl<S: EnvSource> EnvSource for WithDefaults<S> {
    fn var(&self, name: &str) -> Option<String> {
        self.source
            .var(name)
            .filter(|v| !v.trim().is_empty())
            .or_else(|| self.defaults.get(name).cloned())
    }
}

pub struct EnvReader<'a> {
    source: &'a dyn EnvSource,
    problems: Vec<String>,
}

impl<'a> EnvReader<'a> {
    pub fn new(source: &'a dyn EnvSource) -> Self {
        Self {
            source,
            problems: Vec::new(),
        }
    }

    /// A set, non-blank value; blank counts as unset.
    pub fn optional(&mut self, name: &str) -> Option<String> {
        self.source
            .var(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    pub fn required(&mut self, name: &str) -> String {
        self.optional(name).unwrap_or_else(|| {
            self.problems.push(format!("{name} is not set"));
            String::new()
        })
    }

    pub fn or(&mut self, name: &str, default: &str) -> String {
        self.optional(name).unwrap_or_else(|| default.to_string())
    }

    pub fn parse_or<T>(&mut self, name: &str, default: T) -> T
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.optional(name) {
            None => default,
            Some(raw) => raw.parse().unwrap_or_else(|e| {
                self.problems
                    .push(format!("{name}={raw:?} is invalid: {e}"));
                default
            }),
        }
    }

    /// A comma-separated list; blanks between commas are dropped.
    pub fn list(&mut self, name: &str) -> Vec<String> {
        self.optional(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Records a problem found by the caller's own validation.
    pub fn problem(&mut self, message: impl Into<String>) {
        self.problems.push(message.into());
    }

    pub fn finish(self) -> Result<(), ConfigError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError {
                problems: self.problems,
            })
        }
    }
}

/// Where the AWS-backed adapters find their resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsConfig {
    /// `TABLE_NAME`: the DynamoDB table.
    pub table_name: String,
    /// `QUEUE_NAME_PREFIX`: SQS queues are named `<prefix><logical name>`.
    pub queue_prefix: String,
    /// `AWS_ENDPOINT_URL`: an emulator such as moto; unset in AWS.
    pub endpoint_url: Option<String>,
    /// `AWS_REGION`.
    pub region: Option<String>,
    /// `SES_CONFIGURATION_SET`: where SES publishes bounces (the template makes one).
    pub ses_configuration_set: Option<String>,
    /// The deployed functions that Lambda-kept queues invoke (`queues::INVOKED`: logical
    /// queue → function name, from each entry's variable, `BATCH_TRACKER_FUNCTION` for
    /// `batch-results`). Required in Lambda; locally unset, and those queues are queues.
    pub invoked: std::collections::BTreeMap<String, String>,
    /// `METRICS_NAMESPACE`: where the embedded-format metrics go. In Lambda only (it
    /// defaults to `metrics::DEFAULT_NAMESPACE`); locally, nothing reads them.
    pub metrics_namespace: Option<String>,
}

pub const DEFAULT_TABLE_NAME: &str = "zayavka";
pub const DEFAULT_QUEUE_PREFIX: &str = "zayavka-";

impl AwsConfig {
    /// In Lambda the table name must be given; locally it defaults.
    pub fn read(env: &mut EnvReader<'_>, require_table: bool) -> Self {
        let table_name = if require_table {
            env.required("TABLE_NAME")
        } else {
            env.or("TABLE_NAME", DEFAULT_TABLE_NAME)
        };
        let queue_prefix = env
            .source
            .var("QUEUE_NAME_PREFIX")
            .unwrap_or_else(|| DEFAULT_QUEUE_PREFIX.to_string());
        // Every TLS client reads its trusted roots from this file when it is set (the template
        // sets it); a name that is not a file leaves none trusted and every call failing.
        if let Some(path) = env.optional("SSL_CERT_FILE")
            && !std::path::Path::new(&path).is_file()
        {
            env.problem(format!(
                "SSL_CERT_FILE: {path} is not a file; it names the trusted root certificates (PEM)"
            ));
        }
        Self {
            table_name,
            queue_prefix,
            endpoint_url: env.optional("AWS_ENDPOINT_URL"),
            region: env.optional("AWS_REGION"),
            ses_configuration_set: env.optional("SES_CONFIGURATION_SET"),
            metrics_namespace: require_table
                .then(|| env.or("METRICS_NAMESPACE", crate::metrics::DEFAULT_NAMESPACE)),
            invoked: crate::queues::INVOKED
                .iter()
                .filter_map(|i| {
                    let function = if require_table {
                        Some(env.required(i.env))
                    } else {
                        env.optional(i.env)
                    };
                    function.map(|f| (i.queue.to_string(), f))
                })
                .collect(),
        }
    }

    pub fn from_env(require_table: bool) -> Result<Self, ConfigError> {
        let mut env = EnvReader::new(&ProcessEnv);
        let cfg = Self::read(&mut env, require_table);
        env.finish()?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_named_at_once() {
        let env = HashMap::from([
            ("PORT".to_string(), "eighty".to_string()),
            ("BLANK".to_string(), "  ".to_string()),
        ]);
        let mut r = EnvReader::new(&env);
        let _ = r.required("TABLE_NAME");
        let _ = r.required("BLANK");
        let port: u16 = r.parse_or("PORT", 80);
        assert_eq!(port, 80);
        let err = r.finish().unwrap_err();
        assert_eq!(err.problems.len(), 3, "{err}");
        let text = err.to_string();
        assert!(text.contains("TABLE_NAME is not set"), "{text}");
        assert!(text.contains("BLANK is not set"), "{text}");
        assert!(text.contains("PORT=\"eighty\" is invalid"), "{text}");
    }

    #[test]
    fn lambda_needs_a_table_name_and_local_runs_default_it() {
        let empty: HashMap<String, String> = HashMap::new();
        let mut r = EnvReader::new(&empty);
        let local = AwsConfig::read(&mut r, false);
        assert!(r.finish().is_ok());
        assert_eq!(local.table_name, DEFAULT_TABLE_NAME);
        assert_eq!(local.queue_prefix, DEFAULT_QUEUE_PREFIX);
        let mut r = EnvReader::new(&empty);
        AwsConfig::read(&mut r, true);
        assert!(r.finish().unwrap_err().to_string().contains("TABLE_NAME"));
    }

    #[test]
    fn a_root_certificate_file_that_is_not_there_stops_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("ca-bundle.crt");
        std::fs::write(&bundle, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let read = |path: &std::path::Path| {
            let env = HashMap::from([("SSL_CERT_FILE".to_string(), path.display().to_string())]);
            let mut r = EnvReader::new(&env);
            AwsConfig::read(&mut r, false);
            r.finish()
        };
        assert!(read(&bundle).is_ok());
        let text = read(&dir.path().join("missing.crt"))
            .unwrap_err()
            .to_string();
        assert!(text.contains("SSL_CERT_FILE"), "{text}");
        assert!(text.contains("missing.crt is not a file"), "{text}");
        // A directory is not a bundle either.
        assert!(read(dir.path()).is_err());
    }
}
