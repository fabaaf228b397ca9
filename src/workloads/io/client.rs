//! The DynamoDB client: built from the function's configuration on the first io invocation and
//! kept for the warm ones, with the probe's fixed retries and timeouts and an interceptor that
//! counts each call's attempts.

use super::errors::cut;
use super::{
    ATTEMPT_TIMEOUT_MS, CALL_TIMEOUT_MS, CONNECT_TIMEOUT_MS, CREDENTIALS_TIMEOUT_MS,
    INITIAL_BACKOFF_MS, MAX_ATTEMPTS, MAX_BACKOFF_MS, PARTITION_KEY, TABLE_ENV, TTL_ATTRIBUTE,
};
use crate::error::ProbeError;
use crate::measure::stats::round;
use crate::measure::{Deadline, Stopwatch};
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{
    BehaviorVersion, ConfigBag, Intercept, ProvideCredentials, RuntimeComponents,
};
use aws_sdk_dynamodb::error::{BoxError, DisplayErrorContext};
use aws_sdk_dynamodb::Client;
use std::cell::Cell;
use std::time::Duration;
use tokio::sync::OnceCell;

/// The table from the function's configuration; never from the payload.
pub fn table_from_env() -> Result<String, ProbeError> {
    match std::env::var(TABLE_ENV) {
        Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_string()),
        _ => Err(ProbeError::not_configured(format!(
            "io: the function has no {TABLE_ENV} environment variable; set {TABLE_ENV} to the \
             name of a DynamoDB table with partition key `{PARTITION_KEY}` (String) and TTL on \
             `{TTL_ATTRIBUTE}` (the SAM template does this; for a local endpoint also set \
             AWS_ENDPOINT_URL_DYNAMODB)"
        ))),
    }
}

/// The client this process keeps for its warm invocations.
#[derive(Debug)]
pub struct SharedClient {
    pub client: Client,
    pub region: String,
    /// SDK configuration load, credential check and client construction, in ms.
    pub init_ms: f64,
}

static CLIENT: OnceCell<SharedClient> = OnceCell::const_new();

/// The process's client, built on first use. The flag says whether this call built it.
pub async fn shared_client(
    deadline: Deadline,
) -> Result<(&'static SharedClient, bool), ProbeError> {
    let mut built = false;
    let shared = CLIENT
        .get_or_try_init(|| {
            built = true;
            build_client(deadline)
        })
        .await?;
    Ok((shared, built))
}

/// Retries and timeouts, fixed here rather than taken from the environment so every run of the
/// probe retries the same way (see the constants in request.rs for the reasons).
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(INITIAL_BACKOFF_MS))
        .with_max_backoff(Duration::from_millis(MAX_BACKOFF_MS))
}

pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(CONNECT_TIMEOUT_MS))
        .operation_attempt_timeout(Duration::from_millis(ATTEMPT_TIMEOUT_MS))
        .operation_timeout(Duration::from_millis(CALL_TIMEOUT_MS))
        .build()
}

/// Loads the standard SDK configuration (region, credentials, `AWS_ENDPOINT_URL_DYNAMODB`), checks
/// that it can sign a request, and builds the client.
async fn build_client(deadline: Deadline) -> Result<SharedClient, ProbeError> {
    let clock = Stopwatch::start();
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry_config())
        .timeout_config(timeout_config())
        .load()
        .await;
    let region = sdk.region().map(|r| r.to_string()).ok_or_else(|| {
        ProbeError::not_configured(
            "io: no AWS region is configured; set AWS_REGION (Lambda sets it; a local run must)",
        )
    })?;
    let no_credentials = |why: String| {
        ProbeError::not_configured(format!(
            "io: no AWS credentials ({why}); Lambda provides the function role's, a local run \
             needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (any values for a local endpoint)"
        ))
    };
    let provider = sdk
        .credentials_provider()
        .ok_or_else(|| no_credentials("no credentials provider".into()))?;
    // The default chain may try the network (container and instance metadata): bounded.
    let limit = Duration::from_millis(CREDENTIALS_TIMEOUT_MS)
        .min(deadline.remaining().unwrap_or(Duration::MAX));
    match tokio::time::timeout(limit, provider.provide_credentials()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(no_credentials(cut(&DisplayErrorContext(&e).to_string()))),
        Err(_) => {
            return Err(no_credentials(format!(
                "the credential chain gave no answer within {} ms",
                limit.as_millis()
            )))
        }
    }
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .interceptor(CountAttempts)
        .build();
    Ok(SharedClient {
        client: Client::from_conf(config),
        region,
        init_ms: round(clock.elapsed_us() as f64 / 1000.0, 3),
    })
}

tokio::task_local! {
    /// Attempts made by the PutItem call running in this task (each call runs in its own scope).
    pub(super) static ATTEMPTS: Cell<u32>;
}

/// Counts every attempt (first try and retries) of the call running in the current task scope.
#[derive(Debug)]
pub(super) struct CountAttempts;

impl Intercept for CountAttempts {
    fn name(&self) -> &'static str {
        "LambdaProbeCountAttempts"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // Outside a scope (a call not made by this workload) there is nothing to count.
        let _ = ATTEMPTS.try_with(|n| n.set(n.get() + 1));
        Ok(())
    }
}
