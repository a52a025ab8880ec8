//! SSM Parameter Store: where a deployed stack keeps its secrets (`secrets.rs`), as
//! `SecureString`s in the standard tier (free), encrypted with the account's AWS-managed
//! `aws/ssm` key. Values travel only in the requests and answers; an error says which call
//! failed and why, never a value (the SDK marks them sensitive, so it does not log them).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_ssm::error::DisplayErrorContext;
use aws_sdk_ssm::types::{ParameterStringFilter, ParameterTier, ParameterType};

use crate::secret::Secret;
use crate::secrets::{SecretStore, StoreError};

/// `GetParameters` takes at most ten names a call.
const NAMES_PER_CALL: usize = 10;

#[derive(Clone)]
pub struct SsmParameters {
    client: aws_sdk_ssm::Client,
}

/// A parameter under a path, as `DescribeParameters` tells it: no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub name: String,
    pub version: i64,
    /// When it was last set, Unix seconds.
    pub changed_unix: Option<i64>,
    pub secure: bool,
}

impl SsmParameters {
    pub fn new(client: aws_sdk_ssm::Client) -> Self {
        Self { client }
    }

    /// Stores `value` as the `SecureString` `name`, replacing what was there.
    pub async fn put_secret(&self, name: &str, value: &Secret) -> Result<(), StoreError> {
        self.client
            .put_parameter()
            .name(name)
            .value(value.expose())
            .r#type(ParameterType::SecureString)
            .tier(ParameterTier::Standard)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| StoreError(format!("PutParameter {name}: {}", DisplayErrorContext(&e))))?;
        Ok(())
    }

    /// Every parameter directly under `path` (`/zayavka/<stack>/`).
    pub async fn describe(&self, path: &str) -> Result<Vec<Described>, StoreError> {
        let filter = ParameterStringFilter::builder()
            .key("Path")
            .option("OneLevel")
            .values(path.trim_end_matches('/'))
            .build()
            .map_err(|e| StoreError(e.to_string()))?;
        let mut out = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = self
                .client
                .describe_parameters()
                .parameter_filters(filter.clone())
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| {
                    StoreError(format!(
                        "DescribeParameters {path}: {}",
                        DisplayErrorContext(&e)
                    ))
                })?;
            for p in page.parameters() {
                out.push(Described {
                    name: p.name().unwrap_or_default().to_string(),
                    version: p.version(),
                    changed_unix: p.last_modified_date().map(|d| d.secs()),
                    secure: p.r#type() == Some(&ParameterType::SecureString),
                });
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => next = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl SecretStore for SsmParameters {
    async fn get(&self, names: &[String]) -> Result<HashMap<String, String>, StoreError> {
        let mut out = HashMap::new();
        // Ten names a call. More (telegram-webhook with every bot on reads eleven) go one
        // call after the other on the one connection: at 128 MB a second TLS handshake costs
        // more CPU (≈ 2 ms here, ≈ 28 ms there) than a second round trip waits
        // (BENCHMARKS.md).
        for chunk in names.chunks(NAMES_PER_CALL) {
            let got = self
                .client
                .get_parameters()
                .set_names(Some(chunk.to_vec()))
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| StoreError(format!("GetParameters: {}", DisplayErrorContext(&e))))?;
            // Names that are not set come back in `invalid_parameters`: unset, not an error.
            for p in got.parameters() {
                if let (Some(name), Some(value)) = (p.name(), p.value()) {
                    out.insert(name.to_string(), value.to_string());
                }
            }
        }
        Ok(out)
    }
}
