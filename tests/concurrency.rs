//! Many invocations in one process at once, as on Lambda Managed Instances: waves of K = 1, 4
//! and 16 mixed invocations through `lambda_probe::handle` on a multi-thread runtime (the path
//! `run_concurrent`'s workers take), and `lambda-probe run --concurrency K` as its own process.
//! Every response must read back as the typed response, say exactly which others overlapped it
//! (recomputed here from the windows all of them report on the process's clock), mark its
//! process-wide figures as shared only then, keep per-thread figures exact, and the memory
//! workloads must never run at the same time.

mod common;

use common::{probe_cmd, run_probe_cmd_lines};
use lambda_probe::measure::stats::median;
use lambda_probe::measure::Deadline;
use lambda_probe::response::{Answer, Response};
use lambda_probe::workloads::memory::MemoryLock;
use lambda_probe::workloads::Results;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The waves of this binary run one after another, so every overlap they report is their own.
static ONE_WAVE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// One thread, one password: ~0.2 s of CPU in a debug build.
fn pbkdf2_one() -> Value {
    json!({"workload": "pbkdf2", "hash": "sha256", "iterations": 20000, "passwords": 1, "threads": [1]})
}

/// A mix of every workload that runs without a table; the memory workloads take long enough
/// (tens of ms) that a wave started together contends for the memory lock.
fn mixed(i: usize) -> Value {
    match i % 6 {
        0 => pbkdf2_one(),
        1 => json!({"workload": "alloc", "buffers": 32, "buffer_bytes": 1048576, "passes": 2}),
        2 => json!({"workload": "env"}),
        3 => json!({"workload": "memset", "bytes": 8388608, "repeats": 3}),
        4 => {
            json!({"workload": "pbkdf2", "hash": "sha256", "iterations": 10000, "passwords": 2, "threads": [2]})
        }
        _ => {
            json!({"workload": "memset", "bytes": 8388608, "repeats": 2, "first_touch": true})
        }
    }
}

/// Sends `events` at once (all released together) to `handle` on a runtime with `workers`
/// threads, and returns the responses in the order of `events`.
fn wave(events: Vec<Value>, workers: usize) -> Vec<Response> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let start = Arc::new(tokio::sync::Barrier::new(events.len()));
        let tasks: Vec<_> = events
            .into_iter()
            .map(|event| {
                let start = start.clone();
                tokio::spawn(async move {
                    start.wait().await;
                    lambda_probe::handle(event, Deadline::after(Duration::from_secs(300))).await
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            let (response, _) = t.await.expect("invocation task").expect("invocation");
            out.push(response);
        }
        out
    })
}

/// The values a path such as `summary.levels[].cpu_ms` names (`[]` = every element); panics
/// when a key on the way is missing.
fn resolve<'a>(root: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut at = vec![root];
    for part in path.split('.') {
        let (key, every) = match part.strip_suffix("[]") {
            Some(k) => (k, true),
            None => (part, false),
        };
        at = at
            .into_iter()
            .map(|v| {
                v.get(key)
                    .unwrap_or_else(|| panic!("{path}: no `{key}` in {v}"))
            })
            .flat_map(|v| {
                if every {
                    v.as_array()
                        .unwrap_or_else(|| panic!("{path}: `{key}` is not an array"))
                        .iter()
                        .collect()
                } else {
                    vec![v]
                }
            })
            .collect();
    }
    at
}

fn memory_lock(r: &Response) -> Option<&MemoryLock> {
    match &r.result {
        Results::Alloc(run) => Some(&run.summary.figures.memory_lock),
        Results::Memset(run) => Some(&run.summary.figures.memory_lock),
        _ => None,
    }
}

/// Everything a wave must satisfy, whatever the timing.
fn check_wave(responses: &[Response]) {
    let k = responses.len();
    let windows: Vec<(f64, f64)> = responses
        .iter()
        .map(|r| (r.overlap.began_us, r.overlap.ended_us))
        .collect();
    let mut indexes: Vec<u64> = responses
        .iter()
        .map(|r| r.environment.invocation.invocation_index)
        .collect();
    indexes.sort();
    indexes.dedup();
    assert_eq!(indexes.len(), k, "invocation indexes repeat: {indexes:?}");
    for (i, r) in responses.iter().enumerate() {
        // The JSON a caller gets reads back as the same typed response.
        let json = serde_json::to_value(r).unwrap();
        match Answer::from_value(json.clone()) {
            Ok(Answer::Response(back)) => assert_eq!(&*back, r),
            other => panic!("not a typed response: {other:?}"),
        }
        common::assert_response_contract(&json, r.workload());
        assert!(!r.truncated, "{}: {json}", r.workload());
        assert_eq!(
            r.environment.sandbox_id,
            responses[0].environment.sandbox_id
        );
        let o = &r.overlap;
        assert!(o.began_us < o.ended_us, "{o:?}");
        assert_eq!(
            (o.others_at_start, o.others_max, o.others_total),
            common::implied_overlap(&windows, i),
            "{}: the counts disagree with the windows {windows:?}",
            r.workload()
        );
        assert!(o.others_at_start <= o.others_max && o.others_max <= o.others_total);
        assert!(o.others_total < k as u32);
        // Process-wide figures are marked exactly when something overlapped, and every path
        // listed names figures the response has.
        assert_eq!(o.figures_shared, o.others_total > 0, "{o:?}");
        if o.figures_shared {
            assert_eq!(o.shared_figures, r.result.process_wide_figures(), "{o:?}");
            for path in &o.shared_figures {
                resolve(&json, path);
            }
        } else {
            assert!(o.shared_figures.is_empty(), "{o:?}");
        }
        // A memory workload held the lock inside its own measured window.
        if let Some(lock) = memory_lock(r) {
            let (from, until) = (lock.held_from_us.unwrap(), lock.held_until_us.unwrap());
            assert!(
                o.began_us <= from && from <= until && until <= o.ended_us,
                "{lock:?} {o:?}"
            );
            if lock.waited {
                assert!(lock.wait_ms > 0.0, "{lock:?}");
            }
        }
    }
    // The memory workloads never ran at the same time.
    let mut held: Vec<(f64, f64)> = responses
        .iter()
        .filter_map(memory_lock)
        .map(|l| (l.held_from_us.unwrap(), l.held_until_us.unwrap()))
        .collect();
    held.sort_by(|a, b| a.0.total_cmp(&b.0));
    for pair in held.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "two memory workloads ran at once: {held:?}"
        );
    }
}

#[test]
fn waves_of_1_4_and_16_mixed_invocations_report_their_overlap_exactly() {
    let _one = ONE_WAVE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    for k in [1usize, 4, 16] {
        let responses = wave((0..k).map(mixed).collect(), 4);
        check_wave(&responses);
        let most = responses
            .iter()
            .map(|r| r.overlap.others_max)
            .max()
            .unwrap();
        if k == 1 {
            let o = &responses[0].overlap;
            assert_eq!((o.others_at_start, o.others_max, o.others_total), (0, 0, 0));
            assert!(!o.figures_shared);
        } else {
            // Released together, the long ones (pbkdf2) overlap the whole wave's start.
            assert!(most as usize >= k / 2, "K = {k}: at most {most} at once");
            for r in responses.iter().filter(|r| r.workload() == "pbkdf2") {
                assert!(r.overlap.figures_shared, "{:?}", r.overlap);
            }
            // With several memory workloads released together, some waited for another.
            let locks: Vec<&MemoryLock> = responses.iter().filter_map(memory_lock).collect();
            assert!(locks.len() >= 2);
            assert!(
                locks.iter().any(|l| l.waited && l.wait_ms > 0.0),
                "K = {k}: no memory workload waited: {locks:?}"
            );
        }
    }
}

/// Per-thread CPU time (pbkdf2's `samples[].cpu_us`) is the same alone and among 3 others;
/// the process's (`summary.cpu_ms`) is not, which is why it is marked shared.
#[test]
fn per_thread_cpu_stays_exact_while_process_cpu_is_shared() {
    let _one = ONE_WAVE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let thread_cpu = |r: &Response| match &r.result {
        Results::Pbkdf2(run) => run.samples[0].cpu_us as f64,
        _ => unreachable!(),
    };
    let mut alone = Vec::new();
    for _ in 0..3 {
        let r = wave(vec![pbkdf2_one()], 2);
        assert!(!r[0].overlap.figures_shared);
        alone.push(thread_cpu(&r[0]));
    }
    let together = wave((0..4).map(|_| pbkdf2_one()).collect(), 4);
    check_wave(&together);
    let shared: Vec<f64> = together.iter().map(thread_cpu).collect();
    let (a, s) = (median(&alone).unwrap(), median(&shared).unwrap());
    // The machine is shared with other builds: CPU time per thread varies 3–15% run to run.
    assert!(
        (0.7..=1.4).contains(&(s / a)),
        "per-password CPU {s} µs among 4 vs {a} µs alone ({alone:?} / {shared:?})"
    );
    // Each invocation's process CPU includes the others' work: at least one shows clearly more
    // than its own thread used.
    let ratios: Vec<f64> = together
        .iter()
        .map(|r| r.result.common().cpu_ms * 1000.0 / thread_cpu(r))
        .collect();
    assert!(
        ratios.iter().any(|&x| x > 1.5),
        "process CPU ÷ own thread CPU: {ratios:?}"
    );
    assert!(together.iter().all(|r| r.overlap.figures_shared));
    // Each invocation's own effective vCPU comes from its thread, never the shared process
    // figure: one thread keeps at most one vCPU busy.
    for r in &together {
        let own = r
            .own_effective_vcpu()
            .expect("pbkdf2 reads its threads' CPU");
        let wall = r.result.common().wall_ms;
        assert!((own - thread_cpu(r) / 1000.0 / wall).abs() < 0.002, "{own}");
        assert!(own <= 1.05, "one thread kept {own} vCPU busy");
    }
    // Alone, it is the summary's own figure.
    let r = wave(vec![pbkdf2_one()], 2).remove(0);
    assert_eq!(r.own_effective_vcpu(), r.result.common().effective_vcpu);
}

/// `run --concurrency 16` as its own process: exactly one cold start, indexes 1..=16, one
/// sandbox, one JSON line each.
#[test]
fn run_concurrency_16_has_one_cold_start_and_every_index_once() {
    let mut cmd = probe_cmd(&["--concurrency", "16"]);
    cmd.env_remove("AWS_LAMBDA_MAX_CONCURRENCY");
    let run = run_probe_cmd_lines(
        cmd,
        pbkdf2_one().to_string().as_bytes(),
        Duration::from_secs(300),
    );
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(run.lines.len(), 16, "{:?}", run.lines);
    let responses: Vec<Response> = run
        .lines
        .into_iter()
        .map(|v| match Answer::from_value(v) {
            Ok(Answer::Response(r)) => *r,
            other => panic!("{other:?}"),
        })
        .collect();
    check_wave(&responses);
    let cold: Vec<u64> = responses
        .iter()
        .filter(|r| r.environment.invocation.cold_start)
        .map(|r| r.environment.invocation.invocation_index)
        .collect();
    assert_eq!(
        cold,
        vec![1],
        "exactly one cold start, the first invocation"
    );
    let mut indexes: Vec<u64> = responses
        .iter()
        .map(|r| r.environment.invocation.invocation_index)
        .collect();
    indexes.sort();
    assert_eq!(indexes, (1..=16).collect::<Vec<u64>>());
    let init: Vec<f64> = responses
        .iter()
        .map(|r| r.environment.invocation.init_ms)
        .collect();
    assert!(init.iter().all(|&x| x == init[0]), "{init:?}");
    assert!(responses
        .iter()
        .all(|r| r.environment.max_concurrency.is_none()));
    // All sixteen were released together and each ran for ~0.2 s of CPU on two cores: the
    // process saw all of them at once.
    assert!(responses.iter().any(|r| r.overlap.others_max == 15));
}

/// `--repeat N --concurrency K`: K workers, N invocations each, K × N lines.
#[test]
fn run_repeat_and_concurrency_multiply() {
    let run = run_probe_cmd_lines(
        probe_cmd(&["--concurrency", "3", "--repeat", "2"]),
        br#"{"workload":"env"}"#,
        Duration::from_secs(120),
    );
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(run.lines.len(), 6);
    let mut indexes: Vec<u64> = run
        .lines
        .iter()
        .map(|l| l["environment"]["invocation_index"].as_u64().unwrap())
        .collect();
    indexes.sort();
    assert_eq!(indexes, vec![1, 2, 3, 4, 5, 6]);
    // --summary describes one invocation.
    let summary = common::run_probe_cmd_lines(
        probe_cmd(&["--concurrency", "2", "--summary"]),
        br#"{"workload":"env"}"#,
        Duration::from_secs(60),
    );
    assert!(!summary.ok && summary.lines.is_empty());
    assert!(
        summary.stderr.contains("--concurrency"),
        "{}",
        summary.stderr
    );
}
