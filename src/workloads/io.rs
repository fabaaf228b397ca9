//! io: `items` DynamoDB PutItem calls per entry of `concurrency`, through the official SDK; at
//! concurrency 1 strictly one request in flight, at N at most N (tokio tasks behind a semaphore).
//! The 2019 "multiprocessing in Lambda" network experiment, per call.
//!
//! The table, endpoint, region and credentials come from the function's configuration only
//! (`TABLE_NAME`, the standard SDK environment), never from the payload. The client is built on
//! the first io invocation and kept for the warm ones; no other workload touches it.

use crate::error::ProbeError;
use crate::measure::clock::SpanStart;
use crate::measure::stats::{max, percentile, round};
use crate::measure::{Deadline, Stopwatch};
use crate::request::{
    IoParams, IO_ATTEMPT_TIMEOUT_MS, IO_CALL_TIMEOUT_MS, IO_CONNECT_TIMEOUT_MS,
    IO_CREDENTIALS_TIMEOUT_MS, IO_INITIAL_BACKOFF_MS, IO_ITEM_TTL_S, IO_MAX_ATTEMPTS,
    IO_MAX_BACKOFF_MS,
};
use crate::response::TruncatedReason;
use crate::telemetry::{Metric, Unit};
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{
    BehaviorVersion, ConfigBag, Intercept, ProvideCredentials, RuntimeComponents,
};
use aws_sdk_dynamodb::error::{BoxError, DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use serde::Serialize;
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OnceCell, Semaphore};
use tokio::task::JoinSet;

/// The function's environment variable that names the table.
pub const TABLE_ENV: &str = "TABLE_NAME";
/// The table's partition key (String). Nothing else about the table is assumed.
pub const PARTITION_KEY: &str = "pk";
/// The table's TTL attribute (a Number of Unix seconds).
pub const TTL_ATTRIBUTE: &str = "expires_at";
/// The attribute holding `item_bytes` bytes (Binary).
pub const PAYLOAD_ATTRIBUTE: &str = "payload";
/// Error messages kept per level are cut here: enough to diagnose, small in the response.
const ERROR_MESSAGE_CHARS: usize = 300;

// ---------------------------------------------------------------- configuration and client

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
        .with_max_attempts(IO_MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(IO_INITIAL_BACKOFF_MS))
        .with_max_backoff(Duration::from_millis(IO_MAX_BACKOFF_MS))
}

pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(IO_CONNECT_TIMEOUT_MS))
        .operation_attempt_timeout(Duration::from_millis(IO_ATTEMPT_TIMEOUT_MS))
        .operation_timeout(Duration::from_millis(IO_CALL_TIMEOUT_MS))
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
    let limit = Duration::from_millis(IO_CREDENTIALS_TIMEOUT_MS)
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
    static ATTEMPTS: Cell<u32>;
}

/// Counts every attempt (first try and retries) of the call running in the current task scope.
#[derive(Debug)]
struct CountAttempts;

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

// ---------------------------------------------------------------- samples and figures

/// One PutItem call.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CallSample {
    /// Position of the level in `concurrency`.
    pub level: u32,
    pub concurrency: u32,
    pub item: u32,
    /// Offset of the call's start from the start of its level.
    pub start_us: u64,
    /// The whole call, retries and backoff included.
    pub latency_us: u64,
    /// HTTP attempts made: 1 without retries; 0 if the call never reached the network.
    pub attempts: u32,
    /// Null on success; else the service's error code (`ProvisionedThroughputExceededException`,
    /// `ResourceNotFoundException`, …) or the probe's name for a transport failure
    /// (`ConnectionRefused`, `Timeout`, `Deadline`, …).
    pub error: Option<String>,
}

/// One entry of `concurrency`: `items` calls with at most `concurrency` in flight.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Level {
    pub concurrency: u32,
    /// Calls started (fewer than `items` when the deadline came first).
    pub items_attempted: u32,
    pub items_ok: u32,
    pub errors: u32,
    pub wall_ms: f64,
    /// Process CPU time over the level (all threads): the client's cost.
    pub cpu_ms: f64,
    pub effective_vcpu: Option<f64>,
    /// cpu_ms ÷ calls attempted, in µs: the client-side CPU cost of one PutItem.
    pub cpu_us_per_call: Option<f64>,
    /// Latency percentiles over the successful calls; null without one.
    pub latency_p50_us: Option<u64>,
    pub latency_p90_us: Option<u64>,
    pub latency_p99_us: Option<u64>,
    pub latency_max_us: Option<u64>,
    /// Successful calls per second of the level's wall time.
    pub items_per_s: f64,
    /// The most calls seen in flight at once (≤ concurrency).
    pub max_in_flight: u32,
    /// Wall time of the first complete, error-free concurrency-1 level over this one's; null
    /// without such a baseline or when this level is incomplete or has errors.
    pub speedup: Option<f64>,
    /// Calls per error code.
    pub error_codes: BTreeMap<String, u32>,
    /// The first error's full text, cut to a few hundred characters.
    pub first_error: Option<String>,
}

/// How the client retries and times out, as this run used it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    pub connect_timeout_ms: u64,
    pub attempt_timeout_ms: u64,
    pub call_timeout_ms: u64,
}

impl RetryPolicy {
    pub fn current() -> Self {
        Self {
            max_attempts: IO_MAX_ATTEMPTS,
            initial_backoff_ms: IO_INITIAL_BACKOFF_MS,
            max_backoff_ms: IO_MAX_BACKOFF_MS,
            connect_timeout_ms: IO_CONNECT_TIMEOUT_MS,
            attempt_timeout_ms: IO_ATTEMPT_TIMEOUT_MS,
            call_timeout_ms: IO_CALL_TIMEOUT_MS,
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Figures {
    pub table: String,
    pub region: String,
    /// Every key of this run starts with it: `<key_prefix>/<level>-c<concurrency>/<item>`.
    pub key_prefix: String,
    /// Time the client took to build, in ms (the same value in every warm invocation).
    pub client_init_ms: f64,
    /// True when this invocation built the client (the first io invocation of the process).
    pub client_built_this_invocation: bool,
    pub items_written: u32,
    pub errors: u32,
    pub retry_policy: RetryPolicy,
    pub levels: Vec<Level>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct IoResult {
    pub samples: Vec<CallSample>,
    pub figures: Figures,
    pub truncated: Option<TruncatedReason>,
}

impl IoResult {
    /// The one-at-a-time level's throughput, latency and client CPU, the best concurrent
    /// speedup, the errors, and the client's build time when this invocation paid for it.
    pub fn metrics(&self) -> Vec<Metric> {
        let f = &self.figures;
        let mut m = vec![Metric::new("IoErrors", Unit::Count, f.errors as f64)];
        if let Some(one) = f.levels.iter().find(|l| l.concurrency == 1) {
            m.push(Metric::new(
                "IoItemsPerS",
                Unit::CountPerSecond,
                one.items_per_s,
            ));
            if let Some(p50) = one.latency_p50_us {
                m.push(Metric::new(
                    "IoLatencyP50Us",
                    Unit::Microseconds,
                    p50 as f64,
                ));
            }
            if let Some(cpu) = one.cpu_us_per_call {
                m.push(Metric::new("IoCpuUsPerCall", Unit::Microseconds, cpu));
            }
        }
        let best = f
            .levels
            .iter()
            .filter(|l| l.concurrency > 1)
            .filter_map(|l| l.speedup)
            .reduce(f64::max);
        if let Some(s) = best {
            m.push(Metric::new("IoSpeedup", Unit::None, s));
        }
        if f.client_built_this_invocation {
            m.push(Metric::new(
                "IoClientInitMs",
                Unit::Milliseconds,
                f.client_init_ms,
            ));
        }
        m
    }
}

/// Where the items go and how the client came to be.
#[derive(Clone, Debug)]
pub struct Target {
    pub client: Client,
    pub table: String,
    pub region: String,
    /// Unique to this invocation: sandbox id and invocation index.
    pub key_prefix: String,
    pub client_init_ms: f64,
    pub client_built_this_invocation: bool,
}

/// The key prefix of one invocation: `<sandbox_id>/<invocation_index>`.
pub fn key_prefix(sandbox_id: &str, invocation_index: u64) -> String {
    format!("{sandbox_id}/{invocation_index}")
}

/// The key of one item: unique per sandbox, invocation, level, concurrency and item.
pub fn item_key(prefix: &str, level: u32, concurrency: u32, item: u32) -> String {
    format!("{prefix}/{level}-c{concurrency}/{item}")
}

// ---------------------------------------------------------------- the run

/// The io workload with the function's own configuration: table from `TABLE_NAME`, client from
/// the standard SDK configuration, built once per process.
pub async fn run_configured(
    p: &IoParams,
    key_prefix: String,
    deadline: Deadline,
) -> Result<IoResult, ProbeError> {
    let table = table_from_env()?;
    let (shared, built) = shared_client(deadline).await?;
    let target = Target {
        client: shared.client.clone(),
        table,
        region: shared.region.clone(),
        key_prefix,
        client_init_ms: shared.init_ms,
        client_built_this_invocation: built,
    };
    Ok(run(p, &target, deadline).await)
}

/// Writes `items` items per entry of `concurrency`, stopping at the deadline.
pub async fn run(p: &IoParams, target: &Target, deadline: Deadline) -> IoResult {
    let payload = Blob::new(payload_bytes(p.item_bytes as usize));
    let expires_at = unix_now_s() + IO_ITEM_TTL_S;
    let mut samples = Vec::new();
    let mut levels: Vec<Level> = Vec::new();
    let mut truncated = None;
    for (index, &concurrency) in p.concurrency.iter().enumerate() {
        if deadline.reached() {
            truncated = Some(TruncatedReason::Deadline);
            break;
        }
        let job = LevelJob {
            index: index as u32,
            concurrency,
            items: p.items,
            payload: payload.clone(),
            expires_at,
        };
        let (mut level, mut rows) = run_level(&job, target, deadline).await;
        let complete = level.items_attempted == p.items && !rows.iter().any(cut_by_deadline);
        let baseline = levels
            .iter()
            .find(|l| l.concurrency == 1 && l.items_attempted == p.items && l.errors == 0)
            .map(|l| l.wall_ms)
            .or_else(|| {
                (concurrency == 1 && complete && level.errors == 0).then_some(level.wall_ms)
            });
        level.speedup = baseline
            .filter(|_| complete && level.errors == 0 && level.wall_ms > 0.0)
            .map(|b| round(b / level.wall_ms, 3));
        levels.push(level);
        samples.append(&mut rows);
        if !complete {
            truncated = Some(TruncatedReason::Deadline);
            break;
        }
    }
    let items_written = levels.iter().map(|l| l.items_ok).sum();
    let errors = levels.iter().map(|l| l.errors).sum();
    IoResult {
        samples,
        figures: Figures {
            table: target.table.clone(),
            region: target.region.clone(),
            key_prefix: target.key_prefix.clone(),
            client_init_ms: target.client_init_ms,
            client_built_this_invocation: target.client_built_this_invocation,
            items_written,
            errors,
            retry_policy: RetryPolicy::current(),
            levels,
        },
        truncated,
    }
}

/// The probe's code for a call the deadline cut short.
pub const DEADLINE_ERROR: &str = "Deadline";

fn cut_by_deadline(s: &CallSample) -> bool {
    s.error.as_deref() == Some(DEADLINE_ERROR)
}

struct LevelJob {
    index: u32,
    concurrency: u32,
    items: u32,
    payload: Blob,
    expires_at: u64,
}

/// Calls in flight now and the most seen at once.
#[derive(Default)]
struct InFlight {
    now: AtomicU32,
    most: AtomicU32,
}

impl InFlight {
    fn enter(&self) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(n, Ordering::SeqCst);
    }

    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn run_level(
    job: &LevelJob,
    target: &Target,
    deadline: Deadline,
) -> (Level, Vec<CallSample>) {
    let permits = Arc::new(Semaphore::new(job.concurrency as usize));
    let in_flight = Arc::new(InFlight::default());
    let table: Arc<str> = Arc::from(target.table.as_str());
    let mut tasks = JoinSet::new();
    let mut item_of = HashMap::new();
    let mut rows: Vec<(CallSample, Option<String>)> = Vec::with_capacity(job.items as usize);
    let clock = Stopwatch::start();
    let span = SpanStart::now();
    for item in 0..job.items {
        if deadline.reached() {
            break;
        }
        // A permit per call in flight: at concurrency 1 the next call starts only after the
        // previous one has returned. The semaphore is never closed, so this cannot fail.
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        if deadline.reached() {
            break;
        }
        let call = Call {
            client: target.client.clone(),
            table: table.clone(),
            key: item_key(&target.key_prefix, job.index, job.concurrency, item),
            payload: job.payload.clone(),
            expires_at: job.expires_at,
            level: job.index,
            concurrency: job.concurrency,
            item,
        };
        let in_flight = in_flight.clone();
        let handle = tasks.spawn(async move {
            let sample = call.put(clock, deadline, &in_flight).await;
            drop(permit);
            sample
        });
        item_of.insert(handle.id(), item);
        // Reap what has finished so the set stays as small as the concurrency.
        while let Some(done) = tasks.try_join_next_with_id() {
            rows.push(joined(done, &item_of, job));
        }
    }
    while let Some(done) = tasks.join_next_with_id().await {
        rows.push(joined(done, &item_of, job));
    }
    let span = span.close();
    rows.sort_by_key(|(s, _)| s.item);
    let first_error = rows.iter().find_map(|(_, message)| message.clone());
    let rows: Vec<CallSample> = rows.into_iter().map(|(s, _)| s).collect();
    let mut level = level_figures(job, &rows, &span, in_flight.most.load(Ordering::SeqCst));
    level.first_error = first_error;
    (level, rows)
}

/// A finished task's sample and error text; a task that panicked (never expected) still counts
/// as a failed call.
fn joined(
    done: Result<(tokio::task::Id, (CallSample, Option<String>)), tokio::task::JoinError>,
    item_of: &HashMap<tokio::task::Id, u32>,
    job: &LevelJob,
) -> (CallSample, Option<String>) {
    match done {
        Ok((_, finished)) => finished,
        Err(e) => (
            CallSample {
                level: job.index,
                concurrency: job.concurrency,
                item: item_of.get(&e.id()).copied().unwrap_or(u32::MAX),
                start_us: 0,
                latency_us: 0,
                attempts: 0,
                error: Some("TaskFailed".into()),
            },
            Some(cut(&e.to_string())),
        ),
    }
}

fn level_figures(
    job: &LevelJob,
    rows: &[CallSample],
    span: &crate::measure::Span,
    max_in_flight: u32,
) -> Level {
    let ok: Vec<f64> = rows
        .iter()
        .filter(|s| s.error.is_none())
        .map(|s| s.latency_us as f64)
        .collect();
    let mut error_codes = BTreeMap::new();
    for code in rows.iter().filter_map(|s| s.error.as_ref()) {
        *error_codes.entry(code.clone()).or_insert(0) += 1;
    }
    let attempted = rows.len() as u32;
    let items_ok = ok.len() as u32;
    let wall_s = span.wall_us as f64 / 1e6;
    let pct = |p: f64| percentile(&ok, p).map(|v| v as u64);
    Level {
        concurrency: job.concurrency,
        items_attempted: attempted,
        items_ok,
        errors: attempted - items_ok,
        wall_ms: round(span.wall_ms(), 3),
        cpu_ms: round(span.cpu_ms(), 3),
        effective_vcpu: span.effective_vcpu().map(|v| round(v, 3)),
        cpu_us_per_call: (attempted > 0).then(|| round(span.cpu_us as f64 / attempted as f64, 1)),
        latency_p50_us: pct(50.0),
        latency_p90_us: pct(90.0),
        latency_p99_us: pct(99.0),
        latency_max_us: max(&ok).map(|v| v as u64),
        items_per_s: if wall_s > 0.0 {
            round(items_ok as f64 / wall_s, 1)
        } else {
            0.0
        },
        max_in_flight,
        speedup: None,
        error_codes,
        first_error: None,
    }
}

/// One PutItem, everything it needs owned so it can run in its own task.
struct Call {
    client: Client,
    table: Arc<str>,
    key: String,
    payload: Blob,
    expires_at: u64,
    level: u32,
    concurrency: u32,
    item: u32,
}

impl Call {
    /// The call's sample, and the error's full text when it failed.
    async fn put(
        self,
        clock: Stopwatch,
        deadline: Deadline,
        in_flight: &InFlight,
    ) -> (CallSample, Option<String>) {
        let request = self
            .client
            .put_item()
            .table_name(&*self.table)
            .item(PARTITION_KEY, AttributeValue::S(self.key))
            .item(
                TTL_ATTRIBUTE,
                AttributeValue::N(self.expires_at.to_string()),
            )
            .item(PAYLOAD_ATTRIBUTE, AttributeValue::B(self.payload))
            .item(
                "concurrency",
                AttributeValue::N(self.concurrency.to_string()),
            )
            .item("item", AttributeValue::N(self.item.to_string()));
        in_flight.enter();
        let start_us = clock.elapsed_us();
        let (outcome, attempts) = ATTEMPTS
            .scope(Cell::new(0), async {
                // The deadline bounds every call on top of the SDK's own timeouts, so the
                // invocation returns in time even if a server stops answering mid-call.
                let outcome = match deadline.remaining() {
                    None => Some(request.send().await),
                    Some(left) => tokio::time::timeout(left, request.send()).await.ok(),
                };
                (outcome, ATTEMPTS.with(Cell::get))
            })
            .await;
        let latency_us = clock.elapsed_us().saturating_sub(start_us);
        in_flight.leave();
        let (error, message) = match outcome {
            None => (
                Some(DEADLINE_ERROR.to_string()),
                Some("the invocation deadline came before the call returned".to_string()),
            ),
            Some(Ok(_)) => (None, None),
            Some(Err(e)) => (
                Some(error_code(&e)),
                Some(cut(&DisplayErrorContext(&e).to_string())),
            ),
        };
        let sample = CallSample {
            level: self.level,
            concurrency: self.concurrency,
            item: self.item,
            start_us,
            latency_us,
            attempts,
            error,
        };
        (sample, message)
    }
}

/// A short, stable name for what went wrong: the service's error code, or the transport failure.
fn error_code<E, R>(e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match e {
        SdkError::ServiceError(_) => e.code().unwrap_or("UnknownServiceError").to_string(),
        SdkError::TimeoutError(_) => "Timeout".into(),
        SdkError::DispatchFailure(d) if d.is_timeout() => "Timeout".into(),
        SdkError::DispatchFailure(_) => io_error_kind(e).unwrap_or("DispatchFailure").into(),
        SdkError::ResponseError(_) => io_error_kind(e).unwrap_or("ResponseError").into(),
        SdkError::ConstructionFailure(_) => "ConstructionFailure".into(),
        _ => "Unknown".into(),
    }
}

/// The kind of the first I/O error in the chain (`ConnectionRefused`, `ConnectionReset`, …).
fn io_error_kind(e: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            return Some(match io.kind() {
                K::ConnectionRefused => "ConnectionRefused",
                K::ConnectionReset => "ConnectionReset",
                K::ConnectionAborted => "ConnectionAborted",
                K::BrokenPipe => "BrokenPipe",
                K::UnexpectedEof => "UnexpectedEof",
                K::TimedOut => "Timeout",
                _ => "IoError",
            });
        }
        cause = c.source();
    }
    None
}

fn cut(s: &str) -> String {
    match s.char_indices().nth(ERROR_MESSAGE_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// `n` bytes of a fixed pattern: the same item body in every run.
fn payload_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

/// Unix seconds now: a date for the table's TTL, not a measurement.
fn unix_now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{IO_MAX_CONCURRENCY_ENTRIES, IO_MAX_ITEMS};
    use aws_sdk_dynamodb::config::{Credentials, Region};

    fn sample(level: u32, item: u32, latency_us: u64, error: Option<&str>) -> CallSample {
        CallSample {
            level,
            concurrency: 1,
            item,
            start_us: item as u64 * 10,
            latency_us,
            attempts: 1,
            error: error.map(String::from),
        }
    }

    fn job(concurrency: u32, items: u32) -> LevelJob {
        LevelJob {
            index: 0,
            concurrency,
            items,
            payload: Blob::new(vec![]),
            expires_at: 0,
        }
    }

    #[test]
    fn keys_are_unique_per_sandbox_invocation_level_and_item() {
        let p = key_prefix("00ff00ff00ff00ff", 7);
        assert_eq!(p, "00ff00ff00ff00ff/7");
        assert_eq!(item_key(&p, 1, 10, 42), "00ff00ff00ff00ff/7/1-c10/42");
        let mut keys = std::collections::HashSet::new();
        for (level, c) in [(0, 1), (1, 1), (2, 10)] {
            for item in 0..100 {
                assert!(keys.insert(item_key(&p, level, c, item)));
            }
        }
        assert!(keys.insert(item_key(&key_prefix("00ff00ff00ff00ff", 8), 0, 1, 0)));
    }

    #[test]
    fn level_figures_summarise_the_successful_calls_and_count_the_rest() {
        let rows: Vec<CallSample> = (0..10)
            .map(|i| sample(0, i, (i as u64 + 1) * 1000, None))
            .chain([
                sample(0, 10, 5, Some("ConnectionRefused")),
                sample(0, 11, 7, Some("ConnectionRefused")),
                sample(0, 12, 9, Some("ThrottlingException")),
            ])
            .collect();
        let span = crate::measure::Span {
            wall_us: 2_000_000,
            cpu_us: 13_000,
            minflt: 0,
            majflt: 0,
        };
        let l = level_figures(&job(1, 13), &rows, &span, 1);
        assert_eq!((l.items_attempted, l.items_ok, l.errors), (13, 10, 3));
        assert_eq!(l.latency_p50_us, Some(5_000));
        assert_eq!(l.latency_p90_us, Some(9_000));
        assert_eq!(l.latency_max_us, Some(10_000));
        assert_eq!(l.items_per_s, 5.0);
        assert_eq!(l.cpu_us_per_call, Some(1000.0));
        assert_eq!(l.effective_vcpu, Some(0.007));
        assert_eq!(
            l.error_codes,
            BTreeMap::from([
                ("ConnectionRefused".to_string(), 2),
                ("ThrottlingException".to_string(), 1)
            ])
        );
        let none_ok = level_figures(&job(4, 1), &rows[10..11], &span, 1);
        assert_eq!(none_ok.latency_p50_us, None);
        assert_eq!(none_ok.items_ok, 0);
    }

    #[test]
    fn io_error_kinds_are_found_down_the_chain() {
        #[derive(Debug)]
        struct Wrap(std::io::Error);
        impl std::fmt::Display for Wrap {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "wrapped")
            }
        }
        impl std::error::Error for Wrap {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let refused = Wrap(std::io::ErrorKind::ConnectionRefused.into());
        assert_eq!(io_error_kind(&refused), Some("ConnectionRefused"));
        let reset = Wrap(std::io::ErrorKind::ConnectionReset.into());
        assert_eq!(io_error_kind(&reset), Some("ConnectionReset"));
        let fmt_err = std::fmt::Error;
        assert_eq!(io_error_kind(&fmt_err), None);
    }

    #[test]
    fn messages_are_cut_on_character_boundaries() {
        assert_eq!(cut("short"), "short");
        let long = "é".repeat(ERROR_MESSAGE_CHARS + 50);
        let c = cut(&long);
        assert_eq!(c.chars().count(), ERROR_MESSAGE_CHARS + 1);
        assert!(c.ends_with('…'));
    }

    #[test]
    fn payload_has_the_requested_size() {
        assert_eq!(payload_bytes(0).len(), 0);
        assert_eq!(payload_bytes(400_000).len(), 400_000);
        assert_eq!(&payload_bytes(3), b"abc");
    }

    #[test]
    fn the_largest_response_fits_lambdas_6_mb_limit() {
        let rows: Vec<CallSample> = (0..IO_MAX_CONCURRENCY_ENTRIES as u32)
            .flat_map(|level| {
                (0..IO_MAX_ITEMS).map(move |item| CallSample {
                    level,
                    concurrency: 64,
                    item,
                    start_us: 999_999_999,
                    latency_us: 99_999_999,
                    attempts: 3,
                    error: Some("ProvisionedThroughputExceededException".into()),
                })
            })
            .collect();
        let bytes = serde_json::to_string(&rows).unwrap().len();
        assert!(bytes < 2_000_000, "{bytes} bytes of samples");
    }

    /// A client for 127.0.0.1:`port` with the workload's retries and timeouts.
    fn local_client(port: u16) -> Client {
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .retry_config(retry_config())
            .timeout_config(timeout_config())
            .interceptor(CountAttempts)
            .build();
        Client::from_conf(conf)
    }

    fn target(client: Client) -> Target {
        Target {
            client,
            table: "t".into(),
            region: "us-east-1".into(),
            key_prefix: key_prefix("test", 1),
            client_init_ms: 0.0,
            client_built_this_invocation: false,
        }
    }

    #[tokio::test]
    async fn a_refused_connection_is_recorded_per_item_with_its_attempts() {
        // A port nobody listens on: bind, read the number, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let p = IoParams {
            items: 3,
            concurrency: vec![1, 2],
            item_bytes: 10,
        };
        let started = std::time::Instant::now();
        let r = run(&p, &target(local_client(port)), Deadline::none()).await;
        assert!(started.elapsed() < Duration::from_secs(20));
        assert_eq!(r.truncated, None);
        assert_eq!(r.samples.len(), 6);
        for s in &r.samples {
            assert_eq!(s.error.as_deref(), Some("ConnectionRefused"), "{s:?}");
            assert!((1..=IO_MAX_ATTEMPTS).contains(&s.attempts), "{s:?}");
        }
        // Refused connections are retried: the first calls make every attempt.
        assert_eq!(r.samples[0].attempts, IO_MAX_ATTEMPTS);
        let f = &r.figures;
        assert_eq!((f.items_written, f.errors), (0, 6));
        for l in &f.levels {
            assert_eq!(l.speedup, None);
            assert_eq!(l.error_codes.get("ConnectionRefused"), Some(&3));
            assert!(
                l.first_error.as_deref().unwrap().contains("onnect"),
                "{l:?}"
            );
        }
        let names: Vec<&str> = r.metrics().iter().map(|m| m.name).collect();
        assert_eq!(names, vec!["IoErrors", "IoItemsPerS", "IoCpuUsPerCall"]);
    }

    #[tokio::test]
    async fn a_reached_deadline_runs_nothing_and_says_so() {
        let p = IoParams {
            items: 3,
            concurrency: vec![1],
            item_bytes: 10,
        };
        let r = run(
            &p,
            &target(local_client(9)),
            Deadline::after(Duration::from_millis(1)),
        )
        .await;
        assert_eq!(r.truncated, Some(TruncatedReason::Deadline));
        assert!(r.samples.is_empty());
        assert!(r.figures.levels.is_empty());
    }
}
