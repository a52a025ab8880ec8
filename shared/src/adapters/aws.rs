//! Building the AWS SDK configuration once per process.

use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig, timeout::TimeoutConfig};

/// Where the AWS adapters talk to. `endpoint_url` is for emulators (moto); when it is unset
/// the SDK still honours `AWS_ENDPOINT_URL` from the environment.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
}

/// Loads the SDK configuration. Call it once and share the clients built from it: each
/// client holds a connection pool, and a Lambda cold start should pay for it once.
pub async fn load(settings: &AwsSettings) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(Duration::from_secs(10))
            .build(),
    );
    // The SDK's own HTTPS client (hyper, rustls, the system's roots), with ring for rustls's
    // cryptography instead of aws-lc (as `outbound::tls_config` gives our own clients).
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    loader = loader.http_client(https);
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    loader.load().await
}

/// The error codes AWS uses for "slow down or try again".
pub(crate) fn is_retryable_code(code: &str) -> bool {
    matches!(
        code,
        "ThrottlingException"
            | "Throttling"
            | "ProvisionedThroughputExceededException"
            | "RequestLimitExceeded"
            | "InternalServerError"
            | "InternalFailure"
            | "ServiceUnavailable"
            | "TransactionConflictException"
            | "TransactionInProgressException"
            | "LimitExceededException"
            | "RequestThrottled"
            | "KMS.ThrottlingException"
    )
}
