//! The memory workloads, each run in a process of its own (page-fault counts are per process,
//! and the unit tests share theirs): exact new-page counts per mode, the memory guard, and the
//! end-to-end path through the Runtime API emulator.

mod common;

use common::{assert_response_contract, probe_cmd, run_probe_cmd, Watch, PROBE_LIMIT};
use serde_json::{json, Value};

/// Runs one payload through `lambda-probe run -` in a fresh process: (exit ok, JSON printed).
fn run_probe(payload: &Value, env: &[(&str, &str)]) -> (bool, Value) {
    let mut cmd = probe_cmd(&[]);
    cmd.env_remove("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        .envs(env.iter().copied());
    let r = run_probe_cmd(cmd, payload.to_string().as_bytes(), PROBE_LIMIT);
    (r.ok, r.body)
}

fn ok(payload: Value) -> Value {
    let (ok, r) = run_probe(&payload, &[]);
    assert!(ok, "{payload}: {r}");
    r
}

/// Transparent huge pages can map 2 MiB with one fault; counts are exact only without them.
fn thp_always(r: &Value) -> bool {
    r["environment"]["thp_mode"] == "always"
}

fn rows(r: &Value, pass: u64) -> Vec<Value> {
    r["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["pass"] == pass)
        .cloned()
        .collect()
}

fn column(rows: &[Value], key: &str) -> Vec<u64> {
    rows.iter().map(|s| s[key].as_u64().unwrap()).collect()
}

const BUFFERS: u64 = 20;
const MIB: u64 = 1 << 20;

fn alloc(mode: &str) -> Value {
    ok(
        json!({"workload": "alloc", "buffers": BUFFERS, "buffer_bytes": MIB, "passes": 3, "mode": mode}),
    )
}

#[test]
fn reuse_pass_two_faults_no_page_and_touches_no_new_page() {
    let r = alloc("reuse");
    assert_response_contract(&r, "alloc");
    let pages = MIB / r["environment"]["page_size_bytes"].as_u64().unwrap();
    let first = rows(&r, 1);
    assert_eq!(first.len() as u64, BUFFERS);
    // Pass 1 is a first touch: every buffer faults in at least its own pages (jemalloc's first
    // extent can add a few metadata pages) and covers exactly 256 never-touched 4 KiB pages.
    let f = column(&first, "new_pages");
    if !thp_always(&r) {
        assert!(f.iter().all(|&n| n >= pages), "pass 1 new_pages {f:?}");
    }
    assert!(
        column(&first, "never_touched_pages")
            .iter()
            .all(|&n| n == 256),
        "{first:?}"
    );
    for pass in [2, 3] {
        let rs = rows(&r, pass);
        assert_eq!(rs.len() as u64, BUFFERS);
        assert_eq!(
            column(&rs, "new_pages"),
            vec![0; BUFFERS as usize],
            "pass {pass}"
        );
        assert_eq!(
            column(&rs, "never_touched_pages"),
            vec![0; BUFFERS as usize],
            "pass {pass}"
        );
    }
    let passes = r["summary"]["passes"].as_array().unwrap();
    assert_eq!(passes[1]["new_pages_per_mib"], 0.0);
    // Reuse is faster than first touch, by a wide margin on any machine.
    let p1 = passes[0]["us_per_mib_median"].as_f64().unwrap();
    let p2 = passes[1]["us_per_mib_median"].as_f64().unwrap();
    assert!(p2 < p1, "pass 2 {p2} µs/MiB not below pass 1 {p1}");
    // jemalloc held the buffers, then kept their pages resident after the free.
    let held = &passes[1]["jemalloc_held"];
    assert!(
        held["allocated_bytes"].as_u64().unwrap() >= BUFFERS * MIB,
        "{held}"
    );
    let freed = &passes[1]["jemalloc_freed"];
    assert!(
        freed["resident_bytes"].as_u64().unwrap() >= BUFFERS * MIB,
        "{freed}"
    );
    let j = &r["summary"]["jemalloc"];
    // The settings that make this so (.cargo/config.toml and the Cargo feature) are built in.
    assert_eq!(j["cache_oblivious"], false, "{j}");
    assert_eq!(j["dirty_decay_ms"], -1, "{j}");
    let conf = j["malloc_conf"].as_str().unwrap();
    assert!(conf.contains("lg_extent_max_active_fit:63"), "{j}");
}

/// Past ~300 MiB freed buffers coalesce into extents more than 64× a buffer, which jemalloc by
/// default will not split for one (`lg_extent_max_active_fit`): 500 × 1 MiB then faults ~41
/// new pages per MiB on pass 2. The compiled-in settings lift that cap.
#[test]
fn reuse_holds_for_hundreds_of_mib() {
    let buffers = 600;
    let r = ok(json!({"workload": "alloc", "buffers": buffers, "buffer_bytes": MIB, "passes": 2}));
    let second = rows(&r, 2);
    assert_eq!(second.len(), buffers);
    let faulted: Vec<&Value> = second.iter().filter(|s| s["new_pages"] != 0).collect();
    assert!(
        faulted.is_empty(),
        "{} buffers faulted: {:?}",
        faulted.len(),
        &faulted[..faulted.len().min(5)]
    );
}

#[test]
fn fresh_and_mmap_fault_every_page_of_every_pass() {
    for mode in ["fresh", "mmap"] {
        let r = alloc(mode);
        assert_response_contract(&r, "alloc");
        assert_eq!(r["summary"]["mode"], mode);
        let pages = MIB / r["environment"]["page_size_bytes"].as_u64().unwrap();
        for pass in [1, 2, 3] {
            let n = column(&rows(&r, pass), "new_pages");
            assert_eq!(n.len() as u64, BUFFERS);
            if thp_always(&r) {
                // One huge-page fault can map 512 pages: only an upper bound holds.
                assert!(
                    n.iter().all(|&n| n <= pages + 8),
                    "{mode} pass {pass}: {n:?}"
                );
            } else if pass == 1 {
                // First touches of jemalloc's metadata and of code pages add a few faults.
                assert!(
                    n.iter().all(|&n| (pages..=pages + 8).contains(&n)),
                    "{mode} pass {pass}: {n:?}"
                );
            } else {
                assert_eq!(n, vec![pages; BUFFERS as usize], "{mode} pass {pass}");
            }
        }
        let passes = r["summary"]["passes"].as_array().unwrap();
        assert!(passes[1]["new_pages_per_mib"].as_f64().unwrap() >= 256.0 - 0.01);
        if mode == "fresh" {
            // The purge keeps the address range: pass 2 refaults the very same virtual pages.
            assert_eq!(
                column(&rows(&r, 2), "never_touched_pages"),
                vec![0; BUFFERS as usize]
            );
            let freed = &passes[0]["jemalloc_freed"];
            assert!(
                freed["resident_bytes"].as_u64().unwrap() < BUFFERS * MIB / 2,
                "purged pages are not resident: {freed}"
            );
        }
    }
}

#[test]
fn memset_repaints_without_faults_and_first_touch_faults_every_page() {
    let bytes = 8 * MIB;
    let r = ok(json!({"workload": "memset", "bytes": bytes, "repeats": 4}));
    assert_response_contract(&r, "memset");
    let pages = bytes / r["environment"]["page_size_bytes"].as_u64().unwrap();
    let s = &r["summary"];
    let n = column(r["samples"].as_array().unwrap(), "new_pages");
    assert_eq!(n, vec![0; 4]);
    if !thp_always(&r) {
        assert_eq!(s["warmup_new_pages"], pages);
    }
    assert!(s["gb_per_s_median"].as_f64().unwrap() > 0.0);

    let r = ok(json!({"workload": "memset", "bytes": bytes, "repeats": 4, "first_touch": true}));
    let n = column(r["samples"].as_array().unwrap(), "new_pages");
    if !thp_always(&r) {
        assert_eq!(n, vec![pages; 4]);
    }
    assert_eq!(r["summary"]["warmup_us"], Value::Null);
}

/// The largest value the guard names for `field` in an OverBudget message.
fn largest_in(message: &str, field: &str) -> u64 {
    let key = format!("`{field}` ≤ ");
    let at = message
        .find(&key)
        .unwrap_or_else(|| panic!("no {key:?} in {message}"));
    message[at + key.len()..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn the_guard_refuses_what_does_not_fit_and_names_what_does() {
    let small = [("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")];
    let (okay, e) = run_probe(
        &json!({"workload": "alloc", "buffers": 200, "buffer_bytes": MIB}),
        &small,
    );
    assert!(!okay);
    assert_eq!(e["errorType"], "OverBudget", "{e}");
    let msg = e["errorMessage"].as_str().unwrap();
    for part in [
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "128.0 MiB",
        "safety margin",
        "usable",
    ] {
        assert!(msg.contains(part), "{part:?} not in {msg}");
    }
    let buffers = largest_in(msg, "buffers");
    assert!((50..200).contains(&buffers), "{msg}");
    let buffer_bytes = largest_in(msg, "buffer_bytes");
    assert!(
        buffer_bytes < MIB && buffer_bytes.is_multiple_of(4096),
        "{msg}"
    );

    // The largest value it names does run (its footprint may move by a page between two
    // processes, so one less is the most it may then say), and a little more does not.
    let (okay, r) = run_probe(
        &json!({"workload": "alloc", "buffers": buffers, "buffer_bytes": MIB, "passes": 1}),
        &small,
    );
    if !okay {
        assert_eq!(
            largest_in(r["errorMessage"].as_str().unwrap(), "buffers"),
            buffers - 1
        );
    } else {
        assert_eq!(r["summary"]["passes"][0]["buffers_done"], buffers);
        assert_eq!(r["summary"]["memory_budget"]["memory_bytes"], 128 * MIB);
    }
    let (okay, r) = run_probe(
        &json!({"workload": "alloc", "buffers": buffers + 2, "buffer_bytes": MIB, "passes": 1}),
        &small,
    );
    assert!(!okay && r["errorType"] == "OverBudget", "{r}");

    let (okay, e) = run_probe(&json!({"workload": "memset", "bytes": 256 * MIB}), &small);
    assert!(!okay);
    assert_eq!(e["errorType"], "OverBudget", "{e}");
    let bytes = largest_in(e["errorMessage"].as_str().unwrap(), "bytes");
    assert!(bytes > 64 * MIB && bytes < 128 * MIB, "{e}");
    let (okay, r) = run_probe(
        &json!({"workload": "memset", "bytes": bytes - MIB, "repeats": 1}),
        &small,
    );
    assert!(okay, "{r}");
}

#[test]
fn memory_workloads_through_the_runtime_api_emulator() {
    let watch = Watch::start(&[("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")]);
    let a = watch.invoke(&json!({"workload": "alloc", "buffers": 10, "passes": 2}));
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_response_contract(&a.body, "alloc");
    assert_eq!(
        a.body["environment"]["memory_mb"], 256,
        "{}",
        a.body["environment"]
    );
    assert_eq!(column(&rows(&a.body, 2), "new_pages"), vec![0; 10]);

    let m = watch.invoke(&json!({"workload": "memset", "bytes": 4 * MIB, "repeats": 2}));
    assert_eq!(m.status, 200, "{:?}", m.body);
    assert_response_contract(&m.body, "memset");

    let big = watch.invoke(&json!({"workload": "alloc", "buffers": 300}));
    assert_eq!(big.error_type(), Some("OverBudget"), "{:?}", big.body);
    let big = watch.invoke(&json!({"workload": "memset", "bytes": 1u64 << 30}));
    assert_eq!(big.error_type(), Some("OverBudget"), "{:?}", big.body);
    let bad = watch.invoke(&json!({"workload": "alloc", "mode": "lazy"}));
    assert_eq!(bad.error_type(), Some("InvalidPayload"), "{:?}", bad.body);

    // The sandbox survived every refusal.
    let again = watch.invoke(&json!({"workload": "alloc", "buffers": 4, "mode": "mmap"}));
    assert_eq!(again.status, 200, "{:?}", again.body);
}
