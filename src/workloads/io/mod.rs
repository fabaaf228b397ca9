//! io: `items` DynamoDB PutItem calls per entry of `concurrency`, through the official SDK; at
//! concurrency 1 strictly one request in flight, at N at most N (tokio tasks behind a semaphore).
//! The 2019 "multiprocessing in Lambda" network experiment, per call.
//!
//! The table, endpoint, region and credentials come from the function's configuration only
//! (`TABLE_NAME`, the standard SDK environment), never from the payload. The client is built on
//! the first io invocation and kept for the warm ones; no other workload touches it.
//!
//! `client` builds and keeps the client, `schedule` runs the levels, `call` makes one PutItem,
//! `errors` names what went wrong.

mod call;
pub mod client;
pub mod errors;
pub mod schedule;

use super::{check_range, Context, Host, Outcome, Phase, Plotted, Run, Speedup, Workload};
use crate::error::ProbeError;
use crate::telemetry::{Metric, Unit};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The io workload.
#[derive(Clone, Copy, Debug, PartialEq, JsonSchema)]
pub struct Io;

/// The function's environment variable that names the table.
pub const TABLE_ENV: &str = "TABLE_NAME";
/// The table's partition key (String). Nothing else about the table is assumed.
pub const PARTITION_KEY: &str = "pk";
/// The table's TTL attribute (a Number of Unix seconds).
pub const TTL_ATTRIBUTE: &str = "expires_at";
/// The attribute holding `item_bytes` bytes (Binary).
pub const PAYLOAD_ATTRIBUTE: &str = "payload";

// ---------------------------------------------------------------- parameters

/// 100 items one at a time, then 10 at a time: the 2019 experiment's table writes.
pub const DEFAULT_ITEMS: u32 = 100;
pub const DEFAULT_CONCURRENCY: [u32; 2] = [1, 10];
/// A small item, as in the 2019 experiment: the cost is the round trip, not the bytes.
pub const DEFAULT_ITEM_BYTES: u32 = 256;
/// Every call is one sample row: 1,000 items × 8 levels keeps the response near 1 MB, well
/// under Lambda's 6 MB response limit.
pub const MAX_ITEMS: u32 = 1_000;
/// A sweep of up to 8 concurrency levels (the io-sweep payload runs 6).
pub const MAX_CONCURRENCY_ENTRIES: usize = 8;
/// 64 calls in flight is far past where a 2-vCPU sandbox stops gaining.
pub const MAX_CONCURRENCY: u32 = 64;
/// DynamoDB's item limit is 400 KB (409,600 bytes, names and values together); the payload
/// attribute may take 400,000 of them, leaving room for the key, the TTL and the counters.
pub const MAX_ITEM_BYTES: u32 = 400_000;
/// Bytes of payload in flight at once (concurrency × item_bytes). Each call holds its payload
/// about four times over (the item, its base64 JSON body, the signed request, socket buffers),
/// so 8 MiB keeps a run within a 128 MB function; larger requests are refused as OverBudget.
pub const MAX_IN_FLIGHT_BYTES: u64 = 8 * 1024 * 1024;
/// Items expire a day after they are written: long enough to inspect a run, short enough that
/// the table (TTL on `expires_at`) cleans itself.
pub const ITEM_TTL_S: u64 = 86_400;
/// Attempts per call, first try included (the SDK's standard mode). The retry token bucket of
/// the standard mode stops retrying when most calls fail (a dead endpoint), so a run that has
/// lost its server fails fast instead of backing off item after item.
pub const MAX_ATTEMPTS: u32 = 3;
/// Backoff before retry n is random in 0..initial × 2^(n-1), capped: DynamoDB recommends
/// starting near 50 ms; the SDK's 1 s default would dwarf the calls being measured.
pub const INITIAL_BACKOFF_MS: u64 = 50;
pub const MAX_BACKOFF_MS: u64 = 1_000;
/// TCP (and TLS) connect. At 128 MB (≈ 0.07 vCPU) a TLS handshake takes tens of ms of wall.
pub const CONNECT_TIMEOUT_MS: u64 = 2_000;
/// One attempt; a PutItem normally answers in single-digit ms.
pub const ATTEMPT_TIMEOUT_MS: u64 = 3_000;
/// One call, retries and backoff included. The invocation deadline bounds every call as well.
pub const CALL_TIMEOUT_MS: u64 = 10_000;
/// The credential check on the first io invocation (the default chain may ask the network).
pub const CREDENTIALS_TIMEOUT_MS: u64 = 5_000;

/// The event's fields, and the parameters as they run. No field names a table, an endpoint or
/// credentials: those come from the function's configuration only.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IoParams {
    /// Items written per concurrency level: 1..=1,000.
    #[serde(default = "default_items")]
    #[schemars(range(min = 1, max = MAX_ITEMS))]
    pub items: u32,
    /// Calls in flight at most, per level, in order; 1 = strictly one at a time. 1..=8 levels
    /// of 1..=64.
    #[serde(default = "default_concurrency")]
    #[schemars(length(min = 1, max = MAX_CONCURRENCY_ENTRIES), inner(range(min = 1, max = MAX_CONCURRENCY)))]
    pub concurrency: Vec<u32>,
    /// Bytes of the `payload` attribute of each item: 1..=400,000.
    #[serde(default = "default_item_bytes")]
    #[schemars(range(min = 1, max = MAX_ITEM_BYTES))]
    pub item_bytes: u32,
}

fn default_items() -> u32 {
    DEFAULT_ITEMS
}

fn default_concurrency() -> Vec<u32> {
    DEFAULT_CONCURRENCY.to_vec()
}

fn default_item_bytes() -> u32 {
    DEFAULT_ITEM_BYTES
}

impl IoParams {
    fn validate(self) -> Result<IoParams, ProbeError> {
        const W: &str = "io";
        check_range(W, "items", self.items, 1, MAX_ITEMS)?;
        check_range(W, "item_bytes", self.item_bytes, 1, MAX_ITEM_BYTES)?;
        if self.concurrency.is_empty() || self.concurrency.len() > MAX_CONCURRENCY_ENTRIES {
            return Err(ProbeError::invalid(format!(
                "{W}: `concurrency` must list 1..={MAX_CONCURRENCY_ENTRIES} levels, got {}",
                self.concurrency.len()
            )));
        }
        for &c in &self.concurrency {
            check_range(W, "concurrency[]", c, 1, MAX_CONCURRENCY)?;
        }
        let widest = self.concurrency.iter().copied().max().unwrap_or(1);
        let in_flight = u64::from(widest) * u64::from(self.item_bytes);
        if in_flight > MAX_IN_FLIGHT_BYTES {
            return Err(ProbeError::over_budget(format!(
                "{W}: concurrency {widest} × item_bytes {} = {in_flight} bytes in flight, over \
                 the {MAX_IN_FLIGHT_BYTES}-byte budget that keeps a 128 MB function safe; \
                 lower `concurrency` or `item_bytes`",
                self.item_bytes
            )));
        }
        Ok(self)
    }
}

// ---------------------------------------------------------------- results

/// One PutItem call.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
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
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[schemars(rename = "IoLevel")]
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
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
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
            max_attempts: MAX_ATTEMPTS,
            initial_backoff_ms: INITIAL_BACKOFF_MS,
            max_backoff_ms: MAX_BACKOFF_MS,
            connect_timeout_ms: CONNECT_TIMEOUT_MS,
            attempt_timeout_ms: ATTEMPT_TIMEOUT_MS,
            call_timeout_ms: CALL_TIMEOUT_MS,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[schemars(rename = "IoFigures")]
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

// ---------------------------------------------------------------- the workload

impl Workload for Io {
    const NAME: &'static str = "io";
    const PROCESS_WIDE: &'static [&'static str] = &[
        "summary.levels[].cpu_ms",
        "summary.levels[].effective_vcpu",
        "summary.levels[].cpu_us_per_call",
    ];
    const ABOUT: &'static str = "100 DynamoDB PutItem calls one at a time, then N at a time, through the official AWS SDK: per-call latency and retries, the client's CPU per call, the speedup of concurrency below one vCPU (the 2019 experiment's network half)";
    type Input = IoParams;
    type Params = IoParams;
    type Figures = Figures;
    type Sample = CallSample;

    fn resolve(input: IoParams, _host: &Host) -> Result<IoParams, ProbeError> {
        input.validate()
    }

    /// At most 5 items per level, every level kept.
    fn quick(mut params: IoParams) -> IoParams {
        params.items = params.items.min(5);
        params
    }

    /// io waits on the network: it runs on the async runtime itself, as a task on the runtime's
    /// worker threads (where its calls and their connections run too), not on the thread that
    /// polls the handler.
    async fn run(
        params: IoParams,
        ctx: Context,
    ) -> Result<Outcome<Figures, CallSample>, ProbeError> {
        let key_prefix = schedule::key_prefix(&ctx.sandbox_id, ctx.invocation_index);
        let deadline = ctx.deadline;
        tokio::spawn(async move {
            let table = client::table_from_env()?;
            let (shared, built) = client::shared_client(deadline).await?;
            let target = schedule::Target {
                client: shared.client.clone(),
                table,
                region: shared.region.clone(),
                key_prefix,
                client_init_ms: shared.init_ms,
                client_built_this_invocation: built,
            };
            let (figures, samples, truncated) = schedule::run(&params, &target, deadline).await;
            Ok(Outcome {
                figures,
                samples,
                truncated,
            })
        })
        .await
        .map_err(|e| ProbeError::internal(format!("io task failed: {e}")))?
    }

    /// `100x256B concurrency=1,10`.
    fn experiment(p: &IoParams) -> String {
        format!(
            "{}x{}B concurrency={}",
            p.items,
            p.item_bytes,
            super::pbkdf2::join(&p.concurrency)
        )
    }

    /// The one-at-a-time level's throughput, latency and client CPU, the best concurrent
    /// speedup, the errors, and the client's build time when this invocation paid for it.
    fn metrics(run: &Run<Self>) -> Vec<Metric> {
        let f = &run.summary.figures;
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
                m.push(Metric::process_wide(
                    "IoCpuUsPerCall",
                    Unit::Microseconds,
                    cpu,
                ));
            }
        }
        if let Some(s) = Self::speedup(run) {
            m.push(Metric::new("IoSpeedup", Unit::None, s.value));
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

    /// The client, then one line per concurrency level.
    fn summary_text(run: &Run<Self>) -> String {
        let f = &run.summary.figures;
        let mut out = format!(
            "  table {} in {}: {} items written, {} errors; client built in {:.3} ms ({})\n",
            f.table,
            f.region,
            f.items_written,
            f.errors,
            f.client_init_ms,
            if f.client_built_this_invocation {
                "by this invocation"
            } else {
                "reused from an earlier invocation"
            },
        );
        let o = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
        let of = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into());
        for l in &f.levels {
            out += &format!(
                "  concurrency {:>2}: {:>9.3} ms wall, {:>8.3} ms cpu ({} µs/call), effective vCPU {:>6}, latency p50 {} / p90 {} / p99 {} / max {} µs, {:.1} items/s, speedup {}, {} errors\n",
                l.concurrency,
                l.wall_ms,
                l.cpu_ms,
                of(l.cpu_us_per_call),
                of(l.effective_vcpu),
                o(l.latency_p50_us),
                o(l.latency_p90_us),
                o(l.latency_p99_us),
                o(l.latency_max_us),
                l.items_per_s,
                of(l.speedup),
                l.errors,
            );
            if !l.error_codes.is_empty() {
                let codes: Vec<String> = l
                    .error_codes
                    .iter()
                    .map(|(k, v)| format!("{k} × {v}"))
                    .collect();
                out += &format!("      errors: {}\n", codes.join(", "));
            }
        }
        out
    }

    fn plotted(run: &Run<Self>) -> Vec<Plotted> {
        let mut out = Vec::new();
        for l in &run.summary.figures.levels {
            let series = Some(format!("concurrency {}", l.concurrency));
            let ms = |us: Option<u64>| us.map(|us| us as f64 / 1000.0);
            for (plot, title, value) in [
                ("p50", "PutItem p50 latency vs memory", ms(l.latency_p50_us)),
                ("p99", "PutItem p99 latency vs memory", ms(l.latency_p99_us)),
            ] {
                if let Some(v) = value {
                    out.push(Plotted {
                        plot,
                        title,
                        y_label: if plot == "p50" {
                            "PutItem p50 latency (ms)"
                        } else {
                            "PutItem p99 latency (ms)"
                        },
                        decimals: 2,
                        series: series.clone(),
                        value: v,
                        note: None,
                        cpu_model_guide: false,
                    });
                }
            }
            if l.items_ok > 0 {
                out.push(Plotted {
                    plot: "rate",
                    title: "PutItem throughput vs memory",
                    y_label: "Items per second",
                    decimals: 0,
                    series,
                    value: l.items_per_s,
                    note: None,
                    cpu_model_guide: false,
                });
            }
        }
        out
    }

    /// The best complete, error-free concurrent level's speedup over one at a time.
    fn speedup(run: &Run<Self>) -> Option<Speedup> {
        Speedup::best(
            run.summary
                .figures
                .levels
                .iter()
                .map(|l| (l.concurrency, l.speedup)),
            |c| format!("concurrency {c}"),
        )
    }

    /// One phase per level: the client's CPU, on the threads its calls in flight can use, and
    /// the rest of the wall waiting on the network and the server, which no memory size
    /// changes; how much that wait moved shows in its successful calls' latencies.
    fn phases(run: &Run<Self>) -> Vec<Phase> {
        run.summary
            .figures
            .levels
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let latencies: Vec<f64> = run
                    .samples
                    .iter()
                    .filter(|s| s.level as usize == i && s.error.is_none())
                    .map(|s| s.latency_us as f64)
                    .collect();
                (l, super::item_spread(&latencies))
            })
            .map(|(l, wait_spread)| Phase {
                waits: true,
                wait_spread,
                ..Phase::cpu(
                    format!("concurrency {}", l.concurrency),
                    l.wall_ms,
                    l.cpu_ms,
                    l.max_in_flight.max(1) as f64,
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorType;
    use serde_json::json;

    const HOST: Host = Host { cores: 2 };

    fn parse(v: serde_json::Value) -> Result<IoParams, ProbeError> {
        let input: IoParams =
            serde_json::from_value(v).map_err(|e| ProbeError::invalid(e.to_string()))?;
        Io::resolve(input, &HOST)
    }

    #[test]
    fn defaults_follow_the_2019_experiment() {
        assert_eq!(
            parse(json!({})).unwrap(),
            IoParams {
                items: 100,
                concurrency: vec![1, 10],
                item_bytes: 256,
            }
        );
    }

    #[test]
    fn bytes_in_flight_are_budgeted() {
        // The largest item alone, and the widest concurrency with small items, both fit.
        assert!(parse(json!({"concurrency": [1, 20], "item_bytes": MAX_ITEM_BYTES})).is_ok());
        assert!(parse(json!({"concurrency": [MAX_CONCURRENCY], "item_bytes": 1024})).is_ok());
        let e = parse(json!({"concurrency": [1, 64], "item_bytes": 400_000})).unwrap_err();
        assert_eq!(e.error_type, ErrorType::OverBudget);
        assert!(
            e.message.contains("concurrency 64") && e.message.contains("item_bytes 400000"),
            "{}",
            e.message
        );
    }
}
