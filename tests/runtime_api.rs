//! End to end through the real Lambda Runtime API emulator (`cargo lambda watch`): every
//! bench payload (shrunk), malformed payloads, and the error contract.

mod common;

use common::{assert_response_contract, bench_payloads, shrink, Watch};
use serde_json::json;

#[test]
fn every_bench_payload_and_every_bad_one_through_the_emulator() {
    let watch = Watch::start(&[]);

    let first = watch.invoke(&json!({"workload": "env"}));
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_response_contract(&first.body, "env");
    let env = &first.body["environment"];
    assert_eq!(env["cold_start"], true);
    assert_eq!(env["invocation_index"], 1);
    // The emulator sets the memory size as Lambda does (4096 MB).
    assert!(env["memory_mb"].as_u64().is_some(), "{env}");
    let sandbox = env["sandbox_id"].clone();

    // io payloads need TABLE_NAME and a DynamoDB endpoint, which this emulator lacks on purpose:
    // tests/io.rs runs every io payload against moto (every_io_bench_payload_through_the_emulator).
    let payloads: Vec<_> = bench_payloads()
        .into_iter()
        .filter(|(_, p)| p["workload"] != "io")
        .collect();
    assert!(
        payloads.len() >= 4,
        "bench-payloads/ holds too few payloads"
    );
    for (i, (name, payload)) in payloads.into_iter().enumerate() {
        let workload = payload["workload"].as_str().unwrap().to_string();
        let a = watch.invoke(&shrink(payload));
        assert_eq!(a.status, 200, "{name}: {:?}", a.body);
        assert_response_contract(&a.body, &workload);
        let env = &a.body["environment"];
        assert_eq!(env["cold_start"], false, "{name}");
        assert_eq!(env["invocation_index"], i as u64 + 2, "{name}");
        assert_eq!(
            env["sandbox_id"], sandbox,
            "{name}: a warm sandbox keeps its id"
        );
        assert_eq!(a.body["truncated"], false, "{name}");
    }

    let pb = watch.invoke(&json!({"workload": "pbkdf2", "iterations": 1000, "threads": [1, 2]}));
    let levels = pb.body["summary"]["levels"].as_array().unwrap();
    assert_eq!(levels.len(), 2);
    assert_eq!(pb.body["samples"].as_array().unwrap().len(), 8);

    // Bad input: the function answers with a typed error (the emulator says 500; Lambda 200 +
    // X-Amz-Function-Error), and the sandbox survives it.
    for (payload, needle) in [
        (json!({"workload": "nope"}), "must be one of"),
        (json!({"workload": "pbkdf2", "iterations": 0}), "iterations"),
        (json!({"workload": "pbkdf2", "threads": [1, 0]}), "threads"),
        (json!({"workload": "pbkdf2", "colour": "red"}), "colour"),
        (json!({"workload": "pbkdf2", "hash": 5}), "hash"),
        (json!([1, 2, 3]), "JSON object"),
        (json!("pbkdf2"), "JSON object"),
    ] {
        let a = watch.invoke(&payload);
        assert_eq!(a.status, 500, "{payload}: {:?}", a.body);
        assert_eq!(
            a.error_type(),
            Some("InvalidPayload"),
            "{payload}: {:?}",
            a.body
        );
        let msg = a.body["errorMessage"].as_str().unwrap();
        assert!(msg.contains(needle), "{payload}: {msg}");
    }
    // io without its configuration says what to set; a bad io payload is refused before that.
    let io = watch.invoke(&json!({"workload": "io", "items": 1}));
    assert_eq!(io.status, 500, "{:?}", io.body);
    assert_eq!(io.error_type(), Some("NotConfigured"), "{:?}", io.body);
    let msg = io.body["errorMessage"].as_str().unwrap();
    assert!(msg.contains("TABLE_NAME"), "{msg}");
    let io = watch.invoke(&json!({"workload": "io", "concurrency": [1, 0]}));
    assert_eq!(io.error_type(), Some("InvalidPayload"), "{:?}", io.body);
    const IO_REFUSED: u64 = 2;

    // Not JSON at all never reaches the handler (real Lambda refuses it before invoking); the
    // runtime still answers with an error and the sandbox lives on.
    let a = watch.invoke_raw("{\"workload\":");
    assert_eq!(a.status, 500);
    assert!(a.error_type().is_some(), "{:?}", a.body);

    let last = watch.invoke(&json!({"log_result": false}));
    assert_eq!(last.status, 200);
    assert_eq!(
        last.body["environment"]["sandbox_id"], sandbox,
        "the process survived every bad payload"
    );
    // Invocations that reached the handler, less the 7 refused above and the io ones.
    let successes = last.body["environment"]["invocation_index"]
        .as_u64()
        .unwrap()
        - 7
        - IO_REFUSED;

    // The function's log (the emulator forwards its stdout, a moment later) holds one EMF record
    // per successful invocation and one full-result line for each that did not opt out.
    let count = |t: &str| {
        let log = watch.guard.log_text();
        log.lines()
            .filter_map(|l| {
                l.find('{')
                    .and_then(|i| serde_json::from_str::<serde_json::Value>(&l[i..]).ok())
            })
            .filter(|v| v["type"] == t)
            .count() as u64
    };
    let waited = std::time::Instant::now();
    while count("lambda-probe.metrics") < successes && waited.elapsed().as_secs() < 10 {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let log = watch.guard.log_text();
    assert_eq!(count("lambda-probe.metrics"), successes, "{log}");
    assert_eq!(count("lambda-probe.result"), successes - 1, "{log}");
    let emf: serde_json::Value = log
        .lines()
        .filter(|l| l.contains("lambda-probe.metrics") && l.contains("pbkdf2"))
        .find_map(|l| serde_json::from_str(&l[l.find('{').unwrap()..]).ok())
        .expect("an EMF record for pbkdf2");
    assert_eq!(
        emf["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "LambdaProbe"
    );
    assert_eq!(emf["MemoryMB"], "4096");
    assert!(emf["Pbkdf2Speedup"].is_number(), "{emf}");
}

/// Concurrent invocations through the Runtime API emulator, with AWS_LAMBDA_MAX_CONCURRENCY
/// asked for. cargo-lambda 1.9's `watch --concurrency N` runs up to N function *processes*, each
/// given AWS_LAMBDA_MAX_CONCURRENCY=1 (it overrides `--env-var`): it does not serve concurrent
/// invocations to one process the way Lambda Managed Instances does, so this checks the
/// run_concurrent door as the emulator can drive it: whatever processes answer, each one's
/// responses agree with each other (overlap counts recomputed from their windows), every
/// process has exactly one cold start and its own invocation count, and a process told to serve
/// one at a time never overlaps. (`tests/concurrency.rs` covers one process serving many.)
#[test]
fn concurrent_invocations_through_the_emulator_agree_per_process() {
    let watch = Watch::start_with(
        &["--concurrency", "3"],
        &[("AWS_LAMBDA_MAX_CONCURRENCY", "3")],
    );
    // The first invocation compiles and starts a process; then three at once.
    let warm = watch.invoke(&json!({"workload": "env"}));
    assert_eq!(warm.status, 200, "{:?}", warm.body);
    let payload = json!({"workload": "pbkdf2", "hash": "sha256", "iterations": 20000, "passwords": 1, "threads": [1]});
    let answers: Vec<serde_json::Value> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..3).map(|_| s.spawn(|| watch.invoke(&payload))).collect();
        calls.into_iter().map(|c| c.join().unwrap().body).collect()
    });
    let mut all = vec![warm.body];
    all.extend(answers);
    let mut by_sandbox: std::collections::BTreeMap<String, Vec<&serde_json::Value>> =
        Default::default();
    for r in &all {
        let workload = r["workload"].as_str().unwrap_or("?");
        assert_response_contract(r, workload);
        by_sandbox
            .entry(r["environment"]["sandbox_id"].as_str().unwrap().to_string())
            .or_default()
            .push(r);
    }
    for (sandbox, rs) in &by_sandbox {
        let mut indexes: Vec<u64> = rs
            .iter()
            .map(|r| r["environment"]["invocation_index"].as_u64().unwrap())
            .collect();
        indexes.sort();
        assert_eq!(
            indexes,
            (1..=rs.len() as u64).collect::<Vec<_>>(),
            "{sandbox}"
        );
        let cold = rs
            .iter()
            .filter(|r| r["environment"]["cold_start"] == true)
            .count();
        assert_eq!(cold, 1, "{sandbox}: one cold start per process");
        let windows: Vec<(f64, f64)> = rs
            .iter()
            .map(|r| {
                (
                    r["overlap"]["began_us"].as_f64().unwrap(),
                    r["overlap"]["ended_us"].as_f64().unwrap(),
                )
            })
            .collect();
        for (i, r) in rs.iter().enumerate() {
            let o = &r["overlap"];
            let reported = (
                o["others_at_start"].as_u64().unwrap() as u32,
                o["others_max"].as_u64().unwrap() as u32,
                o["others_total"].as_u64().unwrap() as u32,
            );
            assert_eq!(
                reported,
                common::implied_overlap(&windows, i),
                "{sandbox}: {o}"
            );
            let one_at_a_time = r["environment"]["max_concurrency"].as_u64().unwrap_or(1) <= 1;
            if one_at_a_time {
                assert_eq!(reported, (0, 0, 0), "{sandbox}: served one at a time: {o}");
            }
        }
    }
    eprintln!(
        "cargo lambda watch --concurrency 3: {} process(es), AWS_LAMBDA_MAX_CONCURRENCY as seen: {:?}",
        by_sandbox.len(),
        all.iter()
            .map(|r| r["environment"]["max_concurrency"].clone())
            .collect::<Vec<_>>()
    );
}
