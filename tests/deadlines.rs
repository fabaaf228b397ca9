//! Deadlines: for every workload, a payload sized far beyond the remaining time returns before
//! the deadline with `truncated: true`, `truncated_reason: "deadline"` and every sample measured
//! so far. Three doors: `handle` with a near `Deadline`, `lambda_handler` with a near context
//! deadline (both an epoch time, as Lambda sends, and the ms-remaining form the emulator sends),
//! and the real binary's `run --timeout-ms`.
//!
//! Why not through `cargo lambda watch` with a short function timeout: it cannot be given one.
//! cargo-lambda 1.9's emulator answers every `GET …/runtime/invocation/next` with the constant
//! `Lambda-Runtime-Deadline-Ms: 600000` (set in its runtime router, not read from any flag,
//! environment variable or `[package.metadata.lambda]` key). Its only timeout setting, `watch
//! --timeout` (also `[package.metadata.lambda.watch] timeout`), bounds how long the *invoke
//! request* waits for an answer: the function still sees 600000 and runs on, while the caller is
//! left with the emulator giving up, not a truncated response. `--env-var AWS_LAMBDA_FUNCTION_TIMEOUT=…`
//! only reaches the function's environment, which the probe does not read for its deadline. So a
//! deadline test through it would need a payload of over 10 minutes per workload. What the
//! emulator's header does exercise, the ms-remaining reading (src/measure/deadline.rs: values
//! before 2001 are ms remaining), is checked here through `lambda_handler` with that form of
//! context deadline, and end to end by tests/runtime_api.rs: every bench payload through the
//! emulator comes back `truncated: false` (read as an epoch time, 600000 would be long past and
//! would cut every run at once).
//!
//! io's deadline (a silent endpoint cut at the deadline) is tested with it, in tests/io.rs.

mod common;

use common::run_probe;
use lambda_probe::measure::deadline::SAFETY_MARGIN_MS;
use lambda_probe::measure::Deadline;
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Time the workload may run before it must stop; the deadline is this plus the safety margin.
const WORK_MS: u64 = 800;

fn budget() -> Duration {
    Duration::from_millis(SAFETY_MARGIN_MS + WORK_MS)
}

/// A pbkdf2 payload of 64 passwords × 16 thread-count entries, each password sized from a
/// measured calibration run to take ~40 ms here: ~40 s of work, 50× the time it gets.
async fn huge_pbkdf2() -> Value {
    let probe = json!({"workload": "pbkdf2", "hash": "sha256", "iterations": 2000,
                       "passwords": 1, "threads": [1]});
    let r = run(probe, Deadline::none()).await;
    let wall_us = r["samples"][0]["wall_us"].as_u64().unwrap().max(1);
    let iterations = (2000 * 40_000 / wall_us).clamp(2000, 100_000_000);
    json!({"workload": "pbkdf2", "hash": "sha256", "iterations": iterations,
           "passwords": 64, "threads": vec![1; 16]})
}

/// 10 passes over 2,000 buffers of 1 MiB, purged between passes: 20 GiB painted and 5 M page
/// faults, seconds of work on any machine.
fn huge_alloc() -> Value {
    json!({"workload": "alloc", "buffers": 2000, "buffer_bytes": 1 << 20, "passes": 10,
           "mode": "fresh"})
}

/// 1,000 first-touch repeats of 64 MiB: 64 GiB painted.
fn huge_memset() -> Value {
    json!({"workload": "memset", "bytes": 64 << 20, "repeats": 1000, "first_touch": true})
}

async fn run(event: Value, deadline: Deadline) -> Value {
    let r = lambda_probe::handle(event.clone(), deadline)
        .await
        .unwrap_or_else(|e| panic!("{event}: {e}"))
        .0;
    serde_json::to_value(r).unwrap()
}

/// The samples are every one measured before the cut: as many as the workload's own counters
/// say were done, in order, with no gap.
fn assert_samples_complete_so_far(r: &Value) {
    let samples = r["samples"].as_array().unwrap();
    let s = &r["summary"];
    match r["workload"].as_str().unwrap() {
        "pbkdf2" => {
            let done: u64 = s["levels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["passwords_done"].as_u64().unwrap())
                .sum();
            assert_eq!(samples.len() as u64, done, "{s}");
            for x in samples {
                assert!(x["wall_us"].as_u64().unwrap() > 0, "{x}");
            }
        }
        "alloc" => {
            let buffers = r["params"]["buffers"].as_u64().unwrap();
            for (i, x) in samples.iter().enumerate() {
                let i = i as u64;
                assert_eq!(x["pass"], i / buffers + 1, "sample {i}: {x}");
                assert_eq!(x["index"], i % buffers, "sample {i}: {x}");
            }
            let passes = s["passes"].as_array().unwrap();
            let last_pass = samples.last().map_or(0, |x| x["pass"].as_u64().unwrap());
            assert_eq!(passes.len() as u64, last_pass.max(1), "{s}");
        }
        "memset" => {
            assert_eq!(
                samples.len() as u64,
                s["repeats_done"].as_u64().unwrap(),
                "{s}"
            );
            for (i, x) in samples.iter().enumerate() {
                assert_eq!(x["repeat"], i as u64, "{x}");
            }
        }
        other => panic!("no sample check for {other}"),
    }
}

/// The response of a run cut at the deadline: truncated for that reason, returned in time, with
/// samples measured (the payload ran ~`WORK_MS` of work) and none lost.
fn assert_cut_in_time(r: &Value, elapsed: Duration, deadline: Duration) {
    let w = r["workload"].as_str().unwrap();
    assert_eq!(r["truncated"], true, "{w}: {}", r["summary"]);
    assert_eq!(r["truncated_reason"], "deadline", "{w}");
    assert!(
        elapsed < deadline,
        "{w}: returned after {elapsed:?}, deadline {deadline:?}"
    );
    assert!(
        !r["samples"].as_array().unwrap().is_empty(),
        "{w}: {WORK_MS} ms of work measured nothing"
    );
    assert_samples_complete_so_far(r);
}

#[tokio::test]
async fn every_workload_stops_at_a_near_deadline_with_its_samples() {
    for payload in [huge_pbkdf2().await, huge_alloc(), huge_memset()] {
        let start = Instant::now();
        let r = run(payload, Deadline::after(budget())).await;
        let elapsed = start.elapsed();
        assert_cut_in_time(&r, elapsed, budget());
        eprintln!(
            "{}: cut after {elapsed:?} with {} samples",
            r["workload"],
            r["samples"].as_array().unwrap().len()
        );
    }
}

#[tokio::test]
async fn a_deadline_inside_the_margin_runs_nothing_and_says_so() {
    for payload in [huge_pbkdf2().await, huge_alloc(), huge_memset()] {
        let start = Instant::now();
        let r = run(payload, Deadline::after(Duration::from_millis(100))).await;
        let elapsed = start.elapsed();
        let w = r["workload"].clone();
        assert_eq!(r["truncated"], true, "{w}");
        assert_eq!(r["truncated_reason"], "deadline", "{w}");
        assert_eq!(r["samples"], json!([]), "{w}");
        assert!(elapsed < Duration::from_millis(500), "{w}: {elapsed:?}");
    }
}

#[tokio::test]
async fn env_has_no_work_to_cut() {
    // Even with the deadline already inside the margin, env answers in full.
    let r = run(
        json!({"workload": "env"}),
        Deadline::after(Duration::from_millis(1)),
    )
    .await;
    assert_eq!(r["truncated"], false);
    assert_eq!(r["truncated_reason"], Value::Null);
    assert_eq!(r["samples"], json!([]));
    assert!(r["environment"]["invocation_index"].as_u64().unwrap() >= 1);
}

async fn through_lambda_handler(payload: Value, context_deadline_ms: u64) -> Value {
    let mut ctx = lambda_runtime::Context::default();
    ctx.deadline = context_deadline_ms;
    let r = lambda_probe::lambda::handler(lambda_runtime::LambdaEvent::new(payload, ctx))
        .await
        .unwrap();
    serde_json::to_value(r).unwrap()
}

#[tokio::test]
async fn the_lambda_context_deadline_cuts_the_run() {
    for payload in [huge_pbkdf2().await, huge_alloc(), huge_memset()] {
        // As Lambda sends it: ms since the epoch.
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let start = Instant::now();
        let r = through_lambda_handler(payload.clone(), now_ms + budget().as_millis() as u64).await;
        assert_cut_in_time(&r, start.elapsed(), budget());

        // As `cargo lambda watch` sends it: the function timeout, read as ms remaining.
        let start = Instant::now();
        let r = through_lambda_handler(payload, budget().as_millis() as u64).await;
        assert_cut_in_time(&r, start.elapsed(), budget());
    }
}

#[tokio::test]
async fn the_binary_run_door_honours_timeout_ms() {
    let timeout_ms = budget().as_millis() as u64;
    for payload in [huge_pbkdf2().await, huge_alloc(), huge_memset()] {
        let start = Instant::now();
        let out = run_probe(&payload, &["--timeout-ms", &timeout_ms.to_string()]);
        let elapsed = start.elapsed();
        assert!(out.ok, "{payload}: {}\n{}", out.body, out.stderr);
        let r = out.body;
        // The run's own wall time is inside the deadline; the process as a whole (start-up,
        // teardown, a loaded machine) gets one more second.
        let run_ms = r["summary"]["wall_ms"].as_f64().unwrap();
        assert!(
            run_ms < timeout_ms as f64,
            "{}: ran {run_ms} ms",
            r["workload"]
        );
        assert_cut_in_time(&r, elapsed, budget() + Duration::from_secs(1));
    }
}
