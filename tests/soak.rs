//! Warm-sandbox soak: one warm function process behind the real Runtime API emulator
//! (`cargo lambda watch`), every workload at small sizes mixed with invalid payloads.
//! Valid payloads never fail, `invocation_index` counts every invocation, `cold_start` is true
//! only on the first, the sandbox keeps its id, and resident memory (VmRSS of the function
//! process, from /proc/<pid>/status) grows < 5 MB after warm-up.
//!
//! `SOAK_INVOCATIONS` sets the count (default 200, what CI runs; `make soak N=1000`). RSS is read
//! every 100 invocations, always right after an env invocation (the mix puts env at every
//! multiple of 10), so each reading sees the process between workloads: the memory workloads
//! purge jemalloc's arenas before and after they run (`dirty_decay_ms:-1` otherwise keeps freed
//! pages), so their buffers are not in these readings, by design. The curve and the peak
//! (VmHWM) are printed and written to soak-rss.json in the test's temporary directory.

mod common;

use common::{assert_response_contract, Watch};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Growth allowed after warm-up.
const MAX_GROWTH_BYTES: u64 = 5_000_000;
/// Readings from this invocation on are after warm-up: every payload of the mix has run 10×.
const WARM_AFTER: u64 = 100;
const READ_EVERY: u64 = 100;

/// Ten payloads, cycled; `None` marks an invalid one and the errorType it must get.
fn mix(i: u64) -> (Value, Option<&'static str>) {
    let quiet = |mut v: Value| {
        v["log_result"] = false.into();
        v
    };
    let bad = |v: Value| (v, Some("InvalidPayload"));
    let mode = ["reuse", "fresh", "mmap"][(i / 10 % 3) as usize];
    match i % 10 {
        0 => (quiet(json!({"workload": "env"})), None),
        1 => (
            quiet(
                json!({"workload": "pbkdf2", "hash": "sha256", "iterations": 500,
                         "passwords": 2, "threads": [1, 2]}),
            ),
            None,
        ),
        2 => (
            quiet(
                json!({"workload": "alloc", "buffers": 8, "buffer_bytes": 1 << 20,
                         "passes": 2, "mode": mode}),
            ),
            None,
        ),
        3 => (
            quiet(json!({"workload": "memset", "bytes": 4 << 20, "repeats": 2,
                         "first_touch": (i / 10).is_multiple_of(2)})),
            None,
        ),
        4 => bad(json!({"workload": "nope"})),
        5 => (
            quiet(
                json!({"workload": "pbkdf2", "hash": "sha512", "iterations": 200,
                         "passwords": 1, "threads": [1]}),
            ),
            None,
        ),
        6 => bad(json!({"workload": "pbkdf2", "iterations": 0})),
        7 => bad(json!([1, 2, 3])),
        8 => bad(json!({"workload": "alloc", "buffer_bytes": "1 MiB"})),
        _ => (json!({}), None), // env, logging its result
    }
}

/// The function process: the `lambda-probe` binary started under
/// the emulator (a descendant of the process the guard spawned).
fn function_pid(watch_pid: u32) -> Option<u32> {
    // Any target dir (CARGO_TARGET_DIR may put it outside the repo): the emulator's own
    // descendant named lambda-probe is the function.
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(exe) = std::fs::read_link(entry.path().join("exe")) else {
            continue;
        };
        let exe = exe.to_string_lossy().replace(" (deleted)", "");
        let exe = Path::new(&exe);
        if exe.file_name().is_some_and(|n| n == "lambda-probe") && descends_from(pid, watch_pid) {
            return Some(pid);
        }
    }
    None
}

fn descends_from(mut pid: u32, ancestor: u32) -> bool {
    for _ in 0..64 {
        if pid == ancestor {
            return true;
        }
        match parent(pid) {
            Some(p) if p > 1 => pid = p,
            _ => return false,
        }
    }
    false
}

fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name in parentheses: state, then ppid.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// A `kB` line of /proc/<pid>/status, in bytes.
fn status_bytes(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("the function process {pid} is gone: {e}"));
    let line = status
        .lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"));
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

#[test]
fn a_warm_sandbox_survives_a_long_mixed_run() {
    let n: u64 = std::env::var("SOAK_INVOCATIONS")
        .ok()
        .map(|v| v.parse().expect("SOAK_INVOCATIONS: a whole number"))
        .unwrap_or(200);
    assert!(
        n >= WARM_AFTER + READ_EVERY,
        "SOAK_INVOCATIONS must be at least {}",
        WARM_AFTER + READ_EVERY
    );
    let watch = Watch::start(&[]);
    let started = Instant::now();

    let mut pid = None;
    let mut sandbox = Value::Null;
    let mut curve: Vec<(u64, u64)> = Vec::new();
    let (mut valid, mut invalid) = (0u64, 0u64);
    for i in 1..=n {
        let (payload, refusal) = if i == 1 {
            (json!({"workload": "env"}), None) // the cold start
        } else {
            mix(i)
        };
        let a = watch.invoke(&payload);
        match refusal {
            Some(error_type) => {
                invalid += 1;
                assert_eq!(a.status, 500, "#{i} {payload}: {:?}", a.body);
                assert_eq!(a.error_type(), Some(error_type), "#{i} {payload}");
            }
            None => {
                valid += 1;
                assert_eq!(a.status, 200, "#{i} {payload}: {:?}", a.body);
                let workload = payload["workload"].as_str().unwrap_or("env");
                assert_response_contract(&a.body, workload);
                assert_eq!(a.body["truncated"], false, "#{i} {payload}");
                let env = &a.body["environment"];
                // Every invocation that reached the handler counts, refused ones too.
                assert_eq!(env["invocation_index"], i, "#{i}");
                assert_eq!(env["cold_start"], i == 1, "#{i}");
                if i == 1 {
                    sandbox = env["sandbox_id"].clone();
                } else {
                    assert_eq!(env["sandbox_id"], sandbox, "#{i}: a new sandbox");
                }
            }
        }
        if i == 1 {
            pid = function_pid(watch.guard.child.id());
            assert!(pid.is_some(), "no lambda-probe process under the emulator");
        }
        let pid = pid.unwrap();
        if i == 1 || i % READ_EVERY == 0 {
            curve.push((i, status_bytes(pid, "VmRSS:")));
        }
    }
    let pid = pid.unwrap();
    let hwm = status_bytes(pid, "VmHWM:");
    assert_eq!(
        function_pid(watch.guard.child.id()),
        Some(pid),
        "the function process changed during the soak"
    );

    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let warm = curve.iter().find(|(i, _)| *i >= WARM_AFTER).unwrap().1;
    let end = curve.last().unwrap().1;
    let growth = end as i64 - warm as i64;
    let report = json!({
        "invocations": n,
        "valid": valid,
        "invalid": invalid,
        "seconds": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        "rss_bytes_every_100": curve.iter().map(|(i, b)| json!({"invocation": i, "rss_bytes": b})).collect::<Vec<_>>(),
        "rss_after_warm_up_bytes": warm,
        "rss_end_bytes": end,
        "growth_after_warm_up_bytes": growth,
        "vm_hwm_bytes": hwm,
    });
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("soak-rss.json");
    std::fs::write(&out, format!("{report:#}\n")).unwrap();
    eprintln!("soak: {n} invocations ({valid} valid, {invalid} invalid) in {:.1} s; RSS MiB every {READ_EVERY}: {}; growth after warm-up {:+.2} MiB; peak {:.1} MiB; {}",
        started.elapsed().as_secs_f64(),
        curve.iter().map(|(i, b)| format!("{i}:{:.2}", mib(*b))).collect::<Vec<_>>().join(" "),
        growth as f64 / (1 << 20) as f64,
        mib(hwm),
        out.display());
    assert!(
        growth < MAX_GROWTH_BYTES as i64,
        "RSS grew {growth} bytes after warm-up: {report}"
    );
}
