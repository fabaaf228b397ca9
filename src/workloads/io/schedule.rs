//! The run: one level per entry of `concurrency`, `items` calls each; at concurrency 1 each call
//! awaited in turn (strictly one in flight), at N a task per call behind a semaphore.

use super::call::Call;
use super::errors::cut;
use super::{CallSample, Figures, IoParams, Level, RetryPolicy, ITEM_TTL_S};
use crate::measure::clock::SpanStart;
use crate::measure::stats::{max, percentile, round};
use crate::measure::{speedup, Deadline, Stopwatch};
use crate::response::TruncatedReason;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::Client;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

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

/// Writes `items` items per entry of `concurrency`, stopping at the deadline.
pub async fn run(
    p: &IoParams,
    target: &Target,
    deadline: Deadline,
) -> (Figures, Vec<CallSample>, Option<TruncatedReason>) {
    let payload = Blob::new(payload_bytes(p.item_bytes as usize));
    let expires_at = unix_now_s() + ITEM_TTL_S;
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
            .and_then(|b| speedup(b, level.wall_ms));
        levels.push(level);
        samples.append(&mut rows);
        if !complete {
            truncated = Some(TruncatedReason::Deadline);
            break;
        }
    }
    let items_written = levels.iter().map(|l| l.items_ok).sum();
    let errors = levels.iter().map(|l| l.errors).sum();
    let figures = Figures {
        table: target.table.clone(),
        region: target.region.clone(),
        key_prefix: target.key_prefix.clone(),
        client_init_ms: target.client_init_ms,
        client_built_this_invocation: target.client_built_this_invocation,
        items_written,
        errors,
        retry_policy: RetryPolicy::current(),
        levels,
    };
    (figures, samples, truncated)
}

/// The probe's code for a call the deadline cut short.
pub const DEADLINE_ERROR: &str = "Deadline";

fn cut_by_deadline(s: &CallSample) -> bool {
    s.error.as_deref() == Some(DEADLINE_ERROR)
}

pub(super) struct LevelJob {
    index: u32,
    concurrency: u32,
    items: u32,
    payload: Blob,
    expires_at: u64,
}

/// Calls in flight now and the most seen at once.
#[derive(Default)]
pub(super) struct InFlight {
    now: AtomicU32,
    most: AtomicU32,
}

impl InFlight {
    pub(super) fn enter(&self) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(n, Ordering::SeqCst);
    }

    pub(super) fn leave(&self) {
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
    let call = |item: u32| Call {
        client: target.client.clone(),
        table: table.clone(),
        key: item_key(&target.key_prefix, job.index, job.concurrency, item),
        payload: job.payload.clone(),
        expires_at: job.expires_at,
        level: job.index,
        concurrency: job.concurrency,
        item,
    };
    let clock = Stopwatch::start();
    let span = SpanStart::now();
    // One at a time: each call awaited in turn, as a sequential program writes. No task per
    // call, so the level measures the client, not hand-offs between runtime threads.
    let sequential = job.concurrency == 1;
    for item in (0..job.items).filter(|_| sequential) {
        if deadline.reached() {
            break;
        }
        // Boxed: the SDK's call future is large; this keeps the level's future small.
        rows.push(Box::pin(call(item).put(clock, deadline, &in_flight)).await);
    }
    // N at a time: a task per call, a semaphore permit per call in flight.
    for item in (0..job.items).filter(|_| !sequential) {
        if deadline.reached() {
            break;
        }
        // The semaphore is never closed, so this cannot fail.
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        if deadline.reached() {
            break;
        }
        let call = call(item);
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
    let f = span.figures();
    Level {
        concurrency: job.concurrency,
        items_attempted: attempted,
        items_ok,
        errors: attempted - items_ok,
        wall_ms: f.wall_ms,
        cpu_ms: f.cpu_ms,
        effective_vcpu: f.effective_vcpu,
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
    use super::super::client::{retry_config, timeout_config, CountAttempts};
    use super::super::MAX_ATTEMPTS;
    use super::*;
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    use std::time::Duration;

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
            new_pages: 0,
            major_faults: 0,
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
    fn payload_has_the_requested_size() {
        assert_eq!(payload_bytes(0).len(), 0);
        assert_eq!(payload_bytes(400_000).len(), 400_000);
        assert_eq!(&payload_bytes(3), b"abc");
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
        let (f, samples, truncated) = run(&p, &target(local_client(port)), Deadline::none()).await;
        assert!(started.elapsed() < Duration::from_secs(20));
        assert_eq!(truncated, None);
        assert_eq!(samples.len(), 6);
        for s in &samples {
            assert_eq!(s.error.as_deref(), Some("ConnectionRefused"), "{s:?}");
            assert!((1..=MAX_ATTEMPTS).contains(&s.attempts), "{s:?}");
        }
        // Refused connections are retried: the first calls make every attempt.
        assert_eq!(samples[0].attempts, MAX_ATTEMPTS);
        assert_eq!((f.items_written, f.errors), (0, 6));
        for l in &f.levels {
            assert_eq!(l.speedup, None);
            assert_eq!(l.error_codes.get("ConnectionRefused"), Some(&3));
            assert!(
                l.first_error.as_deref().unwrap().contains("onnect"),
                "{l:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_reached_deadline_runs_nothing_and_says_so() {
        let p = IoParams {
            items: 3,
            concurrency: vec![1],
            item_bytes: 10,
        };
        let (f, samples, truncated) = run(
            &p,
            &target(local_client(9)),
            Deadline::after(Duration::from_millis(1)),
        )
        .await;
        assert_eq!(truncated, Some(TruncatedReason::Deadline));
        assert!(samples.is_empty());
        assert!(f.levels.is_empty());
    }
}
