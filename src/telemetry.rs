//! The log lines that outlive the response. Drivers such as Power Tuning keep only duration and
//! cost, so every invocation also writes to stdout (CloudWatch Logs):
//! - one CloudWatch Embedded Metric Format record (namespace `LambdaProbe`, dimensions Workload,
//!   MemoryMB, Architecture), which CloudWatch turns into metrics without any API call;
//! - one compact line with the full response (unless the event says `"log_result": false`),
//!   so Logs Insights or `aws logs filter-log-events` can rebuild every run.
//!
//! Both are printed before the handler returns, so the platform's REPORT line stays last. When
//! they are long, a text line follows them (see [`tail_guard`]).

use crate::response::Response;
use serde::Serialize;
use serde_json::{json, Map, Value};

pub const NAMESPACE: &str = "LambdaProbe";
/// Every metric's dimensions: the experiment (the workload's parameters, as a short label) keeps
/// runs that measure different things (1 thread vs 2, concurrency sets, alloc modes) in series
/// of their own; there is one series per distinct payload, memory size and architecture.
pub const DIMENSIONS: [&str; 4] = ["Workload", "Experiment", "MemoryMB", "Architecture"];
/// Marks the full-result line (`"type"`), so readers find it among other log lines.
pub const RESULT_TYPE: &str = "lambda-probe.result";
pub const METRICS_TYPE: &str = "lambda-probe.metrics";
/// CloudWatch Logs takes events up to 256 KiB; past this the full result is not logged and a
/// line says so (the response itself is unaffected).
pub const MAX_RESULT_LINE_BYTES: usize = 250_000;

/// A CloudWatch unit, as EMF spells it.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
pub enum Unit {
    Milliseconds,
    Microseconds,
    Count,
    #[serde(rename = "Count/Second")]
    CountPerSecond,
    #[serde(rename = "Gigabytes/Second")]
    GigabytesPerSecond,
    None,
}

/// One headline figure of a workload, published as a metric.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub unit: Unit,
    pub value: f64,
    /// Measured for the whole process (CPU time, page faults): left out of the record when
    /// other invocations ran in the process meanwhile (`overlap.figures_shared`), so a metric
    /// never mixes one invocation's figure with several's.
    pub process_wide: bool,
}

impl Metric {
    pub fn new(name: &'static str, unit: Unit, value: f64) -> Self {
        Self {
            name,
            unit,
            value,
            process_wide: false,
        }
    }

    /// A figure of the whole process (see [`Metric::process_wide`]).
    pub fn process_wide(name: &'static str, unit: Unit, value: f64) -> Self {
        Self {
            process_wide: true,
            ..Self::new(name, unit, value)
        }
    }
}

/// The EMF record for one response: the generic figures plus the workload's own metrics.
pub fn emf_record(response: &Response, timestamp_ms: u64) -> Value {
    let s = response.result.common();
    let mut metrics = vec![
        Metric::new("WallMs", Unit::Milliseconds, s.wall_ms),
        Metric::process_wide("CpuMs", Unit::Milliseconds, s.cpu_ms),
        Metric::process_wide("NewPages", Unit::Count, s.new_pages as f64),
        Metric::new(
            "OverlapMax",
            Unit::Count,
            response.overlap.others_max as f64,
        ),
    ];
    if let Some(v) = s.effective_vcpu {
        metrics.push(Metric::process_wide("EffectiveVcpu", Unit::None, v));
    }
    metrics.extend(response.result.metrics());
    if response.overlap.figures_shared {
        metrics.retain(|m| !m.process_wide);
    }
    let memory = response
        .environment
        .memory_mb
        .map(|m| m.to_string())
        .unwrap_or_else(|| "local".to_string());
    let mut record = Map::new();
    record.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [DIMENSIONS],
                "Metrics": metrics.iter().map(|m| json!({"Name": m.name, "Unit": m.unit})).collect::<Vec<_>>(),
            }],
        }),
    );
    record.insert("type".into(), METRICS_TYPE.into());
    record.insert("Workload".into(), response.workload().into());
    record.insert("Experiment".into(), response.result.experiment().into());
    record.insert("MemoryMB".into(), memory.into());
    let arch = response.environment.lambda_arch();
    record.insert(
        "Architecture".into(),
        arch.map(|a| a.name())
            .unwrap_or(response.environment.arch.as_str())
            .into(),
    );
    record.insert(
        "SandboxId".into(),
        response.environment.sandbox_id.clone().into(),
    );
    for m in &metrics {
        record.insert(m.name.into(), json!(m.value));
    }
    Value::Object(record)
}

/// The full-result line, or a short line saying why it was left out.
pub fn result_line(response: &Response, request_id: &str) -> String {
    result_line_within(response, request_id, MAX_RESULT_LINE_BYTES)
}

fn result_line_within(response: &Response, request_id: &str, max_bytes: usize) -> String {
    let line =
        json!({"type": RESULT_TYPE, "request_id": request_id, "response": response}).to_string();
    if line.len() <= max_bytes {
        return line;
    }
    json!({
        "type": RESULT_TYPE,
        "request_id": request_id,
        "omitted": format!("the full result is {} bytes, over the {} logged per line; the response still carries it", line.len(), max_bytes),
    })
    .to_string()
}

/// Every line to log for one invocation, in order.
pub fn log_lines(response: &Response, request_id: &str, log_result: bool) -> Vec<String> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut lines = vec![emf_record(response, now_ms).to_string()];
    if log_result {
        lines.push(result_line(response, request_id));
    }
    lines.extend(tail_guard(&lines));
    lines
}

/// `LogResult`, what Lambda returns with an invocation asked with `LogType: Tail`, holds the last
/// 4 KB of the invocation's log; AWS Lambda Power Tuning reads every duration from it.
pub const LOG_TAIL_BYTES: usize = 4096;
/// What Lambda writes after the function's lines, at most: END (52 bytes) and REPORT (under
/// 300 bytes with every field at its widest, Init Duration and an error status included), with
/// room to spare for an X-Ray line.
pub const PLATFORM_TAIL_MAX_BYTES: usize = 1024;

/// Power Tuning takes the log tail for JSON logs when its first byte is `{`, and then fails on
/// this function's Text logs ("Unrecognized JSON log"). A tail cut inside the probe's JSON lines
/// can start on any of their braces, so when those lines are long enough to reach the start of
/// the tail, one text line of `LOG_TAIL_BYTES` follows them: the tail then starts inside it, and
/// END and REPORT, whatever their length, follow it. Shorter output needs none: the tail then
/// starts in Lambda's own START (or INIT_START) line.
pub fn tail_guard(lines: &[String]) -> Option<String> {
    let printed: usize = lines.iter().map(|l| l.len() + 1).sum();
    if printed + PLATFORM_TAIL_MAX_BYTES < LOG_TAIL_BYTES {
        return None;
    }
    const WHY: &str =
        "lambda-probe: log tail guard. The JSON lines above are long enough to reach \
        the start of the last 4 KB of this invocation's log (LogResult), which AWS Lambda Power \
        Tuning parses as JSON logs when it starts with an opening brace; this text line fills \
        those 4 KB instead.";
    let mut guard = String::with_capacity(LOG_TAIL_BYTES);
    guard.push_str(WHY);
    // println! adds the newline that makes the line LOG_TAIL_BYTES long.
    guard.extend(std::iter::repeat_n('.', LOG_TAIL_BYTES - 1 - WHY.len()));
    Some(guard)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::Deadline;
    use serde_json::json;

    async fn respond(event: Value) -> Response {
        crate::handle(event, Deadline::none()).await.unwrap().0
    }

    fn names(rec: &Value) -> Vec<&str> {
        rec["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect()
    }

    /// As if nothing else ran in the process (the tests of this binary run in parallel).
    fn alone(mut r: Response) -> Response {
        r.overlap.others_at_start = 0;
        r.overlap.others_max = 0;
        r.overlap.others_total = 0;
        r.overlap.figures_shared = false;
        r.overlap.shared_figures.clear();
        r
    }

    #[tokio::test]
    async fn emf_record_declares_every_metric_it_carries() {
        let r = alone(
            respond(
                json!({"workload": "pbkdf2", "iterations": 300, "passwords": 2, "threads": [1, 2]}),
            )
            .await,
        );
        let rec = emf_record(&r, 1_700_000_000_000);
        let cw = &rec["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], NAMESPACE);
        assert_eq!(
            cw["Dimensions"],
            json!([["Workload", "Experiment", "MemoryMB", "Architecture"]])
        );
        for dim in DIMENSIONS {
            assert!(rec[dim].is_string(), "dimension {dim} missing: {rec}");
        }
        let names: Vec<&str> = cw["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        for n in [
            "WallMs",
            "CpuMs",
            "NewPages",
            "OverlapMax",
            "Pbkdf2IterationsPerS",
            "Pbkdf2Speedup",
        ] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
        for n in &names {
            assert!(rec[*n].is_number(), "{n} declared but has no value: {rec}");
        }
        assert_eq!(rec["WallMs"], json!(r.result.common().wall_ms));
        // CloudWatch's EMF limits: at most 100 metrics and 30 dimensions per record.
        assert!(names.len() <= 100);
        assert!(
            rec.to_string().len() < 4096,
            "keep the record small: {}",
            rec.to_string().len()
        );
    }

    /// With other invocations in the process, a process-wide figure would mix theirs into a
    /// metric: it is left out, the per-invocation ones stay.
    #[tokio::test]
    async fn shared_figures_are_not_published_as_metrics() {
        let r = alone(
            respond(
                json!({"workload": "pbkdf2", "iterations": 300, "passwords": 2, "threads": [1]}),
            )
            .await,
        );
        let mut shared = r.clone();
        shared.overlap.others_total = 3;
        shared.overlap.others_max = 2;
        shared.overlap.figures_shared = true;
        let rec = emf_record(&shared, 1_700_000_000_000);
        let n = names(&rec);
        for gone in ["CpuMs", "NewPages", "EffectiveVcpu"] {
            assert!(!n.contains(&gone), "{gone} published while shared: {n:?}");
            assert!(rec.get(gone).is_none(), "{rec}");
        }
        for kept in ["WallMs", "OverlapMax", "Pbkdf2IterationsPerS"] {
            assert!(n.contains(&kept), "{kept} missing: {n:?}");
        }
        assert_eq!(rec["OverlapMax"], json!(2.0));
        assert!(names(&emf_record(&r, 1)).contains(&"CpuMs"));
    }

    #[tokio::test]
    async fn result_line_round_trips_to_the_response() {
        let r = respond(json!({"workload": "env"})).await;
        let line = result_line(&r, "req-1");
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["type"], RESULT_TYPE);
        assert_eq!(v["request_id"], "req-1");
        assert_eq!(v["response"], serde_json::to_value(&r).unwrap());
        assert!(!line.contains('\n'), "one line per result");
    }

    #[tokio::test]
    async fn log_result_false_leaves_only_the_metrics() {
        let (r, o) = crate::handle(
            json!({"workload": "env", "log_result": false}),
            Deadline::none(),
        )
        .await
        .unwrap();
        let lines = log_lines(&r, "req-2", o.log_result);
        assert_eq!(lines.len(), 1);
        let v: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["type"], METRICS_TYPE);
        let (r, o) = crate::handle(json!({"workload": "env"}), Deadline::none())
            .await
            .unwrap();
        assert_eq!(log_lines(&r, "req-3", o.log_result).len(), 2);
    }

    #[tokio::test]
    async fn an_oversized_result_is_announced_not_cut() {
        let r = respond(json!({"workload": "env"})).await;
        let v: Value = serde_json::from_str(&result_line_within(&r, "req-4", 100)).unwrap();
        assert!(v.get("response").is_none());
        assert!(v["omitted"].as_str().unwrap().contains("bytes"), "{v}");
    }

    #[tokio::test]
    async fn different_experiments_never_share_a_series() {
        let experiment = |r: &Response| emf_record(r, 0)["Experiment"].clone();
        let one = respond(
            json!({"workload": "pbkdf2", "iterations": 10, "passwords": 1, "threads": [1]}),
        )
        .await;
        let two = respond(
            json!({"workload": "pbkdf2", "iterations": 10, "passwords": 1, "threads": [2]}),
        )
        .await;
        let again = respond(
            json!({"workload": "pbkdf2", "iterations": 10, "passwords": 1, "threads": [1]}),
        )
        .await;
        assert_ne!(experiment(&one), experiment(&two));
        assert_eq!(experiment(&one), experiment(&again));
        assert_eq!(experiment(&one), json!("sha512 1x10 threads=1"));
        let reuse = respond(
            json!({"workload": "alloc", "buffers": 2, "buffer_bytes": 65536, "mode": "reuse"}),
        )
        .await;
        let fresh = respond(
            json!({"workload": "alloc", "buffers": 2, "buffer_bytes": 65536, "mode": "fresh"}),
        )
        .await;
        assert_ne!(experiment(&reuse), experiment(&fresh));
    }

    #[tokio::test]
    async fn memory_workloads_publish_their_headline_figures() {
        let names = |r: &Response| -> Vec<&'static str> {
            r.result.metrics().iter().map(|m| m.name).collect()
        };
        let r =
            respond(json!({"workload": "alloc", "buffers": 4, "passes": 2, "mode": "reuse"})).await;
        assert_eq!(
            names(&r),
            vec!["FirstTouchUsPerMiB", "ReuseUsPerMiB", "ReuseNewPagesPerMiB"]
        );
        let r = respond(json!({"workload": "memset", "bytes": 1048576, "repeats": 2})).await;
        assert_eq!(names(&r), vec!["MemsetGBps"]);
        let r = respond(
            json!({"workload": "memset", "bytes": 1048576, "repeats": 2, "first_touch": true}),
        )
        .await;
        assert_eq!(names(&r), vec!["MemsetFirstTouchGBps"]);
        // Pass 2 of `fresh` is another first touch: no reuse metric.
        let r =
            respond(json!({"workload": "alloc", "buffers": 4, "passes": 2, "mode": "fresh"})).await;
        assert_eq!(names(&r), vec!["FirstTouchUsPerMiB"]);
    }

    #[tokio::test]
    async fn long_lines_get_a_tail_guard_and_short_ones_do_not() {
        // env: a short response, no guard; alloc: a long one, guarded.
        let r = respond(json!({"workload": "env"})).await;
        let lines = log_lines(&r, "req-5", true);
        let printed: usize = lines.iter().map(|l| l.len() + 1).sum();
        assert!(
            printed + PLATFORM_TAIL_MAX_BYTES < LOG_TAIL_BYTES,
            "{printed}"
        );
        assert!(lines.iter().all(|l| l.starts_with('{')), "{lines:?}");
        let r = respond(json!({"workload": "alloc", "buffers": 40, "buffer_bytes": 4096})).await;
        let lines = log_lines(&r, "req-6", true);
        assert_eq!(lines.len(), 3);
        let guard = &lines[2];
        assert_eq!(guard.len() + 1, LOG_TAIL_BYTES, "a full tail once printed");
        // No brace (the JSON path), no tab (Power Tuning's text regexes start with one).
        assert!(
            guard.is_ascii() && !guard.contains(['{', '\t', '\n']),
            "{guard}"
        );
        // The threshold: one byte under it needs no guard, at it one is added.
        let at = |n: usize| tail_guard(&["x".repeat(n - 1)]);
        assert!(at(LOG_TAIL_BYTES - PLATFORM_TAIL_MAX_BYTES - 1).is_none());
        assert!(at(LOG_TAIL_BYTES - PLATFORM_TAIL_MAX_BYTES).is_some());
    }
}
